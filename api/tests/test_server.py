"""The real server (``python -m api.launcher``, what ./cli.sh serve-api runs) under concurrent load
with PostgreSQL logging, two workers following the champion by themselves, and its start-up
when no model is registered."""

from __future__ import annotations

import asyncio
import shutil
import time

import httpx
import mlflow
import pytest

from api.tests.helpers import logged_ids
from api.tests.servers import start_server, start_up_failure, stop_server, switch_lines, wait_ready
from api.tests.traffic import Traffic, promote_a_new_version
from data_engineering.src.ports import free_port, wait_until

CLIENTS, REQUESTS_EACH = 50, 40


@pytest.mark.postgres
def test_50_concurrent_clients_no_errors_and_every_prediction_logged(
    served_workspace, pg_schema_url, bookings
) -> None:
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": served_workspace.tracking_uri, "DATABASE_URL": pg_schema_url}
    server = start_server(port, env)
    try:
        wait_ready(server, f"http://127.0.0.1:{port}")

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
        assert ready["prediction_log"]["refused"] == 0
    finally:
        stop_server(server)


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
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(server, url)
        with Traffic(url, booking) as traffic:
            assert wait_until(lambda: len(traffic.answers) >= 40, 30), "no predictions"
            new_version = promote_a_new_version(tmp_path, threshold=0.999)
            promoted_at = time.time()  # the alias has just moved
            switched = wait_until(lambda: traffic.switched_to(new_version, promoted_at), 60, interval=0.2)
            assert switched, "the workers did not all switch"
    finally:
        output = stop_server(server)
    assert traffic.statuses() == {200: len(traffic.answers)}, traffic.statuses()
    # Each worker found the new version on its own (a uvicorn worker is a process: two lines), or,
    # on a machine slow enough that the second was still starting when the alias moved, loaded it
    # at its start: either way each worker logged that it serves it.
    assert output.count(f"version {new_version} (") == 2, output[-3000:]
    assert switch_lines(output, new_version), output[-3000:]
    seconds = traffic.switch_seconds("1", promoted_at)
    print(
        f"both workers switched {seconds:.1f}s after the alias moved; {len(traffic.answers)} requests, all 200"
    )
    assert seconds < 30


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
    # The group's own capacity file too: the default one lists the public dataset's hotels.
    capacities = tmp_path / "harbour_hotels.yaml"
    capacities.write_text("walk_cost: 300\nempty_room_cost: 100\nhotels:\n  Harbour Inn:\n    capacity: 80\n")
    env = {
        "HOTEL_VOCABULARY": str(other),
        "HOTEL_CAPACITY_FILE": str(capacities),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
    }
    returncode, output = start_up_failure(env)
    assert returncode == 1, output
    assert "cannot start the API: champion version 1: the model was trained with another vocabulary" in output
    assert f"{other} (from HOTEL_VOCABULARY)" in output
    assert "Traceback" not in output


def test_a_capacity_file_naming_an_unknown_hotel_stops_the_start(tmp_path) -> None:
    """A misspelt hotel would silently get no overbooking advice: the API refuses to start, and
    says which file, which hotel and which variable chooses the file. It is checked before the
    model is looked up, so no registry is needed to see it."""
    capacities = tmp_path / "hotels.yaml"
    capacities.write_text(
        "walk_cost: 300\nempty_room_cost: 100\nhotels:\n  City Hotel:\n    capacity: 226\n"
        "  City Hotell:\n    capacity: 40\n"
    )
    env = {
        "HOTEL_CAPACITY_FILE": str(capacities),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty_mlflow.db'}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
    }
    returncode, output = start_up_failure(env)
    assert returncode == 1, output
    line = next(li for li in output.splitlines() if "cannot start the API" in li)
    assert f"the capacity file {capacities}" in line
    assert "'City Hotell' is not a hotel of the vocabulary in use" in line
    assert "HOTEL_CAPACITY_FILE" in line
    assert "Traceback" not in output
    assert not (tmp_path / "empty_mlflow.db").exists()  # stopped before the registry was asked
