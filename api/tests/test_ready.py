"""/ready says whether the service can do its job, and why not; /predict never depends on it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.tests.helpers import answered_without_the_database, api_settings, connection_attempts
from data_engineering.src.ports import free_port, wait_until


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
    assert "no model loaded yet" in response.json()["reasons"]
    assert client.post("/predict", json={}).status_code == 503
    assert client.get("/model").status_code == 503
    assert client.get("/health").status_code == 200  # alive, just not ready


def test_database_unreachable_degrades_ready_not_predictions(served_workspace, booking) -> None:
    closed = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    settings = api_settings(closed, log_queue_size=5, log_batch_size=1, db_timeout_seconds=1.0)
    with TestClient(create_app(settings)) as client:
        with connection_attempts() as attempts:
            statuses = [client.post("/predict", json=booking) for _ in range(12)]
            # No prediction waited for the database: none of them even tried to reach it.
            answered_without_the_database(attempts, lambda: client.get("/ready"))
        # 5 fit on disk (API_LOG_QUEUE_SIZE) and are answered; the others cannot be recorded, so
        # they are refused rather than answered and lost.
        assert [r.status_code for r in statuses] == [200] * 5 + [503] * 7
        assert "could not be recorded" in statuses[-1].json()["detail"]
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["database_reachable"] is False
        database, full = body["reasons"]
        assert database.startswith("database unreachable")
        assert "5 answered predictions on disk" in database
        assert full.startswith("the prediction log is full (5 waiting)")
        assert body["prediction_log"]["refused"] == 7
        assert body["prediction_log"]["queued"] == 5
        assert wait_until(lambda: client.get("/ready").json()["prediction_log"]["failed_writes"] > 0, 5)
        assert "hotel_api_prediction_log_refused_total 7.0" in client.get("/metrics").text


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


def test_without_a_required_model_ready_says_why_until_the_watcher_loads_one(
    served_workspace, sqlite_log_url, tmp_path, monkeypatch
) -> None:
    """``--no-require-model``: the API starts with no model, says why, and serves one as soon as
    the registry has it, without a restart."""
    import shutil

    import mlflow

    from data_science.tracking import MODEL_NAME

    store = tmp_path / "mlflow.db"
    shutil.copy(served_workspace.root / "mlflow.db", store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    uri = f"models:/{MODEL_NAME}@production"  # an alias nobody has set yet
    settings = api_settings(sqlite_log_url, model_uri=uri, require_model=False)
    app = create_app(settings)
    with TestClient(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"][0].startswith(f"no model loaded: no model found at {uri}")
        assert "Run ./cli.sh dvc-init-pipeline" in ready.json()["reasons"][0]
        assert client.get("/model").json()["detail"].startswith("no model loaded: no model found")
        assert "hotel_api_model_load_failed 1.0" in client.get("/metrics").text
        store_uri = f"sqlite:///{store}"
        mlflow.MlflowClient(tracking_uri=store_uri, registry_uri=store_uri).set_registered_model_alias(
            MODEL_NAME, "production", "1"
        )
        assert app.runtime.watcher.check()  # what its thread does every period
        assert client.get("/ready").status_code == 200
        assert client.get("/model").json()["version"] == "1"
        assert "hotel_api_model_load_failed 0.0" in client.get("/metrics").text


def test_an_unforeseen_start_up_error_fails_the_start_and_is_logged_with_its_cause(
    served_workspace, sqlite_log_url, monkeypatch, caplog
) -> None:
    """The ASGI lifespan as a server drives it: the start fails with the cause, nothing swallowed
    (uvicorn would otherwise serve on without the app's start-up, answering 503 for ever)."""
    import asyncio

    app = create_app(api_settings(sqlite_log_url))

    def broken(uri):
        raise KeyError("flavors")

    monkeypatch.setattr(app.runtime.holder, "load", broken)

    async def start() -> list[Any]:
        sent: list[Any] = []

        async def receive() -> Any:
            return {"type": "lifespan.startup"}

        async def send(message: Any) -> None:
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        return sent

    assert asyncio.run(start()) == [
        {"type": "lifespan.startup.failed", "message": "cannot start the API: KeyError('flavors')"}
    ]
    assert "start-up failed" in caplog.text
    assert "KeyError: 'flavors'" in caplog.text  # the traceback, with its cause
