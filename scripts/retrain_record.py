"""``./cli.sh retrain-record [--run-id ID]``: what a retraining run produced, kept where it can be found.

After ``dvc repro`` (the Airflow DAG ``hotel_retrain``, or by hand), this links the two records of
the run: the DVC side (``dvc.lock``: the hash of every stage output, and of the file itself) and
the MLflow side (the run that the register step logged for exactly this data: its
``data_version`` tag is the hash DVC records for the processed bookings; the model version it
registered, and where ``champion`` points now). The record is written to
``reports/retraining/ID.json``, set as tags on that MLflow run (``retrain.*``), and printed as the
last line (the Airflow task's XCom). Exit 1 when dvc.lock or the MLflow run is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys

import yaml

from data_engineering.src.paths import REPO_ROOT, REPORTS_DIR

LOCK_FILE = REPO_ROOT / "dvc.lock"
RECORDS_DIR = REPORTS_DIR / "retraining"


def lock_outputs() -> tuple[str, dict[str, dict[str, str]]]:
    """sha256 of dvc.lock and, per stage, the md5 DVC recorded for each output."""
    text = LOCK_FILE.read_text()
    stages = yaml.safe_load(text).get("stages", {})
    outputs = {
        stage: {out["path"]: out["md5"] for out in entry.get("outs", [])} for stage, entry in stages.items()
    }
    return hashlib.sha256(text.encode()).hexdigest(), outputs


def processed_data_hash(outputs: dict[str, dict[str, str]]) -> str:
    """The hash of the processed bookings the model was trained on (the transform stage's CSV)."""
    processed = {
        path: md5 for path, md5 in outputs.get("transform", {}).items() if path.startswith("data/processed/")
    }
    if len(processed) != 1:
        raise SystemExit(f"retrain-record: dvc.lock has no single processed dataset ({sorted(processed)})")
    return next(iter(processed.values()))


def record(run_id: str) -> dict:
    import mlflow

    from data_science.tracking import (
        CHAMPION_URI,
        EXPERIMENT,
        MODEL_NAME,
        configure,
        registered_model_version,
        tracking_uri,
    )

    if not LOCK_FILE.exists():
        raise SystemExit("retrain-record: no dvc.lock: the pipeline has not run (./cli.sh dvc-repro)")
    lock_sha, outputs = lock_outputs()
    data_hash = processed_data_hash(outputs)
    configure()
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = (
        client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.data_version = '{data_hash}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if experiment
        else []
    )
    if not runs:
        raise SystemExit(
            f"retrain-record: no MLflow run for data version {data_hash} at {tracking_uri()} "
            "(did ./cli.sh register run against this tracking server?)"
        )
    run = runs[0]
    versions = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run.info.run_id}'")
    try:
        champion = registered_model_version(client, CHAMPION_URI).version
    except mlflow.exceptions.MlflowException:
        champion = None
    result = {
        "retrain_run_id": run_id,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dvc_lock_sha256": lock_sha,
        "dvc_outputs": outputs,
        "mlflow_tracking_uri": tracking_uri(),
        "mlflow_run_id": run.info.run_id,
        "model_name": MODEL_NAME,
        "model_versions": sorted((v.version for v in versions), key=int),
        "champion_version": champion,
        "alias_decision": run.data.tags.get("alias_decision"),
    }
    for key, value in (
        ("retrain.run_id", run_id),
        ("retrain.dvc_lock_sha256", lock_sha),
    ):
        client.set_tag(run.info.run_id, key, value)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh retrain-record", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run-id",
        default=f"manual__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}",
        help="id of the retraining run (Airflow passes its run_id; default manual__TIMESTAMP)",
    )
    ns = parser.parse_args(argv)
    result = record(ns.run_id)
    RECORDS_DIR.mkdir(parents=True, exist_ok=True)
    path = RECORDS_DIR / (re.sub(r"[^A-Za-z0-9_.-]", "_", ns.run_id) + ".json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"retrain-record: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}",
        file=sys.stderr,
    )
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
