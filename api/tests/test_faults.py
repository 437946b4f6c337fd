"""The fault suite's API cases (``./cli.sh test fault``): each counts what was sent and what was kept.

Real servers (``python -m api.launcher``, what ``./cli.sh serve-api`` runs), a PostgreSQL of the
test's own that it stops and starts, a real MLflow tracking server, registries holding versions
that must not be served. Every case records its figures through ``fault_case``; README's
Reliability table is generated from them.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import sqlalchemy as sa

from api.migrate import upgrade
from api.tests.helpers import (
    Traffic,
    logged_ids,
    promote_a_new_version,
    start_server,
    start_up_failure,
    stop_server,
    wait_ready,
)
from data_engineering.src.ports import free_port, wait_until
from data_science.integrity import checksum_file
from data_science.model_bundle import BOOSTER_FILE
from data_science.tracking import CHAMPION, MODEL_NAME

pytestmark = [pytest.mark.fault, pytest.mark.slow]

CLIENTS = 4
OUTAGE_AFTER, OUTAGE_SECONDS, LOAD_SECONDS = 20.0, 20.0, 60.0
FAILED_GAUGE = "hotel_api_model_load_failed 1.0"


def _json(url: str) -> Any:
    """GET a JSON route, whatever its status (/ready answers 503 with its reasons)."""
    return httpx.get(url, timeout=10).json()


def _stored(url: str, ids: list[str]) -> set[str]:
    try:
        return logged_ids(url, ids)
    except sa.exc.OperationalError:  # the database is still coming back
        return set()


def _rows_for(url: str, ids: list[str]) -> int:
    """Rows of the predictions table carrying these request ids (duplicates would count twice)."""
    from api.prediction_table import predictions

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            total = 0
            for start in range(0, len(ids), 1000):
                query = sa.select(sa.func.count()).where(
                    predictions.c.request_id.in_(ids[start : start + 1000])
                )
                total += conn.execute(query).scalar_one()
    finally:
        engine.dispose()
    return total


@pytest.fixture
def registry(served_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the session's registry (its champion version 1), as this process's and the
    servers' tracking URI: a test may register broken versions without touching the others'."""
    store = tmp_path / "mlflow.db"
    shutil.copy(served_workspace.root / "mlflow.db", store)
    uri = f"sqlite:///{store}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    # The registry too: an app started in this process before (data_science.tracking.configure)
    # left MLflow's registry URI on the session's store, where a broken version would go unseen.
    mlflow.set_registry_uri(uri)
    return uri


def _truncate_booster(bundle: Path) -> None:
    booster = bundle / BOOSTER_FILE
    booster.write_bytes(booster.read_bytes()[:1000])  # XGBoost crashes (SIGSEGV) on this file


def _truncate_booster_unrecorded(bundle: Path) -> None:
    """A damaged booster saved before boosters had checksums: only a child process can tell."""
    _truncate_booster(bundle)
    checksum_file(bundle / BOOSTER_FILE).unlink()


def _register_without_artifacts(tmp_path: Path) -> str:
    """A version whose files never reached the artifact store, and the alias on it."""
    client = mlflow.MlflowClient()
    empty = tmp_path / "never-uploaded"
    empty.mkdir()
    version = str(client.create_model_version(MODEL_NAME, source=str(empty), run_id=None).version)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return version


