"""Stage ``train``: rolling-origin backtest, then the champion refit on all arrivals.

1. The backtest (``backtest/``) fits the whole pipeline fold by fold on everything before each
   window and asks it both questions (each booking at booking; the bookings on the books at the
   cut-off, and their nightly forecast); the number of trees, the Platt calibration and the
   decision threshold are chosen from its out-of-fold predictions.
2. The model is refit on *all* arrivals with an outcome, with those choices — the newest months
   are the most informative for the next bookings, and nothing is held back to be "validated"
   on — on their snapshots (``snapshots.py``: each booking at its booking date and every
   ``train.snapshot_every_days`` days it stayed on the books), with recency weights (half-life
   ``train.half_life_days``, by arrival date; the later head's ``train.half_life_days_on_the_books``).
3. Outputs: ``models/model/`` (booster, categories, calibration, threshold, drift profile, and
   the vocabulary the bookings were validated with: serving must use the same, see ``model.py``),
   ``models/oof_predictions.csv`` (the backtest's predictions, for plots and the champion gate;
   DVC-tracked like the data it comes from) and ``reports/backtest.json``.

Hyperparameters are in ``params.yaml`` (``train``), chosen by ``./cli.sh tune`` — a seeded,
time-bounded Optuna search on folds that end before the reported backtest's last fold — never by
this stage, so that ``dvc repro`` does not pick them on the folds it then reports.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data_engineering.src.files.writing import read_processed
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.paths import BACKTEST_FILE, MODEL_DIR, OOF_FILE, REPO_ROOT, processed_file
from data_engineering.src.schema import (
    VOCABULARIES,
    VOCABULARY,
    VOCABULARY_ENV,
    ReservationStatus,
    vocabulary_file,
)
from data_engineering.transformation import Transformation, get_transformation
from data_science.artifacts import write_csv, write_json
from data_science.backtest.folds import fit_with_pending, pending_rows, training_rows
from data_science.backtest.params import CREATION, ON_THE_BOOKS, BacktestParams, TrainParams
from data_science.backtest.run import Backtest, FoldPredictions, fit_folds, two_heads
from data_science.drift_reference import training_profile
from data_science.model import CancellationModel
from data_science.snapshots import Pending, known_outcome


def check_vocabulary(frame: pd.DataFrame) -> None:
    """The processed bookings hold only categories of the vocabulary in use, which the model records.

    They were validated when ``transform`` ran, perhaps with another ``HOTEL_VOCABULARY``; a model
    recording a vocabulary its training rows do not fit would refuse its own hotels' bookings."""
    for name, columns in VOCABULARIES.items():
        for column in (c for c in columns if c in frame):
            outside = sorted(set(frame[column].dropna().astype(str)) - set(VOCABULARY[name]))
            if outside:
                shown = ", ".join(repr(v) for v in outside[:5]) + (" ..." if len(outside) > 5 else "")
                raise ValueError(
                    f"the processed bookings' {column} holds {shown}, not in the vocabulary in use "
                    f"({vocabulary_file()}): train with the {VOCABULARY_ENV} they were validated with, "
                    "or rerun transform with this one"
                )


@dataclass
class Trained:
    model: CancellationModel
    backtest: Backtest  # the model's: both questions, each answered by its head
    at_booking: Backtest | None  # the at-booking head alone on both questions: today's pipeline


def _head(
    frame: pd.DataFrame,
    version: str,
    params: TrainParams,
    chosen: FoldPredictions,
    *,
    cutoff: pd.Timestamp,
    threshold: float,
    waiting: tuple[pd.DataFrame, Pending] | None = None,
) -> tuple[CancellationModel, int]:
    """One head refit on every booking with its choices made out of fold (and, for the later head,
    on what the bookings not arrived by the cut-off taught, ``waiting``); (head, training rows)."""
    transformation = get_transformation(version)
    rows = training_rows(frame, transformation, params)
    encoder, booster, _ = fit_with_pending(
        rows, transformation, params, cutoff, chosen.n_trees, waiting=waiting
    )
    head = CancellationModel(
        booster, encoder, threshold=threshold, calibration=chosen.calibration, transformation=version
    )
    head.metadata = {"n_trees": chosen.n_trees, "train_rows": len(rows)}
    return head, len(rows)


def backtest_pipeline(
    frame: pd.DataFrame,
    transformation: Transformation,
    backtest_params: BacktestParams,
    params: TrainParams,
    bookings: pd.DataFrame | None = None,
) -> tuple[FoldPredictions | None, FoldPredictions, FoldPredictions]:
    """(the at-booking head's, the later head's, the model's) out-of-fold predictions and choices.

    An as-of transformation's model has two heads, each chosen on the question it answers; any
    other has one, chosen on both. ``frame``: the bookings with an outcome; ``bookings``: all of
    them (default ``frame``), which the later head's folds learn from as known at each cut-off.
    """
    methods = params.calibration
    if transformation.at_booking is None:
        single = fit_folds(frame, transformation, backtest_params, params, calibration=methods.at_booking)
        return None, single, single
    early = fit_folds(
        frame,
        get_transformation(transformation.at_booking),
        backtest_params,
        params,
        fit_on=(CREATION,),
        calibration=methods.at_booking,
        name="backtest at booking",
    )
    later = fit_folds(
        frame,
        transformation,
        backtest_params,
        params.on_the_books(),
        fit_on=(ON_THE_BOOKS,),
        scored=(ON_THE_BOOKS,),
        calibration=methods.on_the_books,
        name="backtest on the books",
        pending_from=(frame if bookings is None else bookings) if params.learn_from_pending else None,
    )
    return early, later, two_heads(early, later)


