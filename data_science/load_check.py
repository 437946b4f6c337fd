"""Can a registered version be served? Asked before the ``champion`` alias moves to it.

``load_registered`` is how every server loads a model from the registry (the API's start-up,
its champion watcher and ``/admin/reload``): download, the booster's checksum, the bundle, the
TreeSHAP tables. ``check(uri)`` runs exactly that in a child process and scores the input
example MLflow stored with the version, so that a version whose files are missing or damaged,
or that crashes XGBoost, fails there, with its reason, and never in the process that asked.

``python -m data_science.load_check URI`` is the child: it prints one JSON line
(``{"version": ..., "rows": ...}``) and exits 0, or prints one line of reason on stderr and exits 1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_engineering.src.environment import child_environment
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.tracking import ModelLoadError, NoModelError, ResolvedModel, resolve

TIMEOUT_SECONDS = 600.0


class ExampleError(ValueError):
    """The version cannot score the input example registered with it."""


@dataclass(frozen=True)
class LoadCheck:
    uri: str
    passed: bool
    reason: str  # why it failed, or what was checked
    rows: int = 0  # input-example bookings scored
    seconds: float = 0.0


def load_registered(
    uri: str | None, dst: Path, *, nthread: int | None = None
) -> tuple[ResolvedModel, CancellationModel]:
    """Download the model ``uri`` names into ``dst`` and load it as a server serves it."""
    resolved = resolve(uri, dst=dst)
    try:
        model = CancellationModel.load(resolved.local_dir, nthread=nthread)
    except ModelBundleError as exc:  # damaged, or trained with another vocabulary: say which version
        version = None if resolved.version is None else str(resolved.version)
        raise ModelLoadError(f"{resolved.label}: {exc}", version) from exc
    model.explainer()  # the contribution tables, built before the first request needs them
    return resolved, model


def score_example(resolved: ResolvedModel, model: CancellationModel) -> int:
    """Score the input example stored with the MLflow model; returns how many bookings it held."""
    from mlflow.models import Model

    from data_engineering.src.schema import BOOKING_FIELDS
    from data_engineering.src.validate import frame_to_columns, validate

    folder = None if resolved.model_dir is None else str(resolved.model_dir)
    # Annotated by MLflow as text; it is the logged example (a DataFrame for this pyfunc).
    example: object = Model.load(folder).load_input_example(folder) if folder is not None else None
    if not isinstance(example, pd.DataFrame):
        raise ExampleError("it was registered without an input example (a table of bookings) to score")
    validated = validate(frame_to_columns(example, BOOKING_FIELDS), BOOKING_FIELDS)
    if len(validated.rejected):
        raise ExampleError(
            f"its input example has {len(validated.rejected)} booking(s) its own validator refuses: "
            f"{validated.reasons[0]}"
        )
    probability = model.predict(validated.columns).probability
    if not len(probability) or not np.all((probability >= 0) & (probability <= 1)):
        raise ExampleError(f"it scored its input example outside [0, 1]: {probability[:5].tolist()}")
    return len(probability)


def check(uri: str, *, timeout: float = TIMEOUT_SECONDS) -> LoadCheck:
    """Load ``uri`` in a child process as a server would, and score its input example."""
    started = time.perf_counter()
    try:
        child = subprocess.run(
            [sys.executable, "-m", "data_science.load_check", uri],
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return LoadCheck(uri, False, f"loading it took more than {timeout:g} s", 0, timeout)
    seconds = time.perf_counter() - started
    if child.returncode == 0:
        answer = json.loads(child.stdout.strip().splitlines()[-1])
        rows = int(answer["rows"])
        return LoadCheck(
            uri, True, f"loaded as a server loads it; scored its {rows} example bookings", rows, seconds
        )
    if child.returncode < 0:
        reason = f"loading it crashed the process ({signal.Signals(-child.returncode).name})"
    else:
        lines = child.stderr.strip().splitlines()
        reason = lines[-1].removeprefix("load-check: ") if lines else f"exit {child.returncode}"
    return LoadCheck(uri, False, reason, 0, seconds)


class PromotionRefusedError(RuntimeError):
    """A version was registered but cannot be served: no alias moved to it."""


def promotion_refusal(version: str) -> PromotionRefusedError | None:
    """Check a just-registered version before an alias moves to it; record the outcome on the
    active MLflow run (tag ``load_check``). Returns the error to raise when it cannot be served."""
    import mlflow

    from data_science.tracking import MODEL_NAME

    result = check(f"models:/{MODEL_NAME}/{version}")
    outcome = "passed" if result.passed else "failed"
    mlflow.set_tags({"load_check": f"{outcome} in {result.seconds:.1f} s: {result.reason}"})
    if result.passed:
        return None
    mlflow.set_tags({"alias_decision": f"none (version {version} cannot be served: {result.reason})"})
    return PromotionRefusedError(
        f"registered {MODEL_NAME} version {version}, but it cannot be loaded back as a server loads it "
        f"({result.reason}): no alias moved to it, the champion is unchanged"
    )


def main(argv: list[str] | None = None) -> int:
    (uri,) = argv if argv is not None else sys.argv[1:]
    try:
        with tempfile.TemporaryDirectory(prefix="load-check-") as tmp:
            resolved, model = load_registered(uri, Path(tmp), nthread=1)
            rows = score_example(resolved, model)
    except (NoModelError, ModelBundleError, ExampleError) as exc:
        print(f"load-check: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"uri": uri, "version": resolved.version, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
