"""POST /admin/reload: guarded by X-API-Key; serves a newly promoted champion without restart."""

from __future__ import annotations

import shutil
import threading

import mlflow
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.scoring import answer_bookings
from api.tests.helpers import api_settings
from api.tests.traffic import promote_a_new_version

KEY = "s3cret-admin-key"


def test_missing_key_is_401_and_wrong_key_403(app_client) -> None:
    missing = app_client.post("/admin/reload")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing X-API-Key header"}
    wrong = app_client.post("/admin/reload", headers={"X-API-Key": "test-admin-kez"})
    assert wrong.status_code == 403
    assert app_client.post("/admin/reload", headers={"X-API-Key": "ünïcode".encode()}).status_code == 403


def test_unset_admin_key_refuses_every_call(served_workspace, sqlite_log_url) -> None:
    with TestClient(create_app(api_settings(sqlite_log_url, admin_key=None))) as client:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}):
            response = client.post("/admin/reload", headers=headers)
            assert response.status_code == 503
            assert "set API_ADMIN_KEY" in response.json()["detail"]


def test_reload_serves_the_new_champion_without_restart(
    served_workspace, sqlite_log_url, booking, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of the registry: the session's champion stays version 1 for every other test.
    store = tmp_path / "mlflow.db"
    shutil.copy(served_workspace.root / "mlflow.db", store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    mlflow.set_tracking_uri(f"sqlite:///{store}")

    app = create_app(api_settings(sqlite_log_url, admin_key=KEY))
    with TestClient(app) as client:
        before = client.post("/predict", json=booking).json()
        assert before["model_version"] == "1"
        old_state = app.runtime.holder.state
        assert old_state is not None

        new_version = promote_a_new_version(tmp_path, threshold=0.999)
        assert client.post("/predict", json=booking).json()["model_version"] == "1"  # not yet

        # Predictions keep flowing during the reload; none may mix the two models.
        answers: list[dict] = []
        stop = threading.Event()

        def keep_predicting() -> None:
            while not stop.is_set():
                answers.append(client.post("/predict", json=booking).json())

        worker = threading.Thread(target=keep_predicting)
        worker.start()
        try:
            reload = client.post("/admin/reload", headers={"X-API-Key": KEY})
        finally:
            stop.set()
            worker.join()
        assert reload.status_code == 200, reload.text
        body = reload.json()
        assert (body["previous_version"], body["model_version"], body["changed"]) == ("1", new_version, True)
        assert body["model"]["threshold"] == 0.999

        after = client.post("/predict", json=booking).json()
        assert (after["model_version"], after["threshold"]) == (new_version, 0.999)
        assert after["will_cancel"] is (after["cancel_probability"] >= 0.999)
        assert client.get("/model").json()["version"] == new_version
        for answer in answers:
            expected = before["threshold"] if answer["model_version"] == "1" else 0.999
            assert answer["threshold"] == expected
        metrics = client.get("/metrics").text
        assert f'hotel_api_model_info{{name="hotel-cancellation",version="{new_version}"}} 1.0' in metrics
        assert 'hotel_api_model_info{name="hotel-cancellation",version="1"} 0.0' in metrics

        # The old state is immutable and intact: a request that started on it finishes on it.
        assert old_state.version == "1"
        assert answer_bookings(old_state, [booking], 3)[0].probability == pytest.approx(
            before["cancel_probability"], abs=1e-12
        )


def test_failed_reload_keeps_serving_the_current_model(
    served_workspace, sqlite_log_url, booking, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(api_settings(sqlite_log_url, admin_key=KEY))
    with TestClient(app) as client:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
        response = client.post("/admin/reload", headers={"X-API-Key": KEY})
        assert response.status_code == 503
        assert "still serving the previous model" in response.json()["detail"]
        assert client.post("/predict", json=booking).json()["model_version"] == "1"
