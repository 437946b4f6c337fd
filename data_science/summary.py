"""The short summary ``./cli.sh dvc-init-pipeline`` prints after ``dvc repro``."""

from __future__ import annotations

import json
import sys

from data_engineering.src.paths import METRICS_FILE
from data_science.tracking import CHAMPION, MODEL_NAME, NoModelError, tracking_uri


def main() -> int:
    if not METRICS_FILE.exists():
        print("summary: no reports/metrics.json: the evaluate stage has not run", file=sys.stderr)
        return 1
    report = json.loads(METRICS_FILE.read_text())
    window = report["validation_window"]
    print(f"model:      {report['model']}")
    print(
        f"validation: {window['validation_rows']:,} bookings arriving {window['validation_start']} to "
        f"{window['validation_end']} (trained on {window['train_rows']:,} earlier arrivals)"
    )
    print(
        f"metrics:    ROC AUC {report['roc_auc']:.4f} | PR AUC {report['pr_auc']:.4f} | Brier {report['brier']:.4f} | "
        f"F1 {report['f1']:.4f} | precision {report['precision']:.4f} | recall {report['recall']:.4f} "
        f"at threshold {report['threshold']:.3f}"
    )
    baseline = report["baselines"]["logistic_regression"]["roc_auc"]
    print(f"baselines:  logistic regression ROC AUC {baseline:.4f}, majority class 0.5000")
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
        champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    except MlflowException as exc:
        raise NoModelError(f"no registered {MODEL_NAME}@{CHAMPION}: {exc.message}") from exc
    # search results do not carry aliases: fetch the newest version itself.
    latest = client.get_model_version(MODEL_NAME, max(int(v.version) for v in versions))
    aliases = ", ".join(latest.aliases) or "no alias"
    print(f"registry:   {MODEL_NAME} version {latest.version} ({aliases})  [{tracking_uri()}]")
    if champion.version == latest.version:
        print(f"champion:   version {champion.version}, the newest model")
    else:
        print(f"champion:   unchanged, version {champion.version} (the newest version did not beat it)")
    print("next:       ./cli.sh predict-batch IN.csv OUT.csv | ./cli.sh start-mlflow-ui | dvc metrics show")
    return 0


if __name__ == "__main__":
    sys.exit(main())
