"""Estimated beside realised: the model's ROC AUC and cancellation rate on the logged predictions,
from their probabilities alone and from the outcomes known so far.

The estimate is ``data_science.performance_estimate.estimate`` (confidence-based performance
estimation, as ``./cli.sh estimate-performance`` computes it): it needs every probability, so the
page reads the probability column alone, of the newest ``ESTIMATE_ROWS`` predictions (one number
each). A period with more is estimated on its newest ``ESTIMATE_ROWS``, and the page says so; the
sampling interval of 20,000 is about ±0.006 of ROC AUC, far below any gap worth acting on. The
realised figures are aggregated on the database (``monitoring_sql.realised_outcomes``). The gap is taken on
the same predictions: the realised figures against the estimate of the predictions that have an
outcome, not of the whole period, whose newest bookings have none yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from data_science.performance_estimate import Estimate, estimate
from streamlit_apps.lib.config import QUERY_TTL_SECONDS

# estimate() of 20,000 probabilities: ~0.1 s on 2 shared cores, cached like the queries.
ESTIMATE_ROWS = 20_000
Format = Callable[[float], str]


def roc_auc_text(value: float) -> str:
    return f"{value:.3f}"


def rate_text(value: float) -> str:
    return f"{value:.1%}"


def points_text(value: float) -> str:
    """A difference of two rates, in percentage points (a gap of 2.4% would read as relative)."""
    return f"{value * 100:.1f} pts"


# The figures compared: label, the attribute of Estimate and Realised, how it and a gap are written.
FIGURES: tuple[tuple[str, str, Format, Format], ...] = (
    ("ROC AUC", "roc_auc", roc_auc_text, roc_auc_text),
    ("cancellation rate", "cancellation_rate", rate_text, points_text),
)


@dataclass(frozen=True)
class Realised:
    """The predictions of the period whose outcome is known (their duplicates agreeing)."""

    predictions: int
    cancelled: int
    roc_auc: float | None  # None unless both outcomes occur

    @property
    def cancellation_rate(self) -> float | None:
        return self.cancelled / self.predictions if self.predictions else None


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=32)
def label_free(probabilities: np.ndarray, threshold: float) -> Estimate | None:
    """The estimate of these probabilities (None for none), cached: its bootstrap takes a while."""
    return estimate(probabilities, threshold) if len(probabilities) else None


def estimated(est: Estimate | None, name: str) -> float | None:
    value = getattr(est, name) if est is not None else None
    return None if value is None or math.isnan(value) else float(value)


def gap(known: Estimate | None, realised: Realised, name: str) -> float | None:
    """Realised minus estimated, on the same predictions (None when either is missing)."""
    value, expected = getattr(realised, name), estimated(known, name)
    return None if value is None or expected is None else value - expected


def with_interval(est: Estimate | None, name: str, show: Format) -> str:
    value = estimated(est, name)
    if est is None or value is None:
        return "–"
    low, high = est.intervals[name]
    return f"{show(value)} ({show(low)}–{show(high)})"


def gap_text(known: Estimate | None, realised: Realised, name: str, show_gap: Format) -> str:
    difference, value = gap(known, realised, name), getattr(realised, name)
    if known is None or difference is None:
        return "–"
    low, high = known.intervals[name]
    where = "inside" if low <= value <= high else "outside"
    return f"{'+' if difference >= 0 else '−'}{show_gap(abs(difference))}, {where} the interval"


def headers(total: int, period: Estimate | None, known: Estimate | None, realised: Realised) -> list[str]:
    """The table's headers, each saying how many predictions its figures come from."""

    def rows(est: Estimate | None, of: int) -> str:
        n = est.rows if est is not None else 0
        return f"the newest {n:,} of {of:,}" if n < of else f"{of:,}"

    return [
        "",
        f"estimated: {rows(period, total)} predictions of the period",
        f"estimated: {rows(known, realised.predictions)} with an outcome",
        f"realised: {realised.predictions:,} with an outcome",
        "gap: realised − estimated on the same predictions",
    ]


def comparison(
    total: int, period: Estimate | None, known: Estimate | None, realised: Realised
) -> pd.DataFrame:
    """Each figure estimated (with its 95% sampling interval) and realised, and the gap: one row per
    source, saying how many predictions it rests on (long labels read best as rows), one column per figure."""
    rows = [
        [
            label,
            with_interval(period, name, show),
            with_interval(known, name, show),
            "–" if getattr(realised, name) is None else show(getattr(realised, name)),
            gap_text(known, realised, name, show_gap),
        ]
        for label, name, show, show_gap in FIGURES
    ]
    by_figure = pd.DataFrame(rows, columns=headers(total, period, known, realised)).set_index("")
    return by_figure.T.rename_axis("").reset_index()