@pytest.mark.postgres
def test_postgresql_outage_under_load_loses_no_answered_prediction(
    served_workspace, cluster, booking, fault_case
) -> None:
    upgrade(cluster.url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "MLFLOW_TRACKING_URI": served_workspace.tracking_uri,
        "DATABASE_URL": cluster.url,
        "API_LOG_RETRY_MAX_SECONDS": "1",
    }
    server = start_server(port, env)
    try:
        wait_ready(server, url)
        with Traffic(url, booking, clients=CLIENTS, keep_alive=True) as traffic:
            started = time.monotonic()
            time.sleep(OUTAGE_AFTER)
            cluster.stop()
            time.sleep(OUTAGE_SECONDS)
            on_disk = _json(f"{url}/ready")["prediction_log"]["queued"]
            cluster.start()
            back = time.monotonic()
            assert wait_until(lambda: _json(f"{url}/ready")["status"] == "ready", 30), "log did not resume"
            resumed = time.monotonic() - back
            time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
        assert wait_until(
            lambda: len(_stored(cluster.url, traffic.request_ids)) == len(traffic.request_ids), 120
        ), "not stored"
        ready = _json(f"{url}/ready")
    finally:
        stop_server(server)
    sent, kept = len(traffic.answers), _rows_for(cluster.url, traffic.request_ids)
    fault_case(
        case=f"PostgreSQL stopped for {OUTAGE_SECONDS:.0f} s under load ({CLIENTS} clients, {LOAD_SECONDS:.0f} s)",
        sent=sent,
        kept=kept,
        lost=sent - kept,
        detail=f"every request answered 200; {on_disk:,} answered predictions waited on disk when the "
        f"database came back; writing resumed {resumed:.0f} s later; 0 refused",
    )
    assert traffic.statuses() == {200: sent}
    assert kept == sent == len(set(traffic.request_ids))
    assert ready["prediction_log"]["refused"] == 0


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_api_stopped_while_the_database_is_down_keeps_every_answer(
    how, served_workspace, cluster, booking, *, tmp_path, fault_case
) -> None:
    """Answered while the database is down, then stopped (or killed under load): the next server
    on that database, started before it is back, stores every one of them, once."""
    upgrade(cluster.url)
    env = {
        "MLFLOW_TRACKING_URI": served_workspace.tracking_uri,
        "DATABASE_URL": cluster.url,
        "API_LOG_RETRY_MAX_SECONDS": "0.5",
        "API_LOG_SPILL_DIR": str(tmp_path / "spill"),  # both servers' (a replica's restart)
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_server(port, env)
    try:
        wait_ready(first, url)
        with Traffic(url, booking, clients=CLIENTS, keep_alive=True) as traffic:
            time.sleep(3)
            cluster.stop()
            time.sleep(4)
            if how == "SIGKILL":
                first.kill()  # mid-request: whatever it had answered is only on its disk
            else:
                first.terminate()
            output, _ = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    answered = list(traffic.request_ids)
    second = start_server(port, env)
    try:
        wait_ready(second, url, route="/health")
        waiting = _json(f"{url}/ready")["prediction_log"]["queued"]  # claimed, the database still down
        cluster.start()
        assert wait_until(lambda: len(_stored(cluster.url, answered)) == len(answered), 60), "not stored"
    finally:
        second_output = stop_server(second)
    kept = _rows_for(cluster.url, answered)
    errors = sum(count for status, count in traffic.statuses().items() if status != 200)
    fault_case(
        case=f"API {'killed (SIGKILL)' if how == 'SIGKILL' else 'stopped (SIGTERM)'} while PostgreSQL is "
        "down, then started again",
        sent=len(answered),
        kept=kept,
        lost=len(answered) - kept,
        detail=f"{waiting:,} answered predictions taken over from disk by the next server before the "
        f"database was back, each stored once; {errors:,} requests made during or after the {how} got "
        "an error, not an answer",
    )
    assert kept == len(answered) == len(set(answered))
    if how == "SIGTERM":
        assert "are stored when the API starts again on this database" in output, output[-2000:]
    assert "storing them" in second_output, second_output[-2000:]


@dataclass
class Fleet:
    """Two workers following the alias (every second) while clients predict."""

    url: str
    env: dict[str, str]
    traffic: Traffic
    output: str = ""  # everything the server printed, once stopped

    def failing(self) -> bool:
        return FAILED_GAUGE in httpx.get(f"{self.url}/metrics").text

    def record(self, fault_case: Callable[..., Path], case: str, detail: str) -> None:
        sent, kept = len(self.traffic.answers), self.traffic.statuses().get(200, 0)
        fault_case(case=case, sent=sent, kept=kept, lost=sent - kept, detail=detail)


@contextmanager
def following_fleet(tracking: str, booking: dict, tmp_path: Path) -> Iterator[Fleet]:
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": tracking,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "API_MODEL_REFRESH_SECONDS": "1",
    }
    server = start_server(port, env, "--workers", "2")
    fleet = None
    try:
        wait_ready(server, f"http://127.0.0.1:{port}")
        with Traffic(f"http://127.0.0.1:{port}", booking, clients=2) as traffic:
            assert wait_until(lambda: len(traffic.answers) >= 20, 30), "no predictions"
            fleet = Fleet(f"http://127.0.0.1:{port}", env, traffic)
            yield fleet
    finally:
        output = stop_server(server)
        if fleet is not None:
            fleet.output = output


