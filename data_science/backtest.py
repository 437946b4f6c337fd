"""Rolling-origin backtest: how a pipeline answers on bookings later than its training data.

``backtest.folds`` consecutive windows of ``backtest.fold_months`` months of arrivals, the last
ending with the newest month. For each window the *whole* pipeline — snapshots, categories,
recency weights, booster — is fitted on every arrival before it (the outcomes known at its
cut-off) and asked the two questions a hotel asks (``Fold.populations``):

- **at booking** (``creation``): every booking arriving in the window, judged the day it was
  made — today's question; among them the bookings made after the cut-off are the ones a
  deployed model scores as they come in (``booked_after_cutoff``);
- **on the books** (``on_the_books``): the bookings on the books at the end of the cut-off's last
  day (made by then, arriving in the window, not cancelled), judged as of that day — and, summed
  per hotel and night, the nightly forecast a revenue manager overbooks on.

Their out-of-fold (OOF) predictions are the only data the pipeline's choices are made on:

- the number of trees: one long fit per fold, both populations' ROC AUC after every
  ``checkpoint_every`` trees (XGBoost's evaluation cache), the size with the best mean;
- the calibration (``train.calibration``, per head): none, or Platt scaling of the pooled OOF
  margins at that size;
- the decision threshold: F1-max (or lowest expected cost) on the pooled calibrated OOF
  probabilities at booking (today's decision).

The champion is refit on all arrivals with the choices made on every fold (``train.py``). Each
fold, though, is *reported* at choices made on the other folds only (cross-fitting): its size,
calibration and threshold never saw its own bookings, so its figures are what those choices give
on bookings they were not made on — the figures a user gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field
from sklearn.metrics import precision_recall_curve

from data_engineering.src.progress import progress
from data_engineering.src.schema import TARGET
from data_engineering.transformation import Transformation
from data_engineering.transformation.encoding import FeatureEncoder
from data_science.calibration import NO_CALIBRATION, Calibration, calibrate, fit_platt
from data_science.nightly import forecast, stays
from data_science.performance_estimate import expected_roc_auc
from data_science.quality import classification_metrics, nightly_accuracy, probability_metrics
from data_science.snapshots import known_outcome, on_the_books, snapshots

CREATION = "creation"
ON_THE_BOOKS = "on_the_books"
ONE_DAY = pd.Timedelta(days=1)


class BacktestParams(BaseModel):
    folds: int = Field(
        4, ge=2, le=12, description="consecutive windows, the last ending with the newest month"
    )
    fold_months: int = Field(3, ge=1, le=12, description="months of arrivals per window")


class ThresholdParams(BaseModel):
    strategy: Literal["f1", "cost"] = "f1"
    cost_false_alarm: float = Field(1.0, gt=0, description="cost of flagging a booking that stays")
    cost_missed_cancellation: float = Field(3.0, gt=0, description="cost of missing a cancellation")


Method = Literal["none", "platt"]


class CalibrationParams(BaseModel):
    """Per head: ``none`` (the booster's own probabilities) or ``platt`` (a logistic fit of the
    pooled out-of-fold margins). See data_science/README.md for the evidence behind the defaults."""

    at_booking: Method = "platt"
    on_the_books: Method = "none"


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
    snapshot_every_days: int = Field(
        30,
        ge=0,
        description="days between a booking's snapshots while on the books (0: its booking date only)",
    )
    calibration: CalibrationParams = CalibrationParams()
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
        return {"start": str(self.start.date()), "end": str((self.stop - ONE_DAY).date())}

    @property
    def as_of(self) -> pd.Timestamp:
        """The cut-off's last day: the bookings on the books at its end are judged as of it."""
        return self.start - ONE_DAY

    def split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training bookings: arrived before the window, outcome known; the window's bookings)."""
        arrival = pd.to_datetime(frame["arrival_date"])
        known = known_outcome(frame)
        train = frame[(arrival < self.start).to_numpy() & known]
        window = frame[((arrival >= self.start) & (arrival < self.stop)).to_numpy() & known]
        return train, window

    def populations(self, window: pd.DataFrame, transformation: Transformation) -> dict[str, pd.DataFrame]:
        """The window's bookings judged at booking, and those on the books at the cut-off."""
        creation = window.reset_index(drop=True)
        return {CREATION: creation, ON_THE_BOOKS: on_the_books(creation, self.as_of, transformation)}


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


