"""The drift reference: a profile of the inputs a model was trained on, saved with the model.

For each booking field (as the v1 transformation cleans it, which is also how the API logs the
bookings it scores): numbers binned on the training rows' deciles (ties merge bins, so a 0/1 flag
gets two bins, not ten) with the count in each bin; categories with their counts, the rarest
pooled as ``(other)``. The Monitoring page compares the logged predictions against it, so drift
is measured against the data the champion really learned from, whatever the database now holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME

QUANTILE_BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
NUMERIC_FIELDS: tuple[str, ...] = tuple(
    f for f in BOOKING_FIELDS if COLUMNS_BY_NAME[f].kind in ("int", "float")
)
CATEGORICAL_FIELDS: tuple[str, ...] = tuple(f for f in BOOKING_FIELDS if f not in NUMERIC_FIELDS)


def quantile_edges(values: np.ndarray, counts: np.ndarray, bins: int = QUANTILE_BINS) -> np.ndarray:
    """Right-closed bin edges at the deciles, from a value histogram.

    Edge k is the smallest value whose cumulative share reaches k/bins; repeated edges (many
    identical values) collapse, so the bins are (-inf, e1], (e1, e2], ..., (e_last, inf).
    """
    order = np.argsort(values)
    values = np.asarray(values, dtype=float)[order]
    cumulative = np.cumsum(np.asarray(counts, dtype=float)[order])
    if cumulative.size == 0:
        return np.empty(0)
    targets = cumulative[-1] * np.arange(1, bins) / bins
    positions = np.searchsorted(cumulative, targets, side="left")
    edges = np.unique(values[np.clip(positions, 0, values.size - 1)])
    # The largest value as an edge would leave the last bin empty on the training side.
    return edges[edges < values[-1]] if edges.size > 1 else edges


def bin_counts(values: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    index = np.searchsorted(edges, np.asarray(values, dtype=float), side="left")
    return np.bincount(index, weights=np.asarray(counts, dtype=float), minlength=edges.size + 1)


def training_profile(frame: pd.DataFrame) -> dict[str, Any]:
    """The profile of the rows a model is fitted on (v1-cleaned booking fields)."""
    fields: dict[str, Any] = {}
    for name in NUMERIC_FIELDS:
        counts = frame[name].dropna().value_counts()
        values, n = counts.index.to_numpy(dtype=float), counts.to_numpy(dtype=float)
        edges = quantile_edges(values, n)
        fields[name] = {
            "kind": "numeric",
            "edges": edges.tolist(),
            "counts": bin_counts(values, n, edges).astype(int).tolist(),
        }
    for name in CATEGORICAL_FIELDS:
        counts = frame[name].astype("str").value_counts()
        top = counts.head(TOP_CATEGORIES)
        fields[name] = {
            "kind": "categorical",
            "counts": {
                **{str(k): int(v) for k, v in top.items()},
                OTHER: int(counts.iloc[TOP_CATEGORIES:].sum()),
            },
        }
    arrival = pd.to_datetime(frame["arrival_date"])
    window = {"first_arrival": str(arrival.min().date()), "last_arrival": str(arrival.max().date())}
    return {"rows": len(frame), "window": window, "fields": fields}
