"""The short summary ``./cli.sh dvc-init-pipeline`` prints after ``dvc repro``."""

from __future__ import annotations

import json
import sys
from typing import Any

from data_engineering.src.paths import METRICS_FILE
from data_science.tracking import (
    CHAMPION,
    CHAMPION_URI,
    MODEL_NAME,
    configure,
    registered_model_version,
    tracking_uri,
)

# What to run next, each a command of ./cli.sh (dvc itself lives in .venv, not on PATH).
NEXT = "./cli.sh serve-api | ./cli.sh predict-batch IN.csv OUT.csv | ./cli.sh start-mlflow-ui | ./cli.sh dvc metrics show"


def span(folds: list[dict[str, Any]], key: str) -> str:
    """The windows' lowest to highest value of ``key``: where a later window fell."""
    values = [fold[key] for fold in folds]
    return f"windows {min(values):.4f}-{max(values):.4f}"


def main() -> int:
    if not METRICS_FILE.exists():
        print("summary: no reports/metrics.json: the evaluate stage has not run", file=sys.stderr)
        return 1
    report = json.loads(METRICS_FILE.read_text())
    window, backtest = report["training_window"], report["backtest"]
    folds = backtest["folds"]
    print(f"model:      {report['model']} ({report['transformation']}, {backtest['n_trees']} trees)")
    print(
        "questions:  P(cancelled | judged the day it is made); P(cancelled after day T | on the books at T)"
    )
    print(
        f"trained on: {window['train_rows']:,} bookings arriving {window['train_start']} to {window['train_end']} "
        "(refit on all of them)"
    )
    print(
        f"on later windows (backtest, {len(folds)} folds {folds[0]['start']} to {folds[-1]['end']}, each "
        "scored by a model trained before it):\n"
        f"  at booking:   ROC AUC {backtest['roc_auc_mean']:.4f} ({span(folds, 'roc_auc')}) | PR AUC "
        f"{backtest['pr_auc_mean']:.4f} | Brier {backtest['brier_mean']:.4f} | F1 {backtest['f1_mean']:.4f} at "
        f"threshold {report['threshold']:.3f}\n"
        f"  on the books: ROC AUC {backtest['roc_auc_on_the_books_mean']:.4f} ({span(folds, 'roc_auc_on_the_books')}) "
        f"| Brier {backtest['brier_on_the_books_mean']:.4f}; cancellations per hotel and night: WAPE "
        f"{backtest['nightly_wape_mean']:.3f}, bias {backtest['nightly_bias_mean']:+.1%}, 80% interval held "
        f"{backtest['nightly_coverage_80_mean']:.0%} of nights"
    )
    if "estimate_error_roc_auc_mean" in backtest:
        # The level moves between windows: the figure to expect for new bookings is their own label-free
        # estimate, and the backtest says how far that estimate can be trusted.
        print(
            "before outcomes: the ROC AUC estimated from the probabilities alone was off by "
            f"{backtest['estimate_error_roc_auc_mean']:.4f} at booking and "
            f"{backtest['estimate_error_roc_auc_on_the_books_mean']:.4f} on the books (mean absolute error over "
            "the windows); for the bookings on the books now: ./cli.sh estimate-performance, the Monitoring page"
        )
    for fold in folds:
        print(
            f"            {fold['start']}..{fold['end']}: {fold['rows']:>6,} bookings, ROC AUC {fold['roc_auc']:.4f}"
            + (f" (estimated {fold['estimated_roc_auc']:.4f})" if "estimated_roc_auc" in fold else "")
            + f", F1 {fold['f1']:.4f} (trained on {fold['train_rows']:,}); {fold['rows_on_the_books']:,} on the "
            f"books at {fold['on_the_books_as_of']}: ROC AUC {fold['roc_auc_on_the_books']:.4f}, nightly WAPE "
            f"{fold['nightly_wape']:.3f}"
        )
    for label, key in (
        ("at booking", "roc_auc_mean"),
        ("on the books", "roc_auc_on_the_books_mean"),
        ("nightly WAPE", "nightly_wape_mean"),
    ):
        values = ", ".join(
            f"{name.replace('_', ' ')} {figures[key]:.4f}"
            for name, figures in report["baselines"].items()
            if key in figures
        )
        print(f"baselines:  {label}, same folds: {values}")
    import mlflow
    from mlflow.exceptions import MlflowException

    configure()  # tracking and registry both from MLFLOW_TRACKING_URI
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
        champion = registered_model_version(client, CHAMPION_URI)
    except MlflowException as exc:
        print(
            f"summary: the registry {tracking_uri()} has no {MODEL_NAME}@{CHAMPION} ({exc.message}); "
            "`./cli.sh register` registers the pipeline's model there",
            file=sys.stderr,
        )
        return 1
    # search results do not carry aliases: fetch the newest version itself.
    latest = client.get_model_version(MODEL_NAME, str(max(int(v.version) for v in versions)))
    aliases = ", ".join(latest.aliases) or "no alias"
    print(f"registry:   {MODEL_NAME} version {latest.version} ({aliases})  [{tracking_uri()}]")
    if champion.version == latest.version:
        print(f"champion:   version {champion.version}, the newest model")
    else:
        print(f"champion:   unchanged, version {champion.version} (the newest version did not beat it)")
    print(f"next:       {NEXT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
