"""/ready says whether the service can do its job, and why not; /predict never depends on it."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.app import create_app
from api.tests.helpers import api_settings, free_port, wait_until


def test_ready_when_model_and_database_are_there(app_client) -> None:
    response = app_client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["reasons"] == []
    assert body["database_reachable"] is True
    assert body["model_version"] == "1"


def test_not_ready_without_a_model(served_workspace, sqlite_log_url) -> None:
    # No lifespan (no `with`): the app is up but has loaded nothing.
    client = TestClient(create_app(api_settings(sqlite_log_url)))
    response = client.get("/ready")
    assert response.status_code == 503
    assert "no model loaded" in response.json()["reasons"]
    assert client.post("/predict", json={}).status_code == 503
    assert client.get("/model").status_code == 503
    assert client.get("/health").status_code == 200  # alive, just not ready


def test_database_unreachable_degrades_ready_not_predictions(served_workspace, booking) -> None:
    closed = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    settings = api_settings(closed, log_queue_size=5, log_batch_size=1, db_timeout_seconds=1.0)
    with TestClient(create_app(settings)) as client:
        slowest = 0.0
        for _ in range(12):
            started = time.perf_counter()
            assert client.post("/predict", json=booking).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.5, f"a prediction waited {slowest:.2f}s for the database"
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["database_reachable"] is False
        (reason,) = body["reasons"]
        assert reason.startswith("database unreachable")
        # 12 predictions, at most 5 queued and 1 held by the writer: the rest counted as dropped.
        dropped = body["prediction_log"]["dropped"]
        assert dropped >= 6
        assert f"{dropped} dropped" in reason
        assert wait_until(lambda: client.get("/ready").json()["prediction_log"]["failed_writes"] > 0, 5)
        assert f"hotel_api_prediction_log_dropped_total {float(dropped)}" in client.get("/metrics").text


def test_missing_table_is_reported_with_the_fix(served_workspace, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'never_migrated.sqlite'}"
    with TestClient(create_app(api_settings(url))) as client:
        body = client.get("/ready").json()
        assert body["database_reachable"] is True
        assert any("run ./cli.sh db-migrate" in reason for reason in body["reasons"])


def test_log_switched_off_does_not_need_a_database(served_workspace, booking) -> None:
    closed = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    with TestClient(create_app(api_settings(closed, prediction_log=False))) as client:
        assert client.post("/predict", json=booking).status_code == 200
        body = client.get("/ready").json()
        assert body["status"] == "ready"
        assert body["database_reachable"] is None
