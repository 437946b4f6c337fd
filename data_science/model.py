"""The trained model as one object: booster + feature encoder + calibration + threshold.

Everything that turns a booking into a probability lives here and is shared by batch scoring,
the MLflow pyfunc and the API, so the three cannot disagree:

    probability = sigmoid(a * margin + b)

where ``margin`` is the booster's raw output on the encoded v2 features and ``(a, b)`` the Platt
calibration learned on the validation window ((1, 0) when calibration is off).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from data_engineering.transformation import get_transformation
from data_engineering.transformation.encoding import FeatureEncoder

BOOSTER_FILE = "booster.ubj"
ENCODER_FILE = "encoder.json"
META_FILE = "model_meta.json"


@dataclass
class CancellationModel:
    booster: xgb.Booster
    encoder: FeatureEncoder
    threshold: float = 0.5
    calibration: tuple[float, float] = (1.0, 0.0)
    transformation: str = "v2"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._transformation = get_transformation(self.transformation)
        self.booster.feature_names = self.encoder.feature_names

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / BOOSTER_FILE)
        (directory / ENCODER_FILE).write_text(self.encoder.to_json())
        meta = {
            "threshold": self.threshold,
            "calibration": list(self.calibration),
            "transformation": self.transformation,
            "feature_names": self.encoder.feature_names,
            **self.metadata,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path, *, nthread: int | None = None) -> CancellationModel:
        meta = json.loads((directory / META_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(directory / BOOSTER_FILE)
        if nthread is not None:
            # One thread for single-row scoring: spinning up a thread pool costs more than the trees.
            booster.set_param({"nthread": nthread})
        encoder = FeatureEncoder.from_json((directory / ENCODER_FILE).read_text())
        known = {"threshold", "calibration", "transformation", "feature_names"}
        return cls(
            booster=booster,
            encoder=encoder,
            threshold=float(meta["threshold"]),
            calibration=tuple(meta["calibration"]),
            transformation=meta["transformation"],
            metadata={k: v for k, v in meta.items() if k not in known},
        )

    # ------------------------------------------------------------------ scoring
    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * margin.astype(np.float64) + b)))

    def margin_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(matrix, predict_type="margin", validate_features=False)

    def features_frame(self, valid: pd.DataFrame) -> np.ndarray:
        """Encoded features of validated bookings (typed columns, as ``validate_raw`` returns)."""
        return self.encoder.encode_frame(self._transformation.transform_frame(valid))

    def predict_frame(self, valid: pd.DataFrame) -> np.ndarray:
        """Cancellation probabilities of validated bookings, in order."""
        if valid.empty:
            return np.empty(0, dtype=np.float64)
        return self.calibrate(self.margin_matrix(self.features_frame(valid)))

    def features_record(self, booking: Mapping[str, Any]) -> np.ndarray:
        return self.encoder.encode_record(self._transformation.transform_record(booking))

    def features_many(self, bookings: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encoded features of many bookings (Python values, as the API validated them)."""
        if self._transformation.transform_columns is None:
            return np.vstack([self.features_record(b) for b in bookings])
        return self.encoder.encode_columns(self._transformation.transform_columns(bookings))

    def predict_record(self, booking: Mapping[str, Any]) -> float:
        """One booking (raw field names, Python values): the API's path, no pandas."""
        margin = float(self.margin_matrix(self.features_record(booking))[0])
        a, b = self.calibration
        return 1.0 / (1.0 + math.exp(-(a * margin + b)))

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names
