"""Rolling-origin backtest: how a pipeline does on bookings later than its training data.

``backtest.folds`` consecutive windows of ``backtest.fold_months`` months of arrivals, the last
ending with the newest month. For each window the *whole* pipeline — categories, recency weights,
booster — is fitted on every arrival before it and scores it; its out-of-fold (OOF) predictions
are the only data the pipeline's choices are made on:

- the number of trees: one long fit per fold, its ROC AUC after every ``checkpoint_every`` trees
  (XGBoost's evaluation cache), the size with the best mean over the folds;
- the calibration: Platt scaling of the pooled OOF margins at that size;
- the decision threshold: F1-max (or lowest expected cost) on the pooled calibrated OOF
  probabilities.

The champion is refit on all arrivals with the choices made on every fold (``train.py``). Each
fold, though, is *reported* at choices made on the other folds only (cross-fitting): its size,
calibration and threshold never saw its own bookings, so its Brier score, F1, precision and
recall are what those choices give on bookings they were not made on — the figures a user gets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from data_engineering.src.progress import progress
from data_engineering.src.schema import TARGET
from data_engineering.transformation import Transformation
from data_engineering.transformation.encoding import FeatureEncoder


class BacktestParams(BaseModel):
    folds: int = Field(
        4, ge=2, le=12, description="consecutive windows, the last ending with the newest month"
    )
    fold_months: int = Field(3, ge=1, le=12, description="months of arrivals per window")


class ThresholdParams(BaseModel):
    strategy: Literal["f1", "cost"] = "f1"
    cost_false_alarm: float = Field(1.0, gt=0, description="cost of flagging a booking that stays")
    cost_missed_cancellation: float = Field(3.0, gt=0, description="cost of missing a cancellation")


class TrainParams(BaseModel):
    seed: int = 42
    max_trees: int = Field(800, ge=1, description="longest fit per fold; the size is chosen out of fold")
    checkpoint_every: int = Field(25, ge=1)
    learning_rate: float = Field(0.03, gt=0, le=1)
    max_depth: int = Field(4, ge=1, le=16)
    min_child_weight: float = Field(11, ge=0)
    subsample: float = Field(0.65, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(0.4, ge=0)
    max_cat_to_onehot: int = Field(1, ge=1, description="categories: set splits, not one-hot")
    half_life_days: float = Field(90, ge=0, description="recency weighting by arrival date; 0 turns it off")
    calibration: Literal["none", "platt"] = "platt"
    threshold: ThresholdParams = ThresholdParams()

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "tree_method": "hist",
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "seed": self.seed,
            "nthread": 0,
        }


# ------------------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class Fold:
    start: pd.Timestamp  # first arrival day of the window (the fold's training cut-off)
    stop: pd.Timestamp  # first arrival day after it

    @property
    def window(self) -> dict[str, str]:
        return {"start": str(self.start.date()), "end": str((self.stop - pd.Timedelta(days=1)).date())}


def make_folds(arrival: pd.Series, params: BacktestParams) -> list[Fold]:
    """The windows, oldest first; refuses data too short to leave each fold a training past."""
    arrival = pd.to_datetime(arrival)
    last = arrival.max().to_period("M")
    folds = [
        Fold(
            (last + 1 - k * params.fold_months).to_timestamp(),
            (last + 1 - (k - 1) * params.fold_months).to_timestamp(),
        )
        for k in range(params.folds, 0, -1)
    ]
    if not (arrival < folds[0].start).any():
        months = params.folds * params.fold_months
        raise ValueError(
            f"the data's arrivals ({arrival.min().date()} to {arrival.max().date()}) do not reach back beyond the "
            f"{months} months of the backtest: the first fold would train on nothing"
        )
    return folds


def recency_weights(arrival: pd.Series, cutoff: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life), age = days from arrival to the cut-off, normalised to mean 1."""
    if not half_life_days:
        return np.ones(len(arrival))
    age = (cutoff - pd.to_datetime(arrival)).dt.days.to_numpy(dtype=np.float64)
    weights = 0.5 ** (np.clip(age, 0, None) / half_life_days)
    normalised: np.ndarray = weights / weights.mean()
    return normalised


def sigmoid(margin: np.ndarray, calibration: tuple[float, float] = (1.0, 0.0)) -> np.ndarray:
    a, b = calibration
    return 1.0 / (1.0 + np.exp(-(a * np.asarray(margin, dtype=np.float64) + b)))