# ------------------------------------------------------------------------------------- model
def training_rows(frame: pd.DataFrame, transformation: Transformation, params: TrainParams) -> pd.DataFrame:
    """The examples a pipeline learns from: snapshots of the bookings (at booking only for a
    transformation without as-of features). An as-of head learns from the booking-date snapshots
    too, though it never answers for them: on the folds before March 2017, dropping them cost 0.007
    ROC AUC on the books and 0.01 nightly WAPE."""
    every = params.snapshot_every_days if transformation.as_of else 0
    return snapshots(frame, transformation, every, seed=params.seed)


def fit_booster(
    rows: pd.DataFrame,
    transformation: Transformation,
    params: TrainParams,
    cutoff: pd.Timestamp,
    n_trees: int,
    *,
    evaluate_on: list[pd.DataFrame] | None = None,
) -> tuple[FeatureEncoder, xgb.Booster, list[list[float]]]:
    """The pipeline fitted on training ``rows`` (snapshots): categories, weights, booster.

    With ``evaluate_on``, also each frame's ROC AUC after every tree (the fold's curves).
    """
    encoder = FeatureEncoder.fit(
        rows, numeric=transformation.numeric_features, categorical=transformation.categorical_features
    )
    weights = recency_weights(rows["arrival_date"], cutoff, params.half_life_days)
    dtrain = dmatrix(encoder, rows, label=rows[TARGET].to_numpy(), weight=weights)
    evals = [
        (dmatrix(encoder, frame, label=frame[TARGET].to_numpy()), f"set{k}")
        for k, frame in enumerate(evaluate_on or [])
    ]
    history: dict[str, dict[str, Any]] = {}  # xgboost's evals log: evals name -> metric -> values
    booster = xgb.train(
        params.booster_params(),
        dtrain,
        num_boost_round=n_trees,
        evals=evals,
        evals_result=history,
        verbose_eval=False,
    )
    curves = [[float(v) for v in history[name]["auc"]] for _, name in evals]
    return encoder, booster, curves


def dmatrix(encoder: FeatureEncoder, frame: Any, **kwargs: Any) -> xgb.DMatrix:
    return xgb.DMatrix(
        encoder.encode(frame),
        feature_names=encoder.feature_names,
        feature_types=encoder.feature_types,
        enable_categorical=True,
        **kwargs,
    )


# ------------------------------------------------------------------------------------- reports
OOF_COLUMNS = (
    "booking_id",
    "fold",
    "population",
    "as_of",
    "arrival_date",
    "booking_date",
    TARGET,
    "margin",
    "probability",
    "threshold",
)


def oof_part(
    rows: pd.DataFrame, fold: int, population: str, probability: np.ndarray, margin: np.ndarray | None = None
) -> pd.DataFrame:
    """One fold's predictions of one population, with what the reports and the forecast need."""
    part = pd.DataFrame(
        {
            "booking_id": rows["booking_id"].to_numpy(),
            "fold": fold,
            "population": population,
            "as_of": pd.to_datetime(rows["as_of"]).to_numpy(),
            "arrival_date": pd.to_datetime(rows["arrival_date"]).to_numpy(),
            "booking_date": pd.to_datetime(rows["booking_date"]).to_numpy(),
            TARGET: rows[TARGET].to_numpy(dtype=np.int64),
            "margin": margin if margin is not None else np.full(len(rows), np.nan),
            "probability": probability,
        }
    )
    forecast_input = stays(rows, probability)
    return pd.concat([part, forecast_input.drop(columns=["arrival_date", "probability"])], axis=1)


def read_oof(path: Path) -> pd.DataFrame:
    """OOF predictions written by ``train`` (or ``baselines``), with their types back."""
    return pd.read_csv(
        path,
        dtype={"booking_id": str, "hotel": str, "population": str},
        parse_dates=["as_of", "arrival_date", "booking_date"],
    )


