"""Independent computations of what the pages should show, from the loaded rows themselves."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from data_engineering.src.schema import BOOKING_FIELDS
from data_science.profile import OTHER, TOP_CATEGORIES
from streamlit_apps.lib import drift


def expected_kpis(frame: pd.DataFrame) -> dict[str, str]:
    return {
        "Bookings": f"{len(frame):,}",
        "Cancellation rate": f"{frame['is_canceled'].mean():.1%}",
        "Average daily rate (€)": f"{frame['adr'].mean():,.2f}",
        "Average lead time (days)": f"{frame['lead_time'].mean():,.1f}",
    }


def recent(predictions: pd.DataFrame, days: int = 7) -> pd.DataFrame:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return predictions[pd.to_datetime(predictions["created_at"], utc=True) >= since]


def nearest_rank(values: pd.Series, q: float) -> float:
    ordered = np.sort(values.to_numpy())
    return float(ordered[math.ceil(q * len(ordered)) - 1])


def call_latencies(predictions: pd.DataFrame) -> pd.Series:
    """One latency per API call: a batch call's rows share its call id and its latency."""
    return predictions.groupby("call_id")["latency_ms"].max()


def cleaned(predictions: pd.DataFrame) -> pd.DataFrame:
    """The logged bookings (the API logs them cleaned), one column per field."""
    return pd.DataFrame(list(predictions["booking"]))[list(BOOKING_FIELDS)]


def psi(training: pd.Series, current: pd.Series, *, numeric: bool) -> float:
    """PSI from raw values: numpy's inverted-CDF deciles, or the top categories plus (other)."""
    if numeric:
        train = training.to_numpy(dtype=float)
        edges = np.unique(np.quantile(train, np.arange(1, 10) / 10, method="inverted_cdf"))
        edges = edges[edges < train.max()] if len(edges) > 1 else edges
        expected = np.bincount(np.searchsorted(edges, train, side="left"), minlength=len(edges) + 1)
        values = current.dropna().to_numpy(dtype=float)
        actual = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    else:
        categories = list(training.astype(str).value_counts().index[:TOP_CATEGORIES])
        labels = [*categories, OTHER]

        def pooled(values: pd.Series) -> pd.Series:
            values = values.astype(str)
            return values.where(values.isin(categories), OTHER).value_counts().reindex(labels, fill_value=0)

        expected, actual = pooled(training).to_numpy(), pooled(current).to_numpy()
    p = np.clip(expected / expected.sum(), drift.EPSILON, None)
    q = np.clip(actual / actual.sum(), drift.EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))


def realised(bookings: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, int]:
    """Confusion counts of predictions whose cleaned booking matches rows that agree on the outcome."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for flagged, booking in zip(
        predictions["will_cancel"], cleaned(predictions).to_dict("records"), strict=True
    ):
        match = pd.Series(True, index=bookings.index)
        for field, value in booking.items():
            match &= bookings[field] == value
        outcomes = set(bookings.loc[match, "is_canceled"])
        if len(outcomes) != 1:
            continue
        cancelled = outcomes.pop() == 1
        key = ("t" if flagged == cancelled else "f") + ("p" if flagged else "n")
        counts[key] += 1
    return counts
