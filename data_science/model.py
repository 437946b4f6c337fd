"""The trained model as one object: transformation + encoder + booster + calibration + threshold.

``CancellationModel.predict`` is the only code that turns bookings into probabilities: the API,
``predict-batch``, ``score-db``, the MLflow pyfunc, evaluation, the champion gate and the
benchmarks all call it, so they cannot disagree:

    features    = transformation(bookings)            (data_engineering.transformation)
    margin      = booster(encoder(features))           (raw log-odds)
    probability = sigmoid(a * margin + b)              (Platt calibration; (1, 0) when off)

It takes validated bookings as columns (``data_engineering.src.validate``), one booking being a
batch of one, and, when asked, each feature's contribution to the margin (exact TreeSHAP).

The model also records the vocabulary (``data_engineering/vocabulary.yaml`` or the file
``HOTEL_VOCABULARY`` names) its training bookings were validated with, as ``vocabulary.yaml`` in
its folder: its encoder knows only those categories, so bookings checked against another
vocabulary would be refused (its hotels are not in it) or scored with every category "unseen".
``load`` refuses a model whose vocabulary is not the one in use, naming both; the MLflow pyfunc
carries the model's as its default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from data_engineering.src.schema import (
    VOCABULARIES,
    VOCABULARY,
    VOCABULARY_ENV,
    VOCABULARY_FILE,
    VocabularyFileError,
    dump_vocabulary,
    load_vocabulary,
    vocabulary_in_use,
)
from data_engineering.transformation import get_transformation
from data_engineering.transformation.encoding import FeatureEncoder
from data_engineering.transformation.v1 import Columns
from data_science.integrity import booster_problem, record
from data_science.treeshap import TreeExplainer, UnsupportedBoosterError

BOOSTER_FILE = "booster.ubj"
ENCODER_FILE = "encoder.json"
META_FILE = "model_meta.json"
PROFILE_FILE = "profile.json"  # the training data's distributions: the drift reference
VOCABULARY_NAME = "vocabulary.yaml"  # the categories the training bookings were validated with
SHOWN_VALUES = 5  # per side, in the message of a vocabulary mismatch
_KNOWN_META = {"threshold", "calibration", "transformation", "feature_names"}


class ModelBundleError(ValueError):
    """A saved model's parts do not belong together."""


class VocabularyMismatchError(ModelBundleError):
    """The model was trained with other categories than the ones bookings are validated with here."""


@dataclass(frozen=True)
class Scores:
    """What ``predict`` returns for n bookings."""

    probability: np.ndarray  # (n,) calibrated cancellation probabilities
    margin: np.ndarray  # (n,) the booster's raw log-odds
    features: dict[str, np.ndarray]  # the transformed bookings (to put reasons into words)
    contributions: np.ndarray | None  # (n, d + 1) per-feature shares of the margin, bias last