def test_broken_champion_running_workers_keep_serving_and_a_new_server_says_why(
    registry, booking, tmp_path, fault_case
) -> None:
    with following_fleet(registry, booking, tmp_path) as fleet:
        broken = _register_without_artifacts(tmp_path)
        assert wait_until(fleet.failing, 30), "no failure shown"
        time.sleep(3)  # both workers have checked more than once
        ready = httpx.get(f"{fleet.url}/ready")
        model = _json(f"{fleet.url}/model")
        started = time.monotonic()
        refused_code, refused_output = start_up_failure(
            fleet.env | {"API_MODEL_REFRESH_SECONDS": "0"}, "--require-model"
        )
        refused_seconds = time.monotonic() - started
        lenient_port = free_port()
        lenient = start_server(lenient_port, fleet.env, "--no-require-model")
        try:
            lenient_url = f"http://127.0.0.1:{lenient_port}"
            wait_ready(lenient, lenient_url, route="/health")
            lenient_ready = httpx.get(f"{lenient_url}/ready")
            lenient_predict = httpx.post(f"{lenient_url}/predict", json=booking)
        finally:
            stop_server(lenient)
    fleet.record(
        fault_case,
        "A champion whose files are missing, for 2 running workers and for a new server",
        f"the running workers kept answering with version 1 and said why on /ready, /model and "
        f"/metrics; a new server exited {refused_code} in {refused_seconds:.0f} s naming version {broken}, "
        "or, with --no-require-model, answered /ready 503 with the reason",
    )
    traffic = fleet.traffic
    assert traffic.statuses() == {200: len(traffic.answers)}
    assert {version for _, _, version in traffic.answers} == {"1"}
    reason_start = f"champion version {broken}: "
    assert ready.status_code == 200  # still serving: taking every replica out would stop the service
    assert ready.json()["model_load_failure"]["version"] == broken
    assert ready.json()["model_load_failure"]["reason"].startswith(reason_start)
    assert model["version"] == "1"
    assert model["load_failure"]["version"] == broken
    assert refused_code == 1, refused_output
    assert f"cannot start the API: {reason_start}" in refused_output
    assert "Traceback" not in refused_output
    assert lenient_ready.status_code == 503
    assert lenient_ready.json()["reasons"][0].startswith(f"no model loaded: {reason_start}")
    assert lenient_predict.status_code == 503
    # Each worker said it once, not every second.
    assert fleet.output.count(f"champion watcher: {reason_start}") == 2, fleet.output[-3000:]


def test_corrupt_booster_promoted_while_workers_run_kills_no_worker(
    registry, booking, tmp_path, fault_case
) -> None:
    first = f"models:/{MODEL_NAME}/1"
    with following_fleet(registry, booking, tmp_path) as fleet:
        damaged = promote_a_new_version(tmp_path, threshold=0.5, damage=_truncate_booster)
        assert wait_until(fleet.failing, 30), "no failure shown"
        time.sleep(3)
        failure = _json(f"{fleet.url}/ready")["model_load_failure"]
        unrecorded = promote_a_new_version(tmp_path, 0.5, damage=_truncate_booster_unrecorded, source=first)
        assert wait_until(
            lambda: (_json(f"{fleet.url}/ready")["model_load_failure"] or {}).get("version") == unrecorded, 60
        )
        time.sleep(5)  # both workers have had it checked in a child process
        good = promote_a_new_version(tmp_path, threshold=0.999, source=first)
        promoted = time.time()
        assert wait_until(lambda: fleet.traffic.switched_to(good, promoted, last=50), 60, interval=0.2)
    deaths = fleet.output.count(" died")
    fleet.record(
        fault_case,
        "A damaged booster (cut to 1,000 bytes) promoted while 2 workers serve",
        f"{deaths} workers died (XGBoost never read the file: its checksum, or a child process for a "
        "booster without one, refused it); the next good version was served within seconds",
    )
    assert fleet.traffic.statuses() == {200: len(fleet.traffic.answers)}
    assert deaths == 0, fleet.output[-3000:]
    assert failure["version"] == damaged
    assert f"champion version {damaged}: booster.ubj is damaged (1,000 bytes" in failure["reason"]
    assert f"champion version {unrecorded}: booster.ubj crashed XGBoost (SIGSEGV)" in fleet.output
    assert "Segmentation fault" not in fleet.output


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
