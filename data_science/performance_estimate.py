"""How well the model does on bookings whose outcomes are not known yet, from its probabilities alone.

Confidence-based performance estimation (CBPE, as NannyML computes it; NannyML itself does not fit
this project's lock: it pulls a second XGBoost through FLAML). If the probabilities are calibrated,
each booking is a cancellation with probability ``p``, so the confusion matrix at any threshold has
an expected value — expected true positives ``Σ p`` above it, expected false positives ``Σ (1 − p)``
above it — and so has every metric built from it:

- ROC AUC: the area under the curve of expected true-positive and false-positive rates as the
  threshold falls through the scores (ties taken together, as ``roc_auc_score`` does);
- the cancellation rate: ``mean(p)``;
- precision and recall at the model's threshold: ``Σ p / n`` and ``Σ p / Σ p_all`` over the
  bookings predicted to cancel.

Each comes with a sampling interval: the 2.5th and 97.5th percentiles of the metric over outcomes
drawn from the probabilities (a parametric bootstrap), the spread the realised value will have
around the estimate for this many bookings even when the probabilities are right. The estimate is
only as good as the calibration: a level that moved since training moves the estimated
cancellation rate by as much (the backtest reports both, fold by fold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

INTERVAL = (2.5, 97.5)
SAMPLES = 400


@dataclass(frozen=True)
class Estimate:
    rows: int
    roc_auc: float
    cancellation_rate: float
    precision: float
    recall: float
    threshold: float
    intervals: dict[str, tuple[float, float]]

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["intervals"] = {name: list(bounds) for name, bounds in self.intervals.items()}
        return out


def expected_roc_auc(probability: np.ndarray, score: np.ndarray | None = None) -> float:
    """The ROC AUC the outcomes would give on average if each is a cancellation with its probability.

    ``score`` ranks the bookings (default the probability itself). NaN when every probability is 0
    or every one is 1: there is then no curve to expect.
    """
    p = np.asarray(probability, dtype=np.float64)
    s = p if score is None else np.asarray(score, dtype=np.float64)
    positives, negatives = p.sum(), (1.0 - p).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    # One point of the curve per distinct score: tied bookings cross the threshold together.
    last_of_tie = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tpr = np.r_[0.0, np.cumsum(p)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1.0 - p)[last_of_tie] / negatives]
    return float(np.trapezoid(tpr, fpr))


def _at_threshold(p: np.ndarray, outcomes: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at the threshold for each row of ``outcomes`` (simulations × bookings)."""
    hits = outcomes[:, flagged].sum(axis=1)
    cancellations = outcomes.sum(axis=1)
    precision = hits / max(int(flagged.sum()), 1)
    recall = np.divide(hits, cancellations, out=np.full(len(hits), np.nan), where=cancellations > 0)
    return precision, recall


def _roc_auc_of(outcomes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of outcomes against fixed scores, from their ranks (Mann-Whitney)."""
    positives = outcomes.sum(axis=1)
    negatives = outcomes.shape[1] - positives
    rank_sum = outcomes @ ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        auc: np.ndarray = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return auc


def estimate(probability: np.ndarray, threshold: float, *, samples: int = SAMPLES, seed: int = 0) -> Estimate:
    """The label-free estimate of a set of bookings' figures, with their sampling intervals."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    n = len(p)
    if n == 0:
        raise ValueError("no booking to estimate on")
    flagged = p >= threshold
    expected = p.sum()
    rng = np.random.default_rng(seed)
    ranks = pd.Series(p).rank(method="average").to_numpy()  # ties share their mean rank
    draws: dict[str, list[np.ndarray]] = {
        "roc_auc": [],
        "cancellation_rate": [],
        "precision": [],
        "recall": [],
    }
    batch = max(1, min(samples, 20_000_000 // max(n, 1)))  # bounded memory: simulations in batches
    for start in range(0, samples, batch):
        outcomes = (rng.random((min(batch, samples - start), n)) < p).astype(np.float64)
        precision, recall = _at_threshold(p, outcomes, flagged)
        draws["roc_auc"].append(_roc_auc_of(outcomes, ranks))
        draws["cancellation_rate"].append(outcomes.mean(axis=1))
        draws["precision"].append(precision)
        draws["recall"].append(recall)
    intervals = {}
    for name, values in draws.items():
        joined = np.concatenate(values)
        joined = joined[~np.isnan(joined)]
        low, high = np.percentile(joined, INTERVAL) if len(joined) else (np.nan, np.nan)
        intervals[name] = (float(low), float(high))
    return Estimate(
        rows=n,
        roc_auc=expected_roc_auc(p),
        cancellation_rate=float(p.mean()),
        precision=float(p[flagged].sum() / flagged.sum()) if flagged.any() else float("nan"),
        recall=float(p[flagged].sum() / expected) if expected > 0 else float("nan"),
        threshold=float(threshold),
        intervals=intervals,
    )