@dataclass
class CancellationModel:
    booster: xgb.Booster
    encoder: FeatureEncoder
    threshold: float = 0.5
    calibration: tuple[float, float] = (1.0, 0.0)
    transformation: str = "v2"
    metadata: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    # Vocabulary name -> categories: by default the column spec's, which validated the training rows.
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(VOCABULARY))
    _explainer: TreeExplainer | None = field(default=None, init=False, repr=False)
    _too_deep_for_tables: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._transform = get_transformation(self.transformation).transform
        trained_on = self.booster.feature_names
        # The booster keeps the feature names it was trained on: they must be the encoder's
        # columns, in order, or every prediction would read the wrong feature.
        if trained_on is not None and list(trained_on) != self.encoder.feature_names:
            raise ModelBundleError(
                f"the booster was trained on {list(trained_on)}, the encoder makes {self.encoder.feature_names}"
            )

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    # ------------------------------------------------------------------ scoring
    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * margin.astype(np.float64) + b)))

    def predict(self, bookings: Columns, *, reasons: bool = False) -> Scores:
        """Score validated bookings (columns); ``reasons`` adds per-feature contributions."""
        features = self._transform(bookings)
        matrix = self.encoder.encode(features)
        if not len(matrix):
            empty = np.empty(0, dtype=np.float64)
            return Scores(empty, empty, features, np.empty((0, matrix.shape[1] + 1)) if reasons else None)
        margin = self.booster.inplace_predict(matrix, predict_type="margin", validate_features=False)
        contributions = self.contributions(matrix) if reasons else None
        return Scores(self.calibrate(margin), margin, features, contributions)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions of encoded rows (the bias last).

        From precomputed tables (``data_science.treeshap``), several times cheaper than
        XGBoost's own walk; boosters too deep for the tables use XGBoost's ``pred_contribs``.
        """
        explainer = self.explainer()
        if explainer is not None:
            return explainer.contributions(matrix)
        data = xgb.DMatrix(matrix, nthread=1 if len(matrix) < 1_000 else -1)
        return self.booster.predict(data, pred_contribs=True, validate_features=False)

    def explainer(self) -> TreeExplainer | None:
        """The contribution tables, built on first use (about a second for the champion)."""
        if self._explainer is None and not self._too_deep_for_tables:
            try:
                self._explainer = TreeExplainer(self.booster)
            except UnsupportedBoosterError:
                self._too_deep_for_tables = True
        return self._explainer

    def decisions(self, probability: np.ndarray) -> np.ndarray:
        """1 where the booking is predicted to cancel (probability >= the model's threshold)."""
        return (probability >= self.threshold).astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / BOOSTER_FILE)
        record(directory / BOOSTER_FILE)  # checked by load before XGBoost reads the file
        (directory / ENCODER_FILE).write_text(self.encoder.to_json())
        meta = {
            "threshold": self.threshold,
            "calibration": list(self.calibration),
            "transformation": self.transformation,
            "feature_names": self.encoder.feature_names,
            **self.metadata,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if self.profile is not None:
            (directory / PROFILE_FILE).write_text(json.dumps(self.profile, indent=1, sort_keys=True) + "\n")
        (directory / VOCABULARY_NAME).write_text(
            dump_vocabulary(
                self.vocabulary, ["The categories this model's training bookings were validated with."]
            ),
            encoding="utf-8",
        )

    @classmethod
    def load(
        cls, directory: Path, *, nthread: int | None = None, check_vocabulary: bool = True
    ) -> CancellationModel:
        """The model saved in ``directory``; unless told not to, refuses one trained with another
        vocabulary than the one in use (``VocabularyMismatchError``, saying which file to use)."""
        meta = json.loads((directory / META_FILE).read_text())
        if (
            problem := booster_problem(directory / BOOSTER_FILE)
        ) is not None:  # a damaged file crashes XGBoost
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
        model = cls(
            booster=booster,
            encoder=encoder,
            threshold=float(meta["threshold"]),
            calibration=tuple(meta["calibration"]),
            transformation=meta["transformation"],
            metadata={k: v for k, v in meta.items() if k not in _KNOWN_META},
            profile=json.loads(profile_path.read_text()) if profile_path.exists() else None,
            vocabulary=vocabulary,
        )
        if check_vocabulary:
            model.check_vocabulary()
        return model

    # ------------------------------------------------------------------ vocabulary
    def vocabulary_differences(self) -> list[str]:
        """The vocabularies whose categories differ from the ones in use (order does not matter)."""
        return [name for name in VOCABULARIES if set(self.vocabulary[name]) != set(VOCABULARY[name])]

    def check_vocabulary(self) -> None:
        """Raise ``VocabularyMismatchError`` unless bookings here are validated with the training vocabulary.

        A hotel name or room code the model never saw would be refused by the validator, or let
        through and scored as an unseen category: either way every prediction would be wrong.
        """
        differences = self.vocabulary_differences()
        if not differences:
            return
        name = differences[0]
        others = f" (and {len(differences) - 1} more vocabularies differ)" if len(differences) > 1 else ""
        trained_with = self.metadata.get("vocabulary", {}).get("file", "its vocabulary.yaml")
        raise VocabularyMismatchError(
            f"the model was trained with another vocabulary than the one in use, {vocabulary_in_use()}: "
            f"{name} {_values(self.vocabulary[name])} in the model, {_values(VOCABULARY[name])} in use"
            f"{others}. Set {VOCABULARY_ENV} to the file it was trained with ({trained_with}; the model "
            f"carries a copy: {VOCABULARY_NAME} in models/model/ after training, and among the "
            "registered model's artifacts)"
        )


def _values(values: tuple[str, ...]) -> str:
    shown = sorted(values)[:SHOWN_VALUES]
    more = f" and {len(values) - SHOWN_VALUES} more" if len(values) > SHOWN_VALUES else ""
    return ", ".join(shown) + more
