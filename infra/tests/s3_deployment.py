"""What test_s3_and_scheduler.py reads its deployment with, besides its fixtures: the bucket and
the outputs its DVC remote must restore, the emulator's client variables, git and the copy's dvc,
the retraining record and the registry's champion. The fixtures stay in that module: one
deployment, trained once by the scheduler, serves its tests in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section

BUCKET = "hotel-artifacts"
MODEL = "hotel-cancellation"
VERSION = read_section("transform", TransformParams).version  # the processed file dvc.yaml names
# DVC outputs of dvc.yaml that the remote must restore: the data, the model and the backtest's
# out-of-fold predictions (the model's and the baselines').
RESTORED = (
    "data/raw/hotel_bookings.csv",
    f"data/processed/bookings_{VERSION}.csv",
    "models/model",
    "models/oof_predictions.csv",
    "models/baselines_oof.csv",
)


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents)."""
    sha = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        sha.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        sha.update(file.read_bytes())
    return sha.hexdigest()


def s3_env(endpoint: str) -> dict[str, str]:
    """What the S3 clients (DVC's s3fs, MLflow's boto3) need for the emulator."""
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret (the emulator accepts any credentials)
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "commit", "-qm", message)


def dvc(repo: Path, cwd: Path, env: dict[str, str], *args: str) -> str:
    """Run the copy's dvc in ``cwd``; fail with its output unless it succeeds."""
    argv = [str(repo / ".venv" / "bin" / "dvc"), *args]
    result = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def retrain_record(repo: Path, run_id: str) -> dict:
    """What ``./cli.sh retrain-record`` wrote for a run of hotel_retrain."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    return json.loads((repo / "reports" / "retraining" / f"{name}.json").read_text())


def champion_version(tracking: str) -> dict:
    """The registry's ``champion`` model version (as MLflow's REST API gives it)."""
    import httpx

    answer = httpx.get(
        f"{tracking}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL, "alias": "champion"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["model_version"]


def on_the_books(source: Path, day: dt.date) -> int:
    """How many bookings of a generated file were on the books at the end of ``day``."""
    import pandas as pd

    from api.tests.helpers import on_the_books as books

    return int(books(pd.read_csv(source, dtype=str, keep_default_na=False), day).sum())
