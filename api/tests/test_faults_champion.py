"""The fault suite's API cases (``./cli.sh test fault``) of champions that must not be served: each
counts what was sent and what was kept.

Real servers (``python -m api.launcher``, what ``./cli.sh serve-api`` runs) following the champion
alias of registries holding versions that must not be served. Every case records its figures
through ``fault_case``; README's Reliability table is generated from them.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import mlflow
import pytest

from api.tests.fleet import following_fleet
from api.tests.servers import read_json, start_server, start_up_failure, stop_server, wait_ready
from api.tests.traffic import promote_a_new_version
from data_engineering.src.ports import free_port, wait_until
from data_science.integrity import checksum_file
from data_science.model_bundle import BOOSTER_FILE
from data_science.tracking import CHAMPION, MODEL_NAME

pytestmark = [pytest.mark.fault, pytest.mark.slow]


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


def test_broken_champion_running_workers_keep_serving_and_a_new_server_says_why(
    registry, booking, tmp_path, fault_case
) -> None:
    with following_fleet(registry, booking, tmp_path) as fleet:
        broken = _register_without_artifacts(tmp_path)
        assert wait_until(fleet.failing, 30), "no failure shown"
        time.sleep(3)  # both workers have checked more than once
        ready = httpx.get(f"{fleet.url}/ready")
        model = read_json(f"{fleet.url}/model")
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
        failure = read_json(f"{fleet.url}/ready")["model_load_failure"]
        unrecorded = promote_a_new_version(tmp_path, 0.5, damage=_truncate_booster_unrecorded, source=first)
        assert wait_until(
            lambda: (
                (read_json(f"{fleet.url}/ready")["model_load_failure"] or {}).get("version") == unrecorded
            ),
            60,
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
