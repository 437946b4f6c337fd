"""The fault suite's API cases (``./cli.sh test fault``) of the MLflow tracking server: each counts
what was sent and what was kept.

Real servers (``python -m api.launcher``, what ``./cli.sh serve-api`` runs) following the champion
alias of a real MLflow tracking server, stopped and started again. Every case records its figures
through ``fault_case``; README's Reliability table is generated from them.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pytest

from api.tests.fleet import following_fleet
from api.tests.servers import start_up_failure
from api.tests.traffic import promote_a_new_version
from data_engineering.src.ports import free_port, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _mlflow_server(store: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _mlflow_up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_mlflow_server_stopped_while_workers_follow_the_alias(
    served_workspace, booking, tmp_path, monkeypatch: pytest.MonkeyPatch, fault_case
) -> None:
    store = tmp_path / "mlflow.db"
    shutil.copy(served_workspace.root / "mlflow.db", store)
    mlflow_port = free_port()
    tracking = f"http://127.0.0.1:{mlflow_port}"
    tracker = _mlflow_server(store, mlflow_port)
    try:
        assert wait_until(lambda: _mlflow_up(mlflow_port), 120, interval=0.5), "MLflow server did not start"
        with following_fleet(tracking, booking, tmp_path) as fleet:
            tracker.send_signal(signal.SIGTERM)
            tracker.wait(timeout=30)
            down_from = len(fleet.traffic.answers)
            time.sleep(8)  # eight periods of the watcher with the registry gone
            during = len(fleet.traffic.answers) - down_from
            started = time.monotonic()
            refused_code, refused_output = start_up_failure(fleet.env, "--require-model")
            refused_seconds = time.monotonic() - started
            tracker = _mlflow_server(store, mlflow_port)
            assert wait_until(lambda: _mlflow_up(mlflow_port), 120, interval=0.5), "MLflow did not restart"
            monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
            mlflow.set_tracking_uri(tracking)
            new_version = promote_a_new_version(tmp_path, threshold=0.999)
            promoted = time.time()
            assert wait_until(
                lambda: fleet.traffic.switched_to(new_version, promoted, last=50), 60, interval=0.2
            )
    finally:
        tracker.terminate()
        tracker.wait(timeout=30)
    fleet.record(
        fault_case,
        "MLflow tracking server stopped while 2 workers follow the champion alias",
        f"{during:,} answered with the server down; a new server exited {refused_code} after "
        f"{refused_seconds:.0f} s saying the tracking server does not answer; once it was back, the next "
        "champion was served without a restart",
    )
    assert fleet.traffic.statuses() == {200: len(fleet.traffic.answers)}
    assert during > 0
    assert refused_code == 1, refused_output
    assert f"the MLflow tracking server {tracking} does not answer" in refused_output
    assert "dvc-init-pipeline" not in refused_output  # the model is there: the server is not
    assert refused_seconds < 60, "start-up waited on MLflow's retries"
    assert "Traceback" not in fleet.output + refused_output
