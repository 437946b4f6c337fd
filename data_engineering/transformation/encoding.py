"""Model inputs: how a transformation's feature columns become a float matrix.

Categorical columns become ordinal codes ordered by their (smoothed) cancellation rate in the
*training* rows, so one split on the code separates high- and low-risk categories; categories
unseen in training become NaN, which XGBoost routes down its learned default branch. The codes
are learned once by ``FeatureEncoder.fit`` and saved with the model; ``encode`` turns any number
of transformed bookings into rows, one booking being a batch of one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.arrays import lookup
from data_engineering.src.schema import LEAKY_COLUMNS, TARGET
from data_engineering.transformation.v1 import column

# Never model inputs, whatever a transformation declares: identifiers, the target, the outcome
# and post-booking facts.
FORBIDDEN: frozenset[str] = frozenset({"booking_id", TARGET, *LEAKY_COLUMNS})


class LeakyFeatureError(ValueError):
    """A feature list names the target, an outcome or a post-booking column."""


@dataclass
class FeatureEncoder:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    codes: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        leaky = FORBIDDEN & {*self.numeric, *self.categorical}
        if leaky:
            raise LeakyFeatureError(f"not booking-time features: {', '.join(sorted(leaky))}")

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def fit(
        cls,
        features: Mapping[str, Any],
        target: np.ndarray,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        smoothing: float = 20.0,
    ) -> FeatureEncoder:
        """Learn category codes from training rows only (never from the rows scored later)."""
        target = np.asarray(target, dtype=np.float64)
        prior = float(target.mean())
        codes: dict[str, dict[str, int]] = {}
        for name in categorical:
            stats = pd.Series(target).groupby(column(features, name, object)).agg(["sum", "count"])
            rate = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
            # Ties broken by name so the codes are the same on every run.
            ordered = sorted(rate.items(), key=lambda item: (item[1], item[0]))
            codes[name] = {category: code for code, (category, _) in enumerate(ordered)}
        return cls(tuple(numeric), tuple(categorical), codes)

    def encode(self, features: Mapping[str, Any]) -> np.ndarray:
        """(n, d) float32 matrix in ``feature_names`` order."""
        first = self.numeric[0] if self.numeric else self.categorical[0]
        matrix = np.empty((len(features[first]), len(self.feature_names)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            matrix[:, j] = column(features, name, np.float64)
        for j, name in enumerate(self.categorical, start=len(self.numeric)):
            matrix[:, j] = lookup(column(features, name, object), self.codes[name], np.nan)
        return matrix

    def to_json(self) -> str:
        return json.dumps(
            {"numeric": list(self.numeric), "categorical": list(self.categorical), "codes": self.codes},
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureEncoder:
        data = json.loads(text)
        return cls(tuple(data["numeric"]), tuple(data["categorical"]), data["codes"])