def data_day(frame: pd.DataFrame) -> pd.Timestamp:
    """The last day the bookings (with an outcome) tell about: the newest arrival of a guest who
    came. A cancellation has an outcome before its arrival, so a hotel's export holds cancelled
    bookings arriving in the future: counted, they would put the day, and the backtest's windows,
    there."""
    came = frame["reservation_status"].eq(ReservationStatus.CHECK_OUT.value).to_numpy()
    arrivals = pd.to_datetime(frame["arrival_date"])
    return pd.Timestamp((arrivals[came] if came.any() else arrivals).max())


def train(
    frame: pd.DataFrame,
    backtest_params: BacktestParams,
    params: TrainParams,
    version: str,
    *,
    day: pd.Timestamp | None = None,
) -> Trained:
    """The backtest and the refit on ``frame`` as known at the end of ``day`` (default: ``data_day``).
    What arrives after it is seen only as it stood that day (still on the books, or cancelled by
    then); a replay passes an earlier day."""
    transformation = get_transformation(version)
    if not transformation.numeric_features:
        raise ValueError(f"transformation {version} has no model features: use v2, v3 or v4")
    check_vocabulary(frame)
    bookings = frame
    # The examples with an outcome; those still on the books teach what they can (fit_with_pending).
    frame = frame[known_outcome(frame)].reset_index(drop=True)
    if frame.empty:
        raise ValueError(
            "no booking has a recorded outcome (is_canceled and reservation_status): nothing to learn from"
        )
    day = data_day(frame) if day is None else day
    frame = frame[pd.to_datetime(frame["arrival_date"]) <= day].reset_index(drop=True)
    arrival = pd.to_datetime(frame["arrival_date"])
    cutoff = day + pd.Timedelta(days=1)
    early, later, chosen = backtest_pipeline(frame, transformation, backtest_params, params, bookings)
    result = chosen.backtest()
    means = result.means
    print(
        f"train: chosen out of fold: {later.n_trees} trees, calibration a={later.calibration[0]:.3f} "
        f"b={later.calibration[1]:.3f}, threshold {chosen.threshold:.3f} ({params.threshold.strategy}); "
        f"backtest ROC AUC mean {means['roc_auc_mean']:.4f} at booking, {means['roc_auc_on_the_books_mean']:.4f} "
        f"on the books, nightly WAPE {means['nightly_wape_mean']:.3f}",
        flush=True,
    )
    started = time.perf_counter()
    waiting = None
    if params.learn_from_pending and transformation.at_booking is not None:
        waiting = pending_rows(bookings, cutoff - pd.Timedelta(days=1), transformation, params)
    later_params = params.on_the_books() if transformation.at_booking is not None else params
    model, rows = _head(
        frame, version, later_params, later, cutoff=cutoff, threshold=chosen.threshold, waiting=waiting
    )
    if early is not None and transformation.at_booking is not None:
        model.at_booking, _ = _head(
            frame,
            transformation.at_booking,
            params,
            early,
            cutoff=cutoff,
            threshold=chosen.threshold,
        )
    refit = time.perf_counter() - started
    model.profile = training_profile(frame)
    model.metadata = {
        "algorithm": "XGBoost gradient-boosted trees (binary:logistic, hist, native categories)"
        + (
            f"; at booking: a {transformation.at_booking} head ({params.calibration.at_booking} calibration), "
            f"later days: a {version} head on snapshots ({params.calibration.on_the_books} calibration)"
            if transformation.at_booking
            else f", {params.calibration.at_booking} calibration"
        ),
        "n_trees": later.n_trees,
        "half_life_days": params.half_life_days,
        "half_life_days_on_the_books": later_params.half_life_days,
        "snapshot_every_days": params.snapshot_every_days if transformation.as_of else 0,
        "window": {
            "train_rows": len(frame),
            "train_snapshots": rows,
            "train_start": str(arrival.min().date()),
            "train_end": str(arrival.max().date()),
            "cutoff": str(cutoff.date()),
            # What the later head learnt from the bookings not arrived by the cut-off (fit_with_pending).
            "not_arrived": {
                "on_the_books": len(waiting[1].today) if waiting else 0,
                "cancelled_snapshots": len(waiting[0]) if waiting else 0,
            },
        },
        "backtest": {k: v for k, v in result.report().items() if k not in ("curve",)},
        "threshold_strategy": params.threshold.strategy,
        # Which file the model's vocabulary.yaml came from (its categories are in that copy).
        "vocabulary": {
            # From the repository root when inside it: the same in every clone (see artifacts.py).
            "file": repo_relative(vocabulary_file()),
            "sha256": hashlib.sha256(vocabulary_file().read_bytes()).hexdigest(),
        },
    }
    print(
        f"train: refit on all {len(frame):,} bookings ({rows:,} snapshots; arrivals {arrival.min().date()} "
        f"to {arrival.max().date()})"
        + (f" and {len(waiting[1].today):,} still on the books at the end of {day.date()}" if waiting else "")
        + f" in {refit:.0f}s"
    )
    return Trained(model, result, early.backtest() if early is not None else None)


def repo_relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def main() -> int:
    backtest_params = read_section("backtest", BacktestParams)
    params = read_section("train", TrainParams)
    version = read_section("transform", TransformParams).version  # which processed file to read
    frame = read_processed(version, processed_file(version))
    try:
        trained = train(frame, backtest_params, params, version)
    except ValueError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 1
    trained.model.save(MODEL_DIR)
    write_csv(trained.backtest.oof, OOF_FILE)
    report = trained.backtest.report()
    if trained.at_booking is not None:
        # Today's creation-time pipeline on both questions: the baseline the as-of answers must beat.
        report["at_booking_head"] = trained.at_booking.report()
    write_json(BACKTEST_FILE, report)
    print(f"train: saved {MODEL_DIR}, {OOF_FILE.name} and {BACKTEST_FILE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
