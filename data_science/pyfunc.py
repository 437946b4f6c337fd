"""The MLflow pyfunc: raw booking fields in, one answer per booking out.

Its per-call work is the platform's scoring path and nothing more: ``CancellationModel.answer``
(the one validator, so it accepts and refuses exactly what the API and ``predict-batch`` do, the
transformation, the booster, the calibration and the threshold). Each booking may carry the
hotel's ``booking_id`` and the ``as_of`` day to judge it as of (default: its booking date); the
answer echoes both, with ``cancel_probability`` and ``will_cancel``. MLflow's own xgboost flavour
would need the encoded features; this takes what a hotel system has.

The registered model carries the code it imports (``code_paths``: only the modules this file
needs, found by importing it) and pins its requirements, so ``mlflow models serve`` runs it
from any folder, in a virtualenv holding nothing but the model's ``requirements.txt``.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Imported from where they are defined: type checkers cannot see through mlflow's lazy
# `mlflow.pyfunc` attribute.
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, COLUMNS_BY_NAME, VOCABULARY_FILE
from data_engineering.src.validate import frame_to_columns
from data_science.model import CancellationModel
from data_science.tracking import BUNDLE_ARTIFACT

PACKAGES = ("data_engineering", "data_science")
# What the code above imports, pinned to the versions it was trained and tested with
# (pydantic-settings: the column spec reads HOTEL_VOCABULARY through the platform's settings).
REQUIREMENTS = ("mlflow", "xgboost-cpu", "numpy", "pandas", "pyarrow", "pyyaml", "pydantic-settings")


class InvalidBookingsError(ValueError):
    pass


class HotelCancellationPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.model = CancellationModel.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        # Every booking field (an absent one is missing), and the optional fields the frame has.
        names = [name for name in COLUMNS_BY_NAME if name in BOOKING_FIELDS or name in frame]
        answers = self.model.answer(frame_to_columns(frame, names))
        if len(answers.rejected):
            raise InvalidBookingsError(
                f"{len(answers.rejected)} invalid booking(s); first at row {int(answers.rejected[0])}: "
                f"{answers.refusals()[0]}"
            )
        return pd.DataFrame(
            {
                BOOKING_ID: answers.booking_id,
                AS_OF: np.datetime_as_string(answers.as_of, unit="D"),
                "cancel_probability": answers.probability,
                "will_cancel": answers.will_cancel,
            }
        )


def _module_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (at the top or inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def code_bundle(target: Path, vocabulary: Path) -> list[str]:
    """Copy the project modules this file imports, transitively, to ``target`` (for ``code_paths``).

    Followed from this module's imports, so the bundle is what the pyfunc needs and nothing of
    the API, the dashboards, the database layer or the tests. ``vocabulary`` (the model's
    ``vocabulary.yaml``) becomes the bundle's default vocabulary file.
    """
    root = Path(__file__).resolve().parents[1]
    pending, seen = [__name__], set()
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # the module and every package above it
            module = ".".join(parts[:depth])
            path = _module_file(root, module)
            if path is None or path in seen:
                continue
            seen.add(path)
            pending.extend(n for n in _imported(path) if n.split(".")[0] in PACKAGES)
    for source in seen:
        destination = target / source.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    # The vocabulary the model was trained with, where the column spec reads it by default: the
    # model served on its own (`mlflow models serve`) validates its hotels' bookings without
    # HOTEL_VOCABULARY.
    shutil.copy2(vocabulary, target / VOCABULARY_FILE.relative_to(root))
    return [str(target / package) for package in PACKAGES]
