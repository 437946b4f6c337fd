"""Stage ``train``: rolling-origin backtest, then the champion refit on all arrivals.

1. The backtest (``backtest.py``) fits the whole pipeline fold by fold on everything before each
   window and scores the window; the number of trees, the Platt calibration and the decision
   threshold are chosen from its out-of-fold predictions.
2. The model is refit on *all* arrivals with those choices — the newest months are the most
   informative for the next bookings, and nothing is held back to be "validated" on — with
   recency weights (half-life ``train.half_life_days``, by arrival date).
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
from pathlib import Path

import pandas as pd

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.io import read_processed
from data_engineering.src.params import read_section
from data_engineering.src.paths import BACKTEST_FILE, MODEL_DIR, OOF_FILE, REPO_ROOT, processed_file
from data_engineering.src.schema import VOCABULARIES, VOCABULARY, VOCABULARY_ENV, vocabulary_file
from data_engineering.transformation import get_transformation
from data_science.artifacts import write_csv, write_json
from data_science.backtest import Backtest, BacktestParams, TrainParams, fit_booster, run_backtest
from data_science.model import CancellationModel
from data_science.profile import training_profile


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


def train(
    frame: pd.DataFrame, backtest_params: BacktestParams, params: TrainParams, version: str
) -> tuple[CancellationModel, Backtest]:
    transformation = get_transformation(version)
    if not transformation.numeric_features:
        raise ValueError(f"transformation {version} has no model features: use v2 or v3")
    check_vocabulary(frame)
    result = run_backtest(frame, transformation, backtest_params, params)
    means = result.means
    print(
        f"train: chosen out of fold: {result.n_trees} trees, calibration a={result.calibration[0]:.3f} "
        f"b={result.calibration[1]:.3f}, threshold {result.threshold:.3f} ({params.threshold.strategy}); "
        f"backtest ROC AUC mean {means['roc_auc_mean']:.4f} ({result.seconds:.0f}s)"
    )
    started = time.perf_counter()
    arrival = pd.to_datetime(frame["arrival_date"])
    cutoff = arrival.max() + pd.Timedelta(days=1)
    encoder, booster, _ = fit_booster(frame, transformation, params, cutoff, result.n_trees)
    refit = time.perf_counter() - started
    model = CancellationModel(
        booster,
        encoder,
        threshold=result.threshold,
        calibration=result.calibration,
        transformation=version,
        profile=training_profile(frame),
    )
    model.metadata = {
        "algorithm": "XGBoost gradient-boosted trees (binary:logistic, hist, native categories), "
        + ("Platt-calibrated" if params.calibration == "platt" else "uncalibrated"),
        "n_trees": result.n_trees,
        "half_life_days": params.half_life_days,
        "window": {
            "train_rows": len(frame),
            "train_start": str(arrival.min().date()),
            "train_end": str(arrival.max().date()),
            "cutoff": str(cutoff.date()),
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
        f"train: refit on all {len(frame):,} bookings ({arrival.min().date()} to {arrival.max().date()}) in {refit:.0f}s"
    )
    return model, result


def repo_relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def main() -> int:
    backtest_params = read_section("backtest", BacktestParams)
    params = read_section("train", TrainParams)
    version = read_section("transform", TransformParams).version  # which processed file to read
    frame = read_processed(version, processed_file(version))
    try:
        model, result = train(frame, backtest_params, params, version)
    except ValueError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 1
    model.save(MODEL_DIR)
    write_csv(result.oof, OOF_FILE)
    write_json(BACKTEST_FILE, result.report())
    print(f"train: saved {MODEL_DIR}, {OOF_FILE.name} and {BACKTEST_FILE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
