"""Population stability index (PSI) of each model input: logged predictions vs the training data.

The training side is the champion's own profile (``data_science/drift_reference.py``, saved with the
model): its deciles and category counts. The logged predictions arrive as value counts
(``feature, num_value|cat_value, n``: one GROUP BY per feature on the database), so nothing here
ever holds rows. Numbers are binned on the training deciles; categories are compared one by one,
those outside the training's top categories pooled as ``(other)``.

    PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%)

with empty bins floored at ``EPSILON`` so a category never seen on one side gives a large but
finite value. Rule of thumb (Siddiqi, *Credit Risk Scorecards*): < 0.1 stable, 0.1-0.25 watch,
> 0.25 significant shift.

The parts of the arrival date are left out (``CALENDAR_BOUND``): the predictions of a period are
bookings made in that period, so their arrival dates crowd into the weeks after it, whatever the
model's health, while the training data spreads over whole years. Measured on the real bookings
(each day, week and month of bookings made from September 2015 to August 2016 against all
arrivals): the year, month and week number are above 0.25 in every one of them (median PSI 2.1,
1.1 and 0.95 for a week), the day of the month in 68% of single days and 15% of weeks (short lead
times put the arrivals in the days just after), where a random sample of the same size stays
near 0.01. Comparing them season against season would need the training's arrivals per booking
week, which the profile saved with the model does not hold; left out, they are named on the page.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from data_science.drift_reference import CATEGORICAL_FIELDS, NUMERIC_FIELDS, OTHER, bin_counts

EPSILON = 1e-4
WATCH = 0.1
ALERT = 0.25
Severity = Literal["ok", "watch", "alert"]
# The inputs that move with the calendar by construction (see above), with why, as the page says it.
CALENDAR_BOUND: dict[str, str] = {
    "arrival_date_year": "every new year is one the training never saw",
    "arrival_date_month": "a period's bookings arrive in the months after it; training spans whole years",
    "arrival_date_week_number": "likewise, week by week",
    "arrival_date_day_of_month": "bookings made close to arrival land in the days just after the period",
}
JUDGED_NUMERIC: tuple[str, ...] = tuple(f for f in NUMERIC_FIELDS if f not in CALENDAR_BOUND)
JUDGED_CATEGORICAL: tuple[str, ...] = tuple(f for f in CATEGORICAL_FIELDS if f not in CALENDAR_BOUND)


def severity(psi: float) -> Severity:
    if psi < WATCH:
        return "ok"
    return "watch" if psi <= ALERT else "alert"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two count vectors over the same bins."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if expected.sum() <= 0 or actual.sum() <= 0:
        return float("nan")
    p = np.clip(expected / expected.sum(), EPSILON, None)
    q = np.clip(actual / actual.sum(), EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))


def bin_labels(edges: np.ndarray) -> list[str]:
    def fmt(x: float) -> str:
        return f"{x:g}"

    if edges.size == 0:
        return ["all"]
    labels = [f"≤ {fmt(edges[0])}"]
    labels += [f"({fmt(lo)}, {fmt(hi)}]" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"> {fmt(edges[-1])}")
    return labels


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    severity: Severity
    predictions: int  # logged predictions with a value for this input
    missing: int  # logged predictions without one
    largest_shift: str  # the bin or category whose share moved most


def _largest_shift(labels: list[str], expected: np.ndarray, actual: np.ndarray) -> str:
    p = expected / expected.sum()
    q = actual / actual.sum()
    i = int(np.argmax(np.abs(q - p)))
    return f"{labels[i]}: {p[i]:.0%} → {q[i]:.0%}"


def numeric_drift(feature: str, reference: dict[str, Any], current: pd.DataFrame) -> FeatureDrift:
    present = current[current["num_value"].notna()]
    missing = int(current.loc[current["num_value"].isna(), "n"].sum())
    edges = np.asarray(reference["edges"], dtype=float)
    expected = np.asarray(reference["counts"], dtype=float)
    actual = bin_counts(present["num_value"].to_numpy(), present["n"].to_numpy(), edges)
    value = psi(expected, actual)
    shift = _largest_shift(bin_labels(edges), expected, actual) if actual.sum() and expected.sum() else ""
    return FeatureDrift(feature, "numeric", value, severity(value), int(actual.sum()), missing, shift)


def categorical_drift(feature: str, reference: dict[str, Any], current: pd.DataFrame) -> FeatureDrift:
    # The training's top categories, and one (other) bin: its rarest ones and those it never saw.
    labels = [c for c in reference["counts"] if c != OTHER] + [OTHER]
    expected = np.array([float(reference["counts"].get(label, 0)) for label in labels])
    values = current["cat_value"].fillna(OTHER)
    series = current["n"].groupby(values.where(values.isin(labels), OTHER)).sum()
    actual = np.array([float(series.get(label, 0.0)) for label in labels])
    value = psi(expected, actual)
    shift = _largest_shift(labels, expected, actual) if actual.sum() and expected.sum() else ""
    return FeatureDrift(feature, "categorical", value, severity(value), int(actual.sum()), 0, shift)


def drift_table(profile: dict[str, Any], current: pd.DataFrame) -> pd.DataFrame:
    """One row per input judged (calendar-bound ones never), worst first: feature, kind, psi,
    severity, predictions, missing, shift."""
    rows = []
    for feature, reference in profile["fields"].items():
        if feature in CALENDAR_BOUND:
            continue
        c = current[current["feature"] == feature]
        if c.empty:
            continue
        compute = numeric_drift if reference["kind"] == "numeric" else categorical_drift
        rows.append(compute(feature, reference, c))
    frame = pd.DataFrame([r.__dict__ for r in rows])
    if frame.empty:
        return frame
    return frame.sort_values("psi", ascending=False, na_position="last").reset_index(drop=True)