def fold_report(fold: Fold, part: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """A fold's figures: at booking (all, and booked after the cut-off), on the books, nightly."""
    creation = part[part["population"] == CREATION]
    books = part[part["population"] == ON_THE_BOOKS]
    y, p = creation[TARGET].to_numpy(), creation["probability"].to_numpy()
    after = (creation["booking_date"] >= fold.start).to_numpy()
    late = probability_metrics(y[after], p[after])
    held = probability_metrics(books[TARGET].to_numpy(), books["probability"].to_numpy())
    nights = forecast(books, first_night=fold.start, last_night=fold.stop - ONE_DAY, hotels=None)
    nightly = nightly_accuracy(nights)
    # What the model would have said of itself before any outcome was known (CBPE), beside the truth.
    estimated_auc, estimated_auc_books = (
        expected_roc_auc(p),
        expected_roc_auc(books["probability"].to_numpy()),
    )
    metrics = classification_metrics(y, p, threshold)
    return {
        **fold.window,
        "rows": len(creation),
        **metrics,
        "threshold": threshold,
        "realised_rate": float(y.mean()),
        "estimated_roc_auc": estimated_auc,
        "estimated_cancellation_rate": float(p.mean()),
        "estimate_error_roc_auc": abs(estimated_auc - metrics["roc_auc"]),
        "estimated_roc_auc_on_the_books": estimated_auc_books,
        "estimate_error_roc_auc_on_the_books": abs(estimated_auc_books - held["roc_auc"]),
        "rows_booked_after_cutoff": late["rows"],
        "roc_auc_booked_after_cutoff": late["roc_auc"],
        "brier_booked_after_cutoff": late["brier"],
        "calibration_in_the_large_booked_after_cutoff": late["calibration_in_the_large"],
        "on_the_books_as_of": str(fold.as_of.date()),
        "rows_on_the_books": held["rows"],
        "roc_auc_on_the_books": held["roc_auc"],
        "brier_on_the_books": held["brier"],
        "calibration_in_the_large_on_the_books": held["calibration_in_the_large"],
        "realised_rate_on_the_books": held["realised_rate"],
        "nights": nightly["nights"],
        "nightly_expected": nightly["expected"],
        "nightly_realised": nightly["realised"],
        "nightly_wape": nightly["wape"],
        "nightly_bias": nightly["bias"],
        "nightly_coverage_80": nightly["coverage_80"],
    }


# Averaged over the folds into ``<name>_mean``: what to expect on future bookings.
MEANS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "f1",
    "precision",
    "recall",
    "calibration_in_the_large",
    "roc_auc_booked_after_cutoff",
    "brier_booked_after_cutoff",
    "calibration_in_the_large_booked_after_cutoff",
    "roc_auc_on_the_books",
    "brier_on_the_books",
    "calibration_in_the_large_on_the_books",
    "nightly_wape",
    "nightly_bias",
    "nightly_coverage_80",
    "estimated_roc_auc",
    "estimate_error_roc_auc",  # its mean: the label-free estimate's mean absolute error
    "estimated_roc_auc_on_the_books",
    "estimate_error_roc_auc_on_the_books",
)


