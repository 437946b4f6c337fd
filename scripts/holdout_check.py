"""``./cli.sh holdout-check [--months 3]``: would the pipeline have done as it says on later bookings?

Holds out the newest ``--months`` months of arrivals of the processed dataset, runs the whole
training pipeline (backtest, choices out of fold, refit on everything before) on the rest, and
scores the held-out bookings with it and with the plain XGBoost baseline trained on the same rows.
Prints both ROC AUCs, their difference, and the distance between the held-out ROC AUC and the
backtest mean the pipeline reported on its own training data: the check that the "expected
performance on future bookings" is what later bookings get. Nothing here is tuned on the
held-out months; run it once per design, and read it, do not optimise against it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_engineering.src.initialize_data import TransformParams  # noqa: E402
from data_engineering.src.io import read_processed  # noqa: E402
from data_engineering.src.params import read_section  # noqa: E402
from data_engineering.src.paths import processed_file  # noqa: E402
from data_engineering.src.schema import TARGET  # noqa: E402
from data_science.backtest import BacktestParams, TrainParams, classification_metrics  # noqa: E402
from data_science.baselines import BaselineParams, plain_xgboost  # noqa: E402
from data_science.train import train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh holdout-check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--months", type=int, default=3, help="newest months of arrivals held out (default 3)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ns = parser.parse_args(argv)
    version = read_section("transform", TransformParams).version
    frame = read_processed(version, processed_file(version))
    arrival = pd.to_datetime(frame["arrival_date"])
    start = (arrival.max().to_period("M") - (ns.months - 1)).to_timestamp()
    before, held = frame[arrival < start], frame[arrival >= start]
    print(
        f"holdout-check: pipeline trained on {len(before):,} arrivals before {start.date()}, "
        f"{len(held):,} held out ({start.date()} to {arrival.max().date()})"
    )
    started = time.perf_counter()
    model, result = train(
        before, read_section("backtest", BacktestParams), read_section("train", TrainParams), version
    )
    y = held[TARGET].to_numpy()
    ours = classification_metrics(y, model.predict(held).probability, model.threshold)
    baseline = read_section("baselines", BaselineParams)
    plain_p = plain_xgboost(baseline.plain_xgboost, baseline.seed)(before, held)
    plain = classification_metrics(y, plain_p, 0.5)
    backtest_mean = result.means["roc_auc_mean"]
    report = {
        "held_out": {"start": str(start.date()), "end": str(arrival.max().date()), "rows": len(held)},
        "trained_on_rows": len(before),
        "pipeline": ours,
        "plain_xgboost": plain,
        "backtest_roc_auc_mean": backtest_mean,
        "margin_over_plain": ours["roc_auc"] - plain["roc_auc"],
        "distance_to_backtest_mean": ours["roc_auc"] - backtest_mean,
        "backtest_folds": result.folds,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"holdout-check: ROC AUC on the held-out months: pipeline {ours['roc_auc']:.4f}, plain XGBoost "
        f"{plain['roc_auc']:.4f} (margin {report['margin_over_plain']:+.4f}); the pipeline's own backtest mean "
        f"{backtest_mean:.4f} (held-out minus mean {report['distance_to_backtest_mean']:+.4f})"
    )
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
