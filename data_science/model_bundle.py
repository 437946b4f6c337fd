"""A trained model's folder: booster, encoder, metadata, training profile and vocabulary.

``CancellationModel.save`` and ``.load`` read and write one head's files through this module; an
as-of model keeps its at-booking head in ``at_booking/`` beside them, saved the same way. The
booster's checksum is recorded on save and checked on load, before XGBoost reads the file (a
damaged one crashes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xgboost as xgb

from data_engineering.src.schema import VOCABULARY_FILE, VocabularyFileError, dump_vocabulary, load_vocabulary
from data_engineering.transformation.encoding import FeatureEncoder
from data_science.artifacts import json_text
from data_science.integrity import booster_problem, record

if TYPE_CHECKING:
    from data_science.model import CancellationModel

BOOSTER_FILE = "booster.ubj"
ENCODER_FILE = "encoder.json"
META_FILE = "model_meta.json"
PROFILE_FILE = "profile.json"  # the training data's distributions: the drift reference
VOCABULARY_NAME = "vocabulary.yaml"  # the categories the training bookings were validated with
AT_BOOKING_DIR = "at_booking"  # the at-booking head of an as-of model, saved the same way
_KNOWN_META = {"threshold", "calibration", "transformation", "feature_names"}


class ModelBundleError(ValueError):
    """A saved model's parts do not belong together."""


class VocabularyMismatchError(ModelBundleError):
    """The model was trained with other categories than the ones bookings are validated with here."""


def write_bundle(model: CancellationModel, directory: Path) -> None:
    """One head's files in ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(directory / BOOSTER_FILE)
    record(directory / BOOSTER_FILE)  # checked by read_bundle before XGBoost reads the file
    (directory / ENCODER_FILE).write_text(model.encoder.to_json())
    meta = {
        "threshold": model.threshold,
        "calibration": list(model.calibration),
        "transformation": model.transformation,
        "feature_names": model.encoder.feature_names,
        **model.metadata,
    }
    (directory / META_FILE).write_text(json_text(meta, sort_keys=True))  # numbers rounded: artifacts.py
    if model.profile is not None:
        (directory / PROFILE_FILE).write_text(json.dumps(model.profile, indent=1, sort_keys=True) + "\n")
    (directory / VOCABULARY_NAME).write_text(
        dump_vocabulary(
            model.vocabulary, ["The categories this model's training bookings were validated with."]
        ),
        encoding="utf-8",
    )


def read_bundle(directory: Path, *, nthread: int | None = None) -> dict[str, Any]:
    """One head's parts from ``directory``: the ``CancellationModel`` fields but its at-booking head."""
    meta = json.loads((directory / META_FILE).read_text())
    if (problem := booster_problem(directory / BOOSTER_FILE)) is not None:  # a damaged file crashes XGBoost
        raise ModelBundleError(problem)
    booster = xgb.Booster()
    booster.load_model(directory / BOOSTER_FILE)
    if nthread is not None:
        # One thread for single-row scoring: spinning up a thread pool costs more than the trees.
        booster.set_param({"nthread": nthread})
    encoder = FeatureEncoder.from_json((directory / ENCODER_FILE).read_text())
    profile_path = directory / PROFILE_FILE
    # Models saved before they recorded a vocabulary were trained with the public dataset's.
    recorded = directory / VOCABULARY_NAME
    try:
        vocabulary = load_vocabulary(recorded if recorded.exists() else VOCABULARY_FILE)
    except VocabularyFileError as exc:
        raise ModelBundleError(f"the model in {directory}: {exc}") from None
    return {
        "booster": booster,
        "encoder": encoder,
        "threshold": float(meta["threshold"]),
        "calibration": tuple(meta["calibration"]),
        "transformation": meta["transformation"],
        "metadata": {k: v for k, v in meta.items() if k not in _KNOWN_META},
        "profile": json.loads(profile_path.read_text()) if profile_path.exists() else None,
        "vocabulary": vocabulary,
    }
