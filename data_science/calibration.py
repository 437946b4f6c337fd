"""From the booster's margin to a probability and a decision: the one definition of each.

The model (``model.py``), the backtest that chooses its settings, the explanations and the
evaluation all call these, so a probability or a "will cancel" means the same everywhere:

    probability = sigmoid(a * margin + b)     (Platt scaling; (1, 0) when off)
    will cancel = probability >= threshold
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

Calibration = tuple[float, float]
NO_CALIBRATION: Calibration = (1.0, 0.0)


def calibrate(margin: np.ndarray | float, calibration: Calibration = NO_CALIBRATION) -> np.ndarray:
    """Calibrated probabilities of raw margins (log-odds)."""
    a, b = calibration
    result: np.ndarray = 1.0 / (1.0 + np.exp(-(a * np.asarray(margin, dtype=np.float64) + b)))
    return result


def fit_platt(margin: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Calibration:
    """Logistic regression of the outcome on the margin: p = sigmoid(a * margin + b)."""
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(np.asarray(margin).reshape(-1, 1), y, sample_weight=weight)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def decide(probability: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """True where a booking is predicted to cancel."""
    decision: np.ndarray = np.asarray(probability) >= threshold
    return decision
