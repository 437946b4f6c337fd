"""``./cli.sh holdout-check [--months 3]``: would the pipeline have done as it says on later bookings?

Holds out the newest ``--months`` months of arrivals of the processed dataset and runs the whole
training pipeline (backtest, choices out of fold, refit) on the data a hotel had at the cut-off:
every arrival before them, and the held-out bookings made by then as they stood that day (still on
the books, or cancelled by then; nothing later). Then asks the model both questions on the held-out months:

- **at booking**: every held-out arrival judged the day it was made, beside the plain XGBoost
  baseline trained on the same rows (ROC AUC, and the distance to the backtest mean the pipeline
  reported on its own training data);
- **on the books**: the bookings on the books at the end of the cut-off's last day (made by then,
  arriving in the held-out months, not cancelled by then), judged as of that day — per booking
  (ROC AUC, Brier, calibration in the large) and summed per hotel and night (WAPE, bias, the share
  of nights inside the 80% interval) — beside today's creation-time pipeline (the model's
  at-booking head, judging them as of their booking date) and the historical cancellation curve.

Nothing here is tuned on the held-out months; run it once per design, and read it, do not
optimise against it. Every reading is appended to a ledger (``reports/holdout_readings.md``): when,
of which commit, what was read, and the headline figures, so how often the months were looked at is
on record beside the figures themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_engineering.src.files.writing import read_processed  # noqa: E402
from data_engineering.src.initialize_data import TransformParams  # noqa: E402
from data_engineering.src.params import read_section  # noqa: E402
from data_engineering.src.paths import REPO_ROOT, REPORTS_DIR, display_path, processed_file  # noqa: E402
from data_engineering.src.schema import NON_BOOKING_COLUMNS, TARGET  # noqa: E402
from data_engineering.transformation import get_transformation  # noqa: E402
from data_science.backtest.params import BacktestParams, TrainParams  # noqa: E402
from data_science.baselines import BaselineParams, historical_curve, plain_xgboost  # noqa: E402
from data_science.nightly import forecast, stays  # noqa: E402
from data_science.performance_estimate import estimate  # noqa: E402
from data_science.quality import classification_metrics, nightly_accuracy, probability_metrics  # noqa: E402
from data_science.register import git_commit  # noqa: E402
from data_science.snapshots import known_outcome, on_the_books  # noqa: E402
from data_science.train import train  # noqa: E402


def on_the_books_figures(
    books: pd.DataFrame, probability: np.ndarray, first: pd.Timestamp, last: pd.Timestamp
) -> dict[str, Any]:
    """Per booking and per hotel-night figures of one set of probabilities for the bookings on the books."""
    held = stays(books, probability)  # with each booking's party, which the standard error needs
    nights = forecast(held, first_night=first, last_night=last, hotels=None)
    parties = held["group"].to_numpy()
    return {**probability_metrics(books[TARGET].to_numpy(), probability, parties), **nightly_accuracy(nights)}


# Every reading of the held-out months, committed in git beside the metrics (a user's workspace,
# HOTEL_WORKSPACE, keeps its own).
HOLDOUT_LEDGER = REPORTS_DIR / "holdout_readings.md"
# The sets of probabilities compared on the bookings on the books, in the order they are printed.
COMPARED = ("pipeline", "creation_time_pipeline", "historical_curve")


def commit_subject() -> str:
    """The checked-out commit's subject line: what a reading is of, unless ``--why`` says."""
    try:
        return subprocess.run(
            ["git", "log", "-1", "--format=%s"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(no commit)"


def holdout_report(
    frame: pd.DataFrame,
    months: int,
    version: str,
    *,
    folds: BacktestParams,
    params: TrainParams,
    baseline: BaselineParams,
) -> dict[str, Any]:
    """Train on what was known at the cut-off before the newest ``months`` months of ``frame``'s
    arrivals, and ask both questions of those months (the module's docstring says which figures)."""
    transformation = get_transformation(version)
    frame = frame[known_outcome(frame)].reset_index(drop=True)
    arrival = pd.to_datetime(frame["arrival_date"])
    start = (arrival.max().to_period("M") - (months - 1)).to_timestamp()
    end = arrival.max()
    before, held = frame[arrival < start], frame[arrival >= start].reset_index(drop=True)
    print(
        f"holdout-check: pipeline trained on {len(before):,} arrivals before {start.date()}, "
        f"{len(held):,} held out ({start.date()} to {end.date()})"
    )
    started = time.perf_counter()
    day = start - pd.Timedelta(days=1)
    trained = train(frame, folds, params, version, day=day)
    model, means = trained.model, trained.backtest.means

    # At booking: every held-out arrival, the day it was made. The label-free estimate comes first,
    # from the probabilities alone (the outcome and post-booking columns are dropped before it).
    probability = model.predict(held.drop(columns=list(NON_BOOKING_COLUMNS))).probability
    estimated = estimate(probability, model.threshold)
    y = held[TARGET].to_numpy()
    ours = classification_metrics(y, probability, model.threshold)
    plain_p = plain_xgboost(baseline.plain_xgboost, baseline.seed)(before, start)(held)
    plain = classification_metrics(y, plain_p, 0.5)

    # On the books at the end of the cut-off's last day, judged as of it.
    books = on_the_books(held, day, transformation)
    at_booking = model.at_booking or model
    curve = historical_curve(params)(before, start)
    books_probability = model.predict(books.drop(columns=list(NON_BOOKING_COLUMNS))).probability
    estimated_books = estimate(books_probability, model.threshold)
    as_of = {
        "pipeline": on_the_books_figures(books, books_probability, start, end),
        "creation_time_pipeline": on_the_books_figures(
            books, at_booking.predict(books.assign(as_of=books["booking_date"])).probability, start, end
        ),
        "historical_curve": on_the_books_figures(books, curve(books), start, end),
    }
    return {
        "held_out": {"start": str(start.date()), "end": str(end.date()), "rows": len(held)},
        "trained_on_rows": len(before),
        "at_booking": {
            "pipeline": ours,
            "plain_xgboost": plain,
            "backtest_roc_auc_mean": means["roc_auc_mean"],
            "margin_over_plain": ours["roc_auc"] - plain["roc_auc"],
            "distance_to_backtest_mean": ours["roc_auc"] - means["roc_auc_mean"],
            "estimated": estimated.as_dict(),
            "realised_rate": float(y.mean()),
        },
        "on_the_books": {
            "as_of": str(day.date()),
            "rows": len(books),
            **as_of,
            "estimated": estimated_books.as_dict(),
            "backtest_means": {
                "roc_auc": means["roc_auc_on_the_books_mean"],
                "brier": means["brier_on_the_books_mean"],
                "calibration_in_the_large": means["calibration_in_the_large_on_the_books_mean"],
                "wape": means["nightly_wape_mean"],
                "bias": means["nightly_bias_mean"],
                "coverage_80": means["nightly_coverage_80_mean"],
            },
        },
        "backtest_folds": trained.backtest.folds,
        "seconds": round(time.perf_counter() - started, 1),
    }


def print_report(report: dict[str, Any]) -> None:
    booked, books = report["at_booking"], report["on_the_books"]
    ours, plain = booked["pipeline"], booked["plain_xgboost"]
    print(
        f"holdout-check: at booking, ROC AUC on the held-out months: pipeline {ours['roc_auc']:.4f}, plain XGBoost "
        f"{plain['roc_auc']:.4f} (margin {booked['margin_over_plain']:+.4f}); the pipeline's own "
        f"backtest mean {booked['backtest_roc_auc_mean']:.4f} (held-out minus mean "
        f"{booked['distance_to_backtest_mean']:+.4f})"
    )
    for label, guess, realised_auc, realised_rate in (
        ("at booking", booked["estimated"], ours["roc_auc"], booked["realised_rate"]),
        (
            "on the books",
            books["estimated"],
            books["pipeline"]["roc_auc"],
            books["pipeline"]["realised_rate"],
        ),
    ):
        print(
            f"holdout-check: estimated before any outcome ({label}): ROC AUC {guess['roc_auc']:.4f} (realised "
            f"{realised_auc:.4f}, error {guess['roc_auc'] - realised_auc:+.4f}), cancellation rate "
            f"{guess['cancellation_rate']:.4f} (realised {realised_rate:.4f}, error "
            f"{guess['cancellation_rate'] - realised_rate:+.4f})"
        )
    held = report["held_out"]
    print(
        f"holdout-check: on the books at the end of {books['as_of']}: {books['rows']:,} bookings arriving "
        f"{held['start']} to {held['end']}"
    )
    for name in (*COMPARED, "backtest_means"):
        figures = books[name]
        print(
            f"holdout-check:   {name.replace('_', ' '):<26} ROC AUC {figures['roc_auc']:.4f}, Brier {figures['brier']:.4f}, "
            f"calibration in the large {figures['calibration_in_the_large']:+.4f}"
            + (
                f" (± {figures['calibration_in_the_large_se']:.4f} by chance, 1 s.e.)"
                if "calibration_in_the_large_se" in figures
                else ""
            )
            + f"; per hotel and night: WAPE "
            f"{figures['wape']:.3f}, bias {figures['bias']:+.1%}, 80% interval held {figures['coverage_80']:.0%} of nights"
        )


LEDGER_HEADER = """# Readings of the held-out months

Every `./cli.sh holdout-check` appends a row here: the held-out months are worth something only
while nobody has tuned on them, and what was read, when, and of which commit is the record of that.
A reading decides nothing by itself; which designs went in, and why, is in the commit history and
`data_science/README.md`. Commit this file with the change it judged.

"""
LEDGER_COLUMNS = (
    "read (UTC)",
    "commit",
    "what was read",
    "held out",
    "on the books: rows",
    "WAPE",
    "bias",
    "nights in the 80% interval",
    "ROC AUC",
    "calibration in the large",
    "at booking: ROC AUC (plain XGBoost)",
    "estimate's ROC AUC error (at booking / on the books)",
)


def ledger_row(report: dict[str, Any], why: str, commit: str, at: dt.datetime) -> str:
    """One reading as a row of the ledger's table."""
    booked, books = report["at_booking"], report["on_the_books"]
    ours = books["pipeline"]
    held = report["held_out"]
    cells = (
        at.strftime("%Y-%m-%d %H:%M"),
        commit[:12] + ("-dirty" if commit.endswith("-dirty") else ""),
        " ".join(why.split()).replace("|", "/"),
        f"{held['start']} to {held['end']} ({held['rows']:,})",
        f"{books['rows']:,} at {books['as_of']}",
        f"{ours['wape']:.3f}",
        f"{ours['bias']:+.1%}",
        f"{ours['coverage_80']:.0%}",
        f"{ours['roc_auc']:.4f}",
        f"{ours['calibration_in_the_large']:+.4f} ± {ours['calibration_in_the_large_se']:.4f}",
        f"{booked['pipeline']['roc_auc']:.4f} ({booked['plain_xgboost']['roc_auc']:.4f})",
        (
            f"{booked['estimated']['roc_auc'] - booked['pipeline']['roc_auc']:+.4f} / "
            f"{books['estimated']['roc_auc'] - ours['roc_auc']:+.4f}"
        ),
    )
    return "| " + " | ".join(cells) + " |\n"


LEDGER_TABLE_HEADER = "| " + " | ".join(LEDGER_COLUMNS) + " |\n|" + "---|" * len(LEDGER_COLUMNS) + "\n"


def record(report: dict[str, Any], why: str, ledger: Path, commit: str, at: dt.datetime) -> None:
    """Append the reading to ``ledger``; the table's header first when the file has none (a new
    file gets the ledger's introduction too)."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    text = ledger.read_text() if ledger.exists() else ""
    if LEDGER_TABLE_HEADER not in text:
        section = "## Recorded by holdout-check\n\n" + LEDGER_TABLE_HEADER
        text = (text.rstrip("\n") + "\n\n" + section) if text else LEDGER_HEADER + section
    ledger.write_text(text + ledger_row(report, why, commit, at))


def writable(path: Path) -> str | None:
    """Why ``path`` cannot be written (None: it can), asked before the minutes of training."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    if not existed:
        path.unlink()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh holdout-check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--months", type=int, default=3, help="newest months of arrivals held out (default 3)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--why",
        help="what this reading is of, for the ledger (default: the commit's subject line)",
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        default=HOLDOUT_LEDGER,
        help=f"where the reading is recorded (default {display_path(HOLDOUT_LEDGER)})",
    )
    ns = parser.parse_args(argv)
    if ns.months < 1:
        parser.error("--months must be at least 1")
    for path in (ns.ledger, ns.json):
        problem = path and writable(path)
        if problem:
            print(f"holdout-check: error: {problem}; nothing was run", file=sys.stderr)
            return 1
    version = read_section("transform", TransformParams).version
    source = processed_file(version)
    if not source.exists():
        print(
            f"holdout-check: error: no processed bookings at {display_path(source)}: "
            "run ./cli.sh dvc-init-pipeline first",
            file=sys.stderr,
        )
        return 1
    report = holdout_report(
        read_processed(version, source),
        ns.months,
        version,
        folds=read_section("backtest", BacktestParams),
        params=read_section("train", TrainParams),
        baseline=read_section("baselines", BaselineParams),
    )
    print_report(report)
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2, default=float) + "\n")
    record(report, ns.why or commit_subject(), ns.ledger, git_commit(), dt.datetime.now(dt.UTC))
    print(
        f"holdout-check: reading recorded in {display_path(ns.ledger)} (commit it with the change it judged)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
