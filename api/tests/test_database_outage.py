"""A real PostgreSQL going away and coming back: predictions never notice, the log catches up.

The cluster is the test's own (the ``cluster`` fixture: initdb in a temp dir, non-default port,
127.0.0.1 only), so it can be stopped and started without disturbing anyone else's database.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.migrate import upgrade
from api.tests.helpers import answered_without_the_database, api_settings, connection_attempts, logged_ids
from data_engineering.src.ports import wait_until


def test_predictions_survive_a_database_outage_and_the_log_catches_up(
    served_workspace, cluster, bookings
) -> None:
    upgrade(cluster.url)
    settings = api_settings(cluster.url, db_timeout_seconds=1.0, log_retry_max_seconds=0.3)
    with TestClient(create_app(settings)) as client:
        before = [client.post("/predict", json=b).json()["request_id"] for b in bookings[:5]]
        assert wait_until(lambda: logged_ids(cluster.url, before) == set(before), 10)
        assert client.get("/ready").status_code == 200

        cluster.stop()
        during = []
        with connection_attempts() as attempts:
            for booking in bookings[5:45]:
                response = client.post("/predict", json=booking)
                assert response.status_code == 200
                during.append(response.json()["request_id"])
            # No prediction waited on the stopped database: none of them even tried to reach it.
            answered_without_the_database(attempts, lambda: client.get("/ready"))
        assert wait_until(lambda: client.get("/ready").json()["prediction_log"]["failed_writes"] > 0, 10)
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"][0].startswith("database unreachable")
        assert ready.json()["prediction_log"]["refused"] == 0  # everything is on disk

        cluster.start()
        assert wait_until(lambda: logged_ids(cluster.url, during) == set(during), 20), "log did not resume"
        assert wait_until(lambda: client.get("/ready").status_code == 200, 10)
        assert client.get("/ready").json()["prediction_log"]["last_error"] is None
