"""The folds fitted, the choices (size, calibration, threshold) made out of fold, the two heads."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from data_engineering.src.progress import progress
from data_engineering.src.schema import TARGET
from data_engineering.transformation import Transformation
from data_engineering.transformation.encoding import FeatureEncoder
from data_science.backtest.folds import (
    Fold,
    choose_threshold,
    dmatrix,
    fit_with_pending,
    make_folds,
    pending_rows,
    training_rows,
)
from data_science.backtest.params import (
    CREATION,
    ON_THE_BOOKS,
    BacktestParams,
    Method,
    ThresholdParams,
    TrainParams,
)
from data_science.backtest.reports import (
    at_booking,
    cross_fitted_thresholds,
    oof_part,
    others,
    summarise,
)
from data_science.calibration import NO_CALIBRATION, Calibration, calibrate, fit_platt


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
    pending_from: pd.DataFrame | None = None,
) -> FoldPredictions:
    """Fit the pipeline fold by fold and choose its trees, calibration and threshold out of fold.

    ``fit_on``: the populations its choices are made on; ``scored``: those it predicts. With
    ``pending_from`` (all the bookings), each fold also learns from those of them not arrived at its
    cut-off, as known then (``folds.fit_with_pending``) — only for a head that answers on the books:
    the bookings judged at booking in a window were made before its cut-off, and a head answering
    for them must not learn what they did after their booking date.
    """
    if pending_from is not None and CREATION in scored:
        raise ValueError("a head that answers at booking cannot learn from its window's own bookings")
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
            waiting = (
                None
                if pending_from is None
                else pending_rows(pending_from, fold.as_of, transformation, params)
            )
            encoder, booster, fold_curves = fit_with_pending(
                rows,
                transformation,
                params,
                fold.start,
                params.max_trees,
                waiting=waiting,
                evaluate_on=watched,
            )
            pending_note = (
                ""
                if waiting is None
                else f" + {len(waiting[1].today):,} still on the books and {len(waiting[0]):,} snapshots "
                "of cancellations, as known at the cut-off"
            )
            curve = np.mean([np.array(c)[np.array(checkpoints) - 1] for c in fold_curves], axis=0)
            fitted.append(_FittedFold(fold, len(train), len(rows), populations, encoder, booster, curve))
            best = int(np.argmax(curve))
            print(
                f"{name}: fold {number}/{len(folds)} {fold.window['start']}..{fold.window['end']}: trained on "
                f"{len(train):,} bookings ({len(rows):,} rows){pending_note}, judged on "
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
