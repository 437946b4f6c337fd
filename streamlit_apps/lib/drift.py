"""Population stability index (PSI) of each model input: logged predictions vs the training data.

Both sides arrive as value counts (``feature, num_value|cat_value, n``: one GROUP BY per feature
on the database), so nothing here ever holds rows. Numeric inputs are binned on the training
window's deciles (ties merge bins, so a 0/1 flag gets two bins, not ten); categorical inputs are
compared category by category, the rarest training categories pooled as ``(other)``.

    PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%)

with empty bins floored at ``EPSILON`` so a category never seen on one side gives a large but
finite value. Rule of thumb (Siddiqi, *Credit Risk Scorecards*): < 0.1 stable, 0.1-0.25 watch,
> 0.25 significant shift.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

EPSILON = 1e-4
QUANTILE_BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
WATCH = 0.1
ALERT = 0.25
Severity = Literal["ok", "watch", "alert"]


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


def quantile_edges(values: np.ndarray, counts: np.ndarray, bins: int = QUANTILE_BINS) -> np.ndarray:
    """Right-closed bin edges at the training deciles, from a value histogram.

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


def numeric_drift(feature: str, training: pd.DataFrame, current: pd.DataFrame) -> FeatureDrift:
    train = training[training["num_value"].notna()]
    present = current[current["num_value"].notna()]
    missing = int(current.loc[current["num_value"].isna(), "n"].sum())
    edges = quantile_edges(train["num_value"].to_numpy(), train["n"].to_numpy())
    expected = bin_counts(train["num_value"].to_numpy(), train["n"].to_numpy(), edges)
    actual = bin_counts(present["num_value"].to_numpy(), present["n"].to_numpy(), edges)
    value = psi(expected, actual)
    shift = _largest_shift(bin_labels(edges), expected, actual) if actual.sum() and expected.sum() else ""
    return FeatureDrift(feature, "numeric", value, severity(value), int(actual.sum()), missing, shift)


def categorical_drift(feature: str, training: pd.DataFrame, current: pd.DataFrame) -> FeatureDrift:
    top = training.groupby(training["cat_value"].fillna(OTHER))["n"].sum().sort_values(ascending=False)
    keep = [c for c in top.index[:TOP_CATEGORIES] if c != OTHER]
    # Always an (other) bin: training's rarest categories, and those training never saw.
    labels = [*keep, OTHER]

    def counts(frame: pd.DataFrame) -> np.ndarray:
        values = frame["cat_value"].fillna(OTHER)
        series = frame["n"].groupby(values.where(values.isin(keep), OTHER)).sum()
        return np.array([float(series.get(label, 0.0)) for label in labels])

    expected, actual = counts(training), counts(current)
    value = psi(expected, actual)
    shift = _largest_shift(labels, expected, actual) if actual.sum() and expected.sum() else ""
    return FeatureDrift(feature, "categorical", value, severity(value), int(actual.sum()), 0, shift)


def drift_table(
    training: pd.DataFrame, current: pd.DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> pd.DataFrame:
    """One row per input, worst first: feature, kind, psi, severity, predictions, missing, shift."""
    rows = []
    for feature in (*numeric, *categorical):
        t = training[training["feature"] == feature]
        c = current[current["feature"] == feature]
        if t.empty or c.empty:
            continue
        compute = numeric_drift if feature in numeric else categorical_drift
        rows.append(compute(feature, t, c))
    frame = pd.DataFrame([r.__dict__ for r in rows])
    if frame.empty:
        return frame
    return frame.sort_values("psi", ascending=False, na_position="last").reset_index(drop=True)