def summarise(
    folds: list[Fold], parts: list[pd.DataFrame], thresholds: list[float]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each fold's report (``parts``: its OOF rows of both populations) and the means over folds."""
    rows = [fold_report(fold, part, t) for fold, part, t in zip(folds, parts, thresholds, strict=True)]
    means = {f"{name}_mean": float(np.nanmean([row[name] for row in rows])) for name in MEANS}
    return rows, means


def others(k: int, n: int) -> list[int]:
    """The folds whose predictions choose fold ``k``'s settings: every fold but ``k``."""
    return [j for j in range(n) if j != k]


def at_booking(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["population"] == CREATION]


def cross_fitted_thresholds(parts: list[pd.DataFrame], rule: ThresholdParams) -> list[float]:
    """Fold k's threshold, chosen on the other folds' pooled OOF probabilities at booking."""
    thresholds = []
    for k in range(len(parts)):
        pooled = pd.concat([at_booking(parts[j]) for j in others(k, len(parts))], ignore_index=True)
        thresholds.append(choose_threshold(pooled[TARGET].to_numpy(), pooled["probability"].to_numpy(), rule))
    return thresholds


# ------------------------------------------------------------------------------------- backtest
@dataclass
class Backtest:
    folds: list[dict[str, Any]]  # window, rows, settings and figures of each fold
    means: dict[str, float]
    n_trees: int
    calibration: Calibration
    threshold: float
    curve: dict[int, float]  # mean fold ROC AUC by number of trees
    oof: pd.DataFrame  # OOF_COLUMNS and the forecast's input columns, both populations
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


@dataclass
class FoldPredictions:
    """One pipeline's out-of-fold predictions and choices, before they are reported."""

    folds: list[Fold]
    parts: list[pd.DataFrame]  # per fold: its OOF rows of the populations scored
    thresholds: list[float]  # per fold: chosen on the other folds
    settings: list[dict[str, Any]]  # per fold: trees and calibration chosen on the other folds
    n_trees: int  # chosen on every fold: the refit's
    calibration: Calibration
    threshold: float
    curve: dict[int, float]

    def backtest(self, notes: dict[str, Any] | None = None) -> Backtest:
        reports, means = summarise(self.folds, self.parts, self.thresholds)
        for report, extra in zip(reports, self.settings, strict=True):
            report.update(extra)
        oof = pd.concat(self.parts, ignore_index=True)
        return Backtest(
            reports, means, self.n_trees, self.calibration, self.threshold, self.curve, oof, notes or {}
        )


@dataclass
class _FittedFold:
    fold: Fold
    train_bookings: int
    train_rows: int
    populations: dict[str, pd.DataFrame]
    encoder: FeatureEncoder
    booster: xgb.Booster
    curve: np.ndarray  # mean ROC AUC of the fitted-on populations at each checkpoint


def fit_folds(
    frame: pd.DataFrame,
    transformation: Transformation,
    backtest: BacktestParams,
    params: TrainParams,
    *,
    fit_on: tuple[str, ...] = (CREATION, ON_THE_BOOKS),
    scored: tuple[str, ...] = (CREATION, ON_THE_BOOKS),
    calibration: Method = "platt",
    name: str = "backtest",
) -> FoldPredictions:
    """Fit the pipeline fold by fold and choose its trees, calibration and threshold out of fold.

    ``fit_on``: the populations its choices are made on; ``scored``: those it predicts.
    """
    folds = make_folds(frame["arrival_date"], backtest)
    checkpoints = list(range(params.checkpoint_every, params.max_trees + 1, params.checkpoint_every)) or [
        params.max_trees
    ]
    fitted: list[_FittedFold] = []
    with progress(total=len(folds), desc=name, unit="folds") as bar:
        for number, fold in enumerate(folds, start=1):
            t0 = time.perf_counter()
            train, window = fold.split(frame)
            rows = training_rows(train, transformation, params)
            populations = fold.populations(window, transformation)
            watched = [populations[p] for p in fit_on if len(populations[p])]
            encoder, booster, fold_curves = fit_booster(
                rows, transformation, params, fold.start, params.max_trees, evaluate_on=watched
            )
            curve = np.mean([np.array(c)[np.array(checkpoints) - 1] for c in fold_curves], axis=0)
            fitted.append(_FittedFold(fold, len(train), len(rows), populations, encoder, booster, curve))
            best = int(np.argmax(curve))
            print(
                f"{name}: fold {number}/{len(folds)} {fold.window['start']}..{fold.window['end']}: trained on "
                f"{len(train):,} bookings ({len(rows):,} rows), judged on "
                + " and ".join(f"{len(populations[p]):,} {p.replace('_', ' ')}" for p in fit_on)
                # Its own peak, which no report quotes: each fold is reported at the trees the other folds
                # chose, so the summary's figure for it can be lower.
                + f"; in-fold peak ROC AUC {curve[best]:.4f} at {checkpoints[best]} trees, not reported "
                f"({time.perf_counter() - t0:.1f}s)",
                flush=True,
            )
            bar.update(1)
    curves = np.array([f.curve for f in fitted])  # (folds, checkpoints)
    margins: dict[tuple[int, str], list[np.ndarray]] = {}  # (trees, population) -> each fold's OOF margins

    def margins_at(n_trees: int, population: str) -> list[np.ndarray]:
        key = (n_trees, population)
        if key not in margins:
            margins[key] = [
                f.booster.predict(
                    dmatrix(f.encoder, f.populations[population]),
                    output_margin=True,
                    iteration_range=(0, n_trees),
                )
                if len(f.populations[population])
                else np.empty(0)
                for f in fitted
            ]
        return margins[key]

    def choose(chosen_on: list[int]) -> tuple[int, Calibration, float]:
        """Size, calibration and threshold chosen on the OOF predictions of folds ``chosen_on``."""
        n_trees = checkpoints[int(np.argmax(curves[chosen_on].mean(axis=0)))]
        margin = {p: np.concatenate([margins_at(n_trees, p)[j] for j in chosen_on]) for p in fit_on}
        y = {
            p: np.concatenate([fitted[j].populations[p][TARGET].to_numpy() for j in chosen_on])
            for p in fit_on
        }
        fitted_calibration = NO_CALIBRATION
        if calibration == "platt":
            fitted_calibration = fit_platt(
                np.concatenate(list(margin.values())), np.concatenate(list(y.values()))
            )
        decided = CREATION if CREATION in fit_on else fit_on[0]  # today's decision is the one at booking
        probability = calibrate(margin[decided], fitted_calibration)
        return n_trees, fitted_calibration, choose_threshold(y[decided], probability, params.threshold)

    n_trees, chosen_calibration, threshold = choose(list(range(len(folds))))  # the refit's: on every fold
    parts, thresholds, settings = [], [], []
    for k, f in enumerate(fitted):  # each fold at settings chosen on the other folds
        n_k, calibration_k, threshold_k = choose(others(k, len(folds)))
        pieces = []
        for population in scored:
            margin = margins_at(n_k, population)[k]
            rows = f.populations[population]
            pieces.append(oof_part(rows, k + 1, population, calibrate(margin, calibration_k), margin))
        parts.append(pd.concat(pieces, ignore_index=True).assign(threshold=threshold_k))
        thresholds.append(threshold_k)
        settings.append(
            {
                "train_rows": f.train_bookings,
                "train_snapshots": f.train_rows,
                "n_trees": n_k,
                "calibration": list(calibration_k),
            }
        )
    curve_means = dict(zip(checkpoints, curves.mean(axis=0).tolist(), strict=True))
    return FoldPredictions(
        folds, parts, thresholds, settings, n_trees, chosen_calibration, threshold, curve_means
    )


def run_backtest(
    frame: pd.DataFrame, transformation: Transformation, backtest: BacktestParams, params: TrainParams
) -> Backtest:
    """One pipeline fitted and judged on both questions (a single-head model, or a baseline)."""
    return fit_folds(
        frame, transformation, backtest, params, calibration=params.calibration.at_booking
    ).backtest()


def two_heads(at_booking: FoldPredictions, later: FoldPredictions) -> FoldPredictions:
    """The as-of model's predictions: the at-booking head's at booking, the later head's on the books.

    The decision threshold is the at-booking head's (today's decision); each head keeps its own
    trees and calibration, reported per fold.
    """
    parts = [
        pd.concat(
            [
                at_booking_part[at_booking_part["population"] == CREATION],
                later_part[later_part["population"] == ON_THE_BOOKS],
            ],
            ignore_index=True,
        ).assign(threshold=at_booking_part["threshold"].iloc[0])
        for at_booking_part, later_part in zip(at_booking.parts, later.parts, strict=True)
    ]
    settings = [
        {**late, "at_booking": {"n_trees": early["n_trees"], "calibration": early["calibration"]}}
        for early, late in zip(at_booking.settings, later.settings, strict=True)
    ]
    return FoldPredictions(
        later.folds,
        parts,
        at_booking.thresholds,
        settings,
        later.n_trees,
        later.calibration,
        at_booking.threshold,
        later.curve,
    )


Predictor = Callable[[pd.DataFrame], np.ndarray]  # rows -> probabilities
Fit = Callable[[pd.DataFrame, pd.Timestamp], Predictor]  # (training bookings, cut-off) -> predictor


def backtest_predictor(
    name: str,
    fit: Fit,
    frame: pd.DataFrame,
    *,
    transformation: Transformation,
    backtest: BacktestParams,
    threshold: ThresholdParams,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A fixed pipeline (a baseline) through the same folds, populations and reports.

    Each fold's threshold is chosen on the other folds' OOF probabilities at booking, as the
    model's is; the one chosen on all folds is the baseline's own.
    """
    started = time.perf_counter()
    folds = make_folds(frame["arrival_date"], backtest)
    parts = []
    with progress(total=len(folds), desc=f"baselines: {name}", unit="folds") as bar:
        for number, fold in enumerate(folds, start=1):
            train, window = fold.split(frame)
            predict = fit(train, fold.start)
            pieces = [
                oof_part(rows, number, population, predict(rows))
                for population, rows in fold.populations(window, transformation).items()
            ]
            parts.append(pd.concat(pieces, ignore_index=True).assign(train_rows=len(train)))
            bar.update(1)
    thresholds = cross_fitted_thresholds(parts, threshold)
    parts = [part.assign(threshold=t) for part, t in zip(parts, thresholds, strict=True)]
    oof = pd.concat(parts, ignore_index=True)
    pooled = at_booking(oof)
    chosen = choose_threshold(pooled[TARGET].to_numpy(), pooled["probability"].to_numpy(), threshold)
    rows, means = summarise(folds, parts, thresholds)
    for row, part in zip(rows, parts, strict=True):
        row["train_rows"] = int(part["train_rows"].iloc[0])
    print(
        f"baselines: {name}: backtest ROC AUC mean {means['roc_auc_mean']:.4f} at booking, "
        f"{means['roc_auc_on_the_books_mean']:.4f} on the books; nightly WAPE {means['nightly_wape_mean']:.3f} "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    return {"folds": rows, **means, "threshold": chosen}, oof.drop(columns=["train_rows"]).assign(
        baseline=name
    )
