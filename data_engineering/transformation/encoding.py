"""Model inputs: which v2 columns the model sees, and how they become a float matrix.

Categorical columns become ordinal codes ordered by their (smoothed) cancellation rate in the
*training* window, so one split on the code separates high- and low-risk categories; categories
unseen in training become NaN, which XGBoost routes down its learned default branch. The codes
are learned once by ``FeatureEncoder.fit`` and saved with the model, and the same object encodes
a DataFrame (training, batch scoring) or one booking (the API), giving identical rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.schema import LEAKY_COLUMNS, TARGET

NUMERIC_FEATURES: tuple[str, ...] = (
    "lead_time",
    "arrival_month",
    "arrival_date_day_of_month",
    "arrival_weekday",
    "arrival_day_of_year",
    "booking_weekday",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "total_nights",
    "weekend_share",
    "adults",
    "children",
    "babies",
    "total_guests",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "previous_cancellation_rate",
    "days_in_waiting_list",
    "adr",
    "adr_per_guest",
    "stay_value",
    "required_car_parking_spaces",
    "total_of_special_requests",
    "is_domestic",
    "has_agent",
    "has_company",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "hotel",
    "meal",
    "country",
    "market_segment",
    "distribution_channel",
    "reserved_room_type",
    "deposit_type",
    "customer_type",
    "agent",
    "company",
)
# Deliberately not model inputs: identifiers, absolute time (arrival_date_year, dates: a model
# must not learn "2016" when it will score 2018), the dataset's inconsistent week numbers, and
# every outcome or post-booking column.
EXCLUDED: frozenset[str] = frozenset(
    {
        "booking_id",
        TARGET,
        "arrival_date_year",
        "arrival_date_week_number",
        "arrival_date",
        "booking_date",
        *LEAKY_COLUMNS,
    }
)
assert not EXCLUDED & set(NUMERIC_FEATURES + CATEGORICAL_FEATURES), "a leaky column is a feature"


@dataclass
class FeatureEncoder:
    numeric: tuple[str, ...] = NUMERIC_FEATURES
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES
    codes: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        target: pd.Series,
        *,
        smoothing: float = 20.0,
        numeric: Sequence[str] = NUMERIC_FEATURES,
        categorical: Sequence[str] = CATEGORICAL_FEATURES,
    ) -> FeatureEncoder:
        """Learn category codes from the training window only (never from validation rows)."""
        prior = float(target.mean())
        codes: dict[str, dict[str, int]] = {}
        for name in categorical:
            stats = target.groupby(frame[name].astype("str")).agg(["sum", "count"])
            rate = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
            # Ties broken by name so the codes are the same on every run.
            ordered = sorted(rate.items(), key=lambda item: (item[1], item[0]))
            codes[name] = {category: code for code, (category, _) in enumerate(ordered)}
        return cls(tuple(numeric), tuple(categorical), codes)

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, d) float32 matrix in ``feature_names`` order."""
        columns = [frame[name].astype("float64").to_numpy() for name in self.numeric]
        for name in self.categorical:
            mapped = frame[name].astype("str").map(self.codes[name])
            columns.append(mapped.astype("float64").to_numpy())
        return np.column_stack(columns).astype(np.float32)

    def encode_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """(1, d) float32 row for one transformed booking: no pandas on the API's hot path."""
        values = [float(record[name]) for name in self.numeric]
        values.extend(self.codes[name].get(record[name], math.nan) for name in self.categorical)
        return np.array(values, dtype=np.float32).reshape(1, -1)

    def encode_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """(n, d) float32 matrix from columns (``v2.transform_columns``), no pandas."""
        matrix = np.empty((len(columns[self.numeric[0]]), len(self.feature_names)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            matrix[:, j] = columns[name]
        for j, name in enumerate(self.categorical, start=len(self.numeric)):
            codes = self.codes[name]
            matrix[:, j] = [codes.get(value, math.nan) for value in columns[name]]
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