def fit_platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the outcome on the margin: p = sigmoid(a * margin + b)."""
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(np.asarray(margin).reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def choose_threshold(y: np.ndarray, p: np.ndarray, params: ThresholdParams) -> float:
    """F1-maximising or expected-cost-minimising threshold."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]
    if params.strategy == "f1":
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        return float(thresholds[int(np.argmax(f1))])
    positives = y.sum()
    tp = recall * positives
    fp = np.where(precision > 0, tp / np.clip(precision, 1e-12, None) - tp, 0)
    cost = params.cost_false_alarm * fp + params.cost_missed_cancellation * (positives - tp)
    return float(thresholds[int(np.argmin(cost))])


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    decision = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
        "f1": float(f1_score(y, decision)),
        "precision": float(precision_score(y, decision, zero_division=0)),
        "recall": float(recall_score(y, decision)),
    }


# ------------------------------------------------------------------------------------- model
def fit_booster(
    frame: pd.DataFrame,
    transformation: Transformation,
    params: TrainParams,
    cutoff: pd.Timestamp,
    n_trees: int,
    *,
    evaluate_on: pd.DataFrame | None = None,
) -> tuple[FeatureEncoder, xgb.Booster, list[float]]:
    """The pipeline fitted on ``frame`` (arrivals before ``cutoff``): categories, weights, booster.

    With ``evaluate_on``, also that frame's ROC AUC after every tree (the fold's curve).
    """
    encoder = FeatureEncoder.fit(
        frame, numeric=transformation.numeric_features, categorical=transformation.categorical_features
    )
    weights = recency_weights(frame["arrival_date"], cutoff, params.half_life_days)
    dtrain = dmatrix(encoder, frame, label=frame[TARGET].to_numpy(), weight=weights)
    evals: list[tuple[xgb.DMatrix, str]] = []
    history: dict[str, dict[str, Any]] = {}  # xgboost's evals log: evals name -> metric -> values
    if evaluate_on is not None:
        evals = [(dmatrix(encoder, evaluate_on, label=evaluate_on[TARGET].to_numpy()), "fold")]
    booster = xgb.train(
        params.booster_params(),
        dtrain,
        num_boost_round=n_trees,
        evals=evals,
        evals_result=history,
        verbose_eval=False,
    )
    curve = [float(v) for v in history.get("fold", {}).get("auc", [])]
    return encoder, booster, curve


def dmatrix(encoder: FeatureEncoder, frame: Any, **kwargs: Any) -> xgb.DMatrix:
    return xgb.DMatrix(
        encoder.encode(frame),
        feature_names=encoder.feature_names,
        feature_types=encoder.feature_types,
        enable_categorical=True,
        **kwargs,
    )


# ------------------------------------------------------------------------------------- backtest
@dataclass
class Backtest:
    folds: list[dict[str, Any]]  # window, rows, metrics at the chosen size
    means: dict[str, float]
    n_trees: int
    calibration: tuple[float, float]
    threshold: float
    curve: dict[int, float]  # mean fold ROC AUC by number of trees
    oof: pd.DataFrame  # booking_id, fold, arrival/booking dates, outcome, margin, probability
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            **self.means,
            "n_trees": self.n_trees,
            "calibration": list(self.calibration),
            "threshold": self.threshold,
            "curve": {str(k): v for k, v in self.curve.items()},
            **self.notes,
        }


MEANS = ("roc_auc", "pr_auc", "brier", "log_loss", "f1", "precision", "recall")


