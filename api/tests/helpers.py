"""Helpers of the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mlflow
import sqlalchemy as sa

from api.settings import Settings
from data_engineering.src.paths import REPO_ROOT
from data_science.model import CancellationModel
from data_science.pyfunc import HotelCancellationPyfunc
from data_science.tracking import BUNDLE_ARTIFACT, CHAMPION, MODEL_NAME, resolve


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def logged_ids(url: str, ids: Sequence[str | None]) -> set[str]:
    """Which of these request ids are in the predictions table."""
    from api.prediction_log import predictions

    engine = sa.create_engine(url)
    found: set[str] = set()
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                query = sa.select(predictions.c.request_id).where(
                    predictions.c.request_id.in_(ids[start : start + 1000])
                )
                found.update(conn.execute(query).scalars())
    finally:
        engine.dispose()
    return found


def api_settings(log_url: str, **overrides: Any) -> Settings:
    """Explicit settings, so that a developer's API_* variables cannot change a test."""
    values: dict[str, Any] = {
        "model_uri": f"models:/{MODEL_NAME}@{CHAMPION}",
        "database_url": log_url,
        "admin_key": None,
        "reasons": 3,
        "prediction_log": True,
        "log_flush_seconds": 0.05,
        "log_retry_max_seconds": 0.5,
        "db_timeout_seconds": 2.0,
        "model_refresh_seconds": 0,  # tests that want the champion watcher say so
    }
    return Settings(**(values | overrides))


def start_server(port: int, env: dict[str, str], *args: str) -> subprocess.Popen:
    """``python -m api.serve`` as ./cli.sh serve-api runs it, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.serve", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_up_failure(env: dict[str, str]) -> tuple[int, str]:
    """A server expected to refuse to start: its exit code and everything it printed."""
    server = start_server(free_port(), env)
    try:
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    return server.returncode, output


def promote_a_new_version(tmp_path: Path, threshold: float) -> str:
    """Register a second version (the champion's bundle with another threshold) and make it
    the champion, as the pipeline would after a better training run."""
    bundle = CancellationModel.load(resolve(None, dst=tmp_path / "current").local_dir)
    bundle.threshold = threshold
    bundle.save(tmp_path / "bundle")
    mlflow.set_tracking_uri(mlflow.get_tracking_uri())
    experiment = mlflow.get_experiment_by_name(MODEL_NAME)
    assert experiment is not None, f"no {MODEL_NAME} experiment: train first"
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HotelCancellationPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(tmp_path / "bundle")},
            registered_model_name=MODEL_NAME,
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return version
