"""The real server (``python -m api.serve``, what ./cli.sh serve-api runs) under concurrent load
with PostgreSQL logging, two workers following the champion by themselves, and its start-up
when no model is registered."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time

import httpx
import mlflow
import pytest

from api.tests.helpers import (
    free_port,
    logged_ids,
    promote_a_new_version,
    start_server,
    start_up_failure,
    wait_until,
)

CLIENTS, REQUESTS_EACH = 50, 40


def _wait_ready(server: subprocess.Popen, port: int, timeout: float = 90) -> None:
    def ready() -> bool:
        assert server.poll() is None, f"server exited:\n{server.stdout.read() if server.stdout else ''}"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    assert wait_until(ready, timeout, interval=0.2), "server not ready in time"


def _stop(server: subprocess.Popen) -> str:
    server.terminate()
    try:
        output, _ = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    return output


@pytest.mark.postgres
def test_50_concurrent_clients_no_errors_and_every_prediction_logged(
    served_workspace, pg_schema_url, bookings
) -> None:
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": served_workspace.tracking_uri, "DATABASE_URL": pg_schema_url}
    server = start_server(port, env)
    try:
        _wait_ready(server, port)

        async def client(k: int, http: httpx.AsyncClient) -> list[tuple[int, str | None]]:
            out = []
            for i in range(REQUESTS_EACH):
                response = await http.post("/predict", json=bookings[(k * REQUESTS_EACH + i) % len(bookings)])
                out.append((response.status_code, response.json().get("request_id")))
            return out

        async def load() -> list[tuple[int, str | None]]:
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
            ) as http:
                results = await asyncio.gather(*(client(k, http) for k in range(CLIENTS)))
            return [r for per_client in results for r in per_client]

        results = asyncio.run(load())
        statuses = [status for status, _ in results]
        assert statuses.count(200) == CLIENTS * REQUESTS_EACH, {s: statuses.count(s) for s in set(statuses)}
        ids = [request_id for _, request_id in results]
        assert len(set(ids)) == len(ids)
        assert wait_until(lambda: logged_ids(pg_schema_url, ids) == set(ids), 30), "predictions missing"
        ready = httpx.get(f"http://127.0.0.1:{port}/ready").json()
        assert ready["prediction_log"]["dropped"] == 0
    finally:
        _stop(server)


def test_two_workers_switch_to_a_new_champion_by_themselves_without_dropping_a_request(
    served_workspace, booking, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of the registry: the session's champion stays version 1 for every other test.
    store = tmp_path / "mlflow.db"
    shutil.copy(served_workspace.root / "mlflow.db", store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "API_MODEL_REFRESH_SECONDS": "1",
    }
    server = start_server(port, env, "--workers", "2")
    answers: list[tuple[float, int, str | None]] = []  # (time, status, model version)
    stop = threading.Event()

    def keep_predicting() -> None:
        # A new connection per request: the kernel hands connections to either worker.
        while not stop.is_set():
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/predict", json=booking, timeout=30)
                version = response.json().get("model_version") if response.status_code == 200 else None
                answers.append((time.monotonic(), response.status_code, version))
            except httpx.TransportError as exc:
                answers.append((time.monotonic(), 0, repr(exc)))

    clients = [threading.Thread(target=keep_predicting) for _ in range(4)]
    try:
        _wait_ready(server, port)
        for client in clients:
            client.start()
        assert wait_until(lambda: len(answers) >= 40, 30), "no predictions"
        new_version = promote_a_new_version(tmp_path, threshold=0.999)
        promoted_at = time.monotonic()  # the alias has just moved

        def switched() -> bool:
            recent = [version for at, _, version in answers[-200:] if at > promoted_at]
            return len(recent) >= 200 and set(recent) == {new_version}

        assert wait_until(switched, 60, interval=0.2), "the workers did not all switch"
        last_old = max(at for at, _, version in answers if version == "1")
    finally:
        stop.set()
        for client in clients:
            if client.is_alive():
                client.join()
        output = _stop(server)
    statuses = [status for _, status, _ in answers]
    assert statuses.count(200) == len(answers), {s: statuses.count(s) for s in set(statuses)}
    # Each worker found the new version on its own (a uvicorn worker is a process: two lines).
    moved = [line for line in output.splitlines() if f"to {new_version}: now serving it" in line]
    assert len(moved) == 2, output[-3000:]
    switch_seconds = max(0.0, last_old - promoted_at)
    print(
        f"both workers switched {switch_seconds:.1f}s after the alias moved; {len(answers)} requests, all 200"
    )
    assert switch_seconds < 30


def test_start_up_without_a_registered_model_fails_with_what_to_run(tmp_path) -> None:
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty_mlflow.db'}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
    }
    returncode, output = start_up_failure(env)
    assert returncode == 1, output
    assert "no model found at models:/hotel-cancellation@champion" in output
    assert "./cli.sh dvc-init-pipeline" in output
    assert "Traceback" not in output


def test_start_up_with_another_vocabulary_fails_naming_it(served_workspace, tmp_path) -> None:
    """The champion was trained with the public vocabulary: an API validating another refuses it."""
    from data_engineering.src.schema import VOCABULARIES, dump_vocabulary
    from data_engineering.src.synthetic import OTHER_HOTEL_GROUP

    other = tmp_path / "harbour.yaml"
    other.write_text(dump_vocabulary({n: list(OTHER_HOTEL_GROUP[n].values()) for n in VOCABULARIES}, []))
    env = {"HOTEL_VOCABULARY": str(other), "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}"}
    returncode, output = start_up_failure(env)
    assert returncode == 1, output
    assert "cannot start the API: the model was trained with another vocabulary" in output
    assert f"{other} (from HOTEL_VOCABULARY)" in output
    assert "Traceback" not in output