def summarise(
    folds: list[Fold], parts: list[pd.DataFrame], train_rows: list[int], thresholds: list[float]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each fold's metrics at its own threshold (``parts``: its OOF rows with ``probability``), and means.

    Also each fold's ROC AUC on the bookings made after its cut-off alone: those are what a
    deployed model scores when bookings are made (the window's other bookings were made before
    the model's training data ended).
    """
    rows: list[dict[str, Any]] = []
    for fold, part, trained_on, threshold in zip(folds, parts, train_rows, thresholds, strict=True):
        y, p = part[TARGET].to_numpy(), part["probability"].to_numpy()
        after = pd.to_datetime(part["booking_date"]) >= fold.start
        late = (
            float(roc_auc_score(y[after], p[after]))
            if after.sum() and len(set(y[after])) == 2
            else float("nan")
        )
        rows.append(
            {
                **fold.window,
                "train_rows": trained_on,
                "rows": len(part),
                **classification_metrics(y, p, threshold),
                "threshold": threshold,
                "rows_booked_after_cutoff": int(after.sum()),
                "roc_auc_booked_after_cutoff": late,
            }
        )
    means = {f"{name}_mean": float(np.mean([r[name] for r in rows])) for name in MEANS}
    means["roc_auc_booked_after_cutoff_mean"] = float(
        np.nanmean([r["roc_auc_booked_after_cutoff"] for r in rows])
    )
    return rows, means


def others(k: int, n: int) -> list[int]:
    """The folds whose predictions choose fold ``k``'s settings: every fold but ``k``."""
    return [j for j in range(n) if j != k]


def cross_fitted_thresholds(parts: list[pd.DataFrame], rule: ThresholdParams) -> list[float]:
    """Fold k's threshold, chosen on the other folds' pooled OOF probabilities."""
    thresholds = []
    for k in range(len(parts)):
        pooled = pd.concat([parts[j] for j in others(k, len(parts))], ignore_index=True)
        thresholds.append(choose_threshold(pooled[TARGET].to_numpy(), pooled["probability"].to_numpy(), rule))
    return thresholds


def run_backtest(
    frame: pd.DataFrame, transformation: Transformation, backtest: BacktestParams, params: TrainParams
) -> Backtest:
    """Fit the pipeline fold by fold, choose out of fold, and report each fold at those choices."""
    started = time.perf_counter()
    folds = make_folds(frame["arrival_date"], backtest)
    arrival = pd.to_datetime(frame["arrival_date"])
    checkpoints = list(range(params.checkpoint_every, params.max_trees + 1, params.checkpoint_every)) or [
        params.max_trees
    ]
    fitted = []
    with progress(total=len(folds), desc="backtest", unit="folds") as bar:
        for number, fold in enumerate(folds, start=1):
            t0 = time.perf_counter()
            train = frame[arrival < fold.start]
            test = frame[(arrival >= fold.start) & (arrival < fold.stop)]
            encoder, booster, curve = fit_booster(
                train, transformation, params, fold.start, params.max_trees, evaluate_on=test
            )
            fitted.append((fold, train, test, encoder, booster, np.array(curve)[np.array(checkpoints) - 1]))
            print(
                f"backtest: fold {number}/{len(folds)} {fold.window['start']}..{fold.window['end']}: trained on "
                f"{len(train):,}, scored {len(test):,}, best ROC AUC {max(curve):.4f} "
                f"({time.perf_counter() - t0:.1f}s)",
                flush=True,
            )
            bar.update(1)
    curves = np.array([f[-1] for f in fitted])  # (folds, checkpoints)
    margins: dict[int, list[np.ndarray]] = {}  # by number of trees: each fold's OOF margins

    def margins_at(n_trees: int) -> list[np.ndarray]:
        if n_trees not in margins:
            margins[n_trees] = [
                booster.predict(dmatrix(encoder, test), output_margin=True, iteration_range=(0, n_trees))
                for _, _, test, encoder, booster, _ in fitted
            ]
        return margins[n_trees]

    def choose(chosen_on: list[int]) -> tuple[int, tuple[float, float], float]:
        """Size, calibration and threshold chosen on the OOF predictions of folds ``chosen_on``."""
        n_trees = checkpoints[int(np.argmax(curves[chosen_on].mean(axis=0)))]
        margin = np.concatenate([margins_at(n_trees)[j] for j in chosen_on])
        y = np.concatenate([fitted[j][2][TARGET].to_numpy() for j in chosen_on])
        calibration = fit_platt(margin, y) if params.calibration == "platt" else (1.0, 0.0)
        return n_trees, calibration, choose_threshold(y, sigmoid(margin, calibration), params.threshold)

    # The champion's settings: chosen on every fold.
    n_trees, calibration, threshold = choose(list(range(len(folds))))
    # Each fold's reported predictions: at settings chosen on the other folds.
    parts, per_fold = [], []
    for k, (_, _, test, _, _, _) in enumerate(fitted):
        n_k, calibration_k, threshold_k = choose(others(k, len(folds)))
        margin = margins_at(n_k)[k]
        per_fold.append({"n_trees": n_k, "calibration": list(calibration_k)})
        parts.append(
            pd.DataFrame(
                {
                    "booking_id": test["booking_id"].to_numpy(),
                    "fold": k + 1,
                    "arrival_date": test["arrival_date"].to_numpy(),
                    "booking_date": test["booking_date"].to_numpy(),
                    TARGET: test[TARGET].to_numpy(),
                    "margin": margin,
                    "probability": sigmoid(margin, calibration_k),
                    "threshold": threshold_k,
                }
            )
        )
    oof = pd.concat(parts, ignore_index=True)
    rows, means = summarise(
        folds, parts, [len(f[1]) for f in fitted], [float(part["threshold"].iloc[0]) for part in parts]
    )
    for row, settings in zip(rows, per_fold, strict=True):
        row.update(settings)
    mean_curve = curves.mean(axis=0)
    return Backtest(
        rows,
        means,
        n_trees,
        calibration,
        threshold,
        dict(zip(checkpoints, mean_curve.tolist(), strict=True)),
        oof,
        time.perf_counter() - started,
    )
