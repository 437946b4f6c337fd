"""The estimated ROC AUC of the API's recent answers, and an alert when it falls below a floor.

Outcomes arrive months after a booking is scored; the probabilities are there at once. If they
are calibrated, the ROC AUC the outcomes will give can be estimated from them alone
(``data_science.performance_estimate.expected_roc_auc``, confidence-based performance
estimation). So each worker keeps the probabilities of its newest answers (``API_ESTIMATE_WINDOW``,
those of the model version it serves: a new version starts a new window) and, every
``API_ESTIMATE_SECONDS`` on a thread of its own, computes that estimate. A request only appends
its probability to the window under a lock (well under a microsecond); the sort the estimate
needs (about a millisecond for 10,000 answers) never runs on the request path.

What it reports, for an alerting system to watch:

- the gauges ``hotel_api_estimated_roc_auc`` (NaN while the window is too small to judge),
  ``hotel_api_estimated_roc_auc_below_floor`` (1 while the estimate is below
  ``API_ESTIMATE_ROC_AUC_FLOOR``) and ``hotel_api_estimate_window_answers``;
- one warning line when the estimate falls below the floor, and one line when it is back at or
  above it (not one every period).

"Too small to judge" is fewer than ``API_ESTIMATE_MIN_ANSWERS`` answers (default 1,000): the
estimate computed on 1,000 bookings drawn from the same stream moves by about ±0.01 from one draw
to the next (2.5th-97.5th percentile), on 250 by about ±0.017 — enough to cross a floor by chance.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from api.periodic import Periodic
from api.prediction_table import COLUMNS, Row
from data_science.performance_estimate import expected_roc_auc

log = logging.getLogger("api.estimate")

# Positions in a prediction-log row (literal, so that the row's tuple type gives each its type).
_VERSION: Final = 3
_PROBABILITY: Final = 5
assert (COLUMNS[_VERSION], COLUMNS[_PROBABILITY]) == ("model_version", "cancel_probability")


@dataclass(frozen=True)
class Judgement:
    """What one period's look at the window found."""

    answers: int  # probabilities in the window
    version: str | None  # the model version that gave them
    roc_auc: float  # the estimated ROC AUC; NaN when there are too few answers to judge
    below_floor: bool

    @property
    def judged(self) -> bool:
        return not math.isnan(self.roc_auc)


class EstimateWatch(Periodic):
    """The window of recent probabilities, the periodic estimate, and the alert's state."""

    def __init__(
        self,
        *,
        window: int,
        minimum: int,
        floor: float,
        every_seconds: float,
        on_judgement: Callable[[Judgement], None] = lambda judgement: None,
    ) -> None:
        super().__init__(every_seconds, name="estimate-watch")
        self.minimum = minimum
        self.floor = floor
        self.on_judgement = on_judgement  # told every judgement (the /metrics gauges)
        self.below = False  # the alert's state, as last logged
        self._values: deque[float] = deque(maxlen=window)
        self._version: str | None = None
        self._lock = threading.Lock()  # the request path appends while the thread copies

    # ------------------------------------------------------------------ request side
    def answered(self, rows: Sequence[Row]) -> None:
        """The prediction log's listener: the rows of one call's answers (one model version)."""
        version = rows[0][_VERSION]
        with self._lock:
            if version != self._version:
                self._values.clear()  # another model's answers say nothing of this one
                self._version = version
            self._values.extend([row[_PROBABILITY] for row in rows])

    # ------------------------------------------------------------------ the periodic look
    def judge(self) -> Judgement:
        """The estimate of the window as it is now (no state changes)."""
        with self._lock:
            values, version = list(self._values), self._version
        roc_auc = expected_roc_auc(np.asarray(values)) if len(values) >= self.minimum else math.nan
        return Judgement(len(values), version, roc_auc, not math.isnan(roc_auc) and roc_auc < self.floor)

    def check(self) -> Judgement:
        """Judge the window, report it, and log when the alert starts or ends."""
        judgement = self.judge()
        self.on_judgement(judgement)
        if judgement.below_floor and not self.below:
            log.warning(
                "estimated ROC AUC %.3f is below the floor %.3f (API_ESTIMATE_ROC_AUC_FLOOR): from the "
                "probabilities of this worker's last %d answers of model version %s, before any outcome "
                "is known; the Monitoring page compares estimated and realised figures",
                judgement.roc_auc,
                self.floor,
                judgement.answers,
                judgement.version,
            )
        elif self.below and not judgement.below_floor:
            log.info(
                "estimated ROC AUC back at or above the floor %.3f: %s",
                self.floor,
                f"{judgement.roc_auc:.3f} on the last {judgement.answers} answers of model version "
                f"{judgement.version}"
                if judgement.judged
                else f"model version {judgement.version} is served, too few of its answers to judge "
                f"({judgement.answers} < {self.minimum}, API_ESTIMATE_MIN_ANSWERS)",
            )
        self.below = judgement.below_floor
        return judgement

    def tick(self) -> None:
        try:
            self.check()
        except Exception:  # a bug here must not end the alerting for the process's life
            log.exception("estimate watch: the periodic estimate failed")
