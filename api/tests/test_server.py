"""The real server (``python -m api.serve``, what ./cli.sh serve-api runs) under concurrent load
with PostgreSQL logging, and its start-up when no model is registered."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest

from api.tests.helpers import free_port, logged_ids, start_server, wait_until

CLIENTS, REQUESTS_EACH = 50, 40


def _wait_ready(server: subprocess.Popen, port: int, timeout: float = 90) -> None:
    def ready() -> bool:
        assert server.poll() is None, f"server exited:\n{server.stdout.read()}"
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


def test_start_up_without_a_registered_model_fails_with_what_to_run(tmp_path) -> None:
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty_mlflow.db'}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
    }
    server = start_server(free_port(), env)
    try:
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 1, output
    assert "no model found at models:/hotel-cancellation@champion" in output
    assert "./cli.sh dvc-init-pipeline" in output
    assert "Traceback" not in output
