"""The fault suite's API cases (``./cli.sh test fault``) of the database: each counts what was sent
and what was kept.

Real servers (``python -m api.launcher``, what ``./cli.sh serve-api`` runs) and a PostgreSQL of the
test's own that it stops and starts. Every case records its figures through ``fault_case``; README's
Reliability table is generated from them.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from api.migrate import upgrade
from api.tests.helpers import logged_ids
from api.tests.servers import read_json, start_server, stop_server, wait_ready
from api.tests.traffic import Traffic
from data_engineering.src.ports import free_port, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow]

CLIENTS = 4
OUTAGE_AFTER, OUTAGE_SECONDS, LOAD_SECONDS = 20.0, 20.0, 60.0


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
            on_disk = read_json(f"{url}/ready")["prediction_log"]["queued"]
            cluster.start()
            back = time.monotonic()
            assert wait_until(lambda: read_json(f"{url}/ready")["status"] == "ready", 30), (
                "log did not resume"
            )
            resumed = time.monotonic() - back
            time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
        assert wait_until(
            lambda: len(_stored(cluster.url, traffic.request_ids)) == len(traffic.request_ids), 120
        ), "not stored"
        ready = read_json(f"{url}/ready")
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
        waiting = read_json(f"{url}/ready")["prediction_log"]["queued"]  # claimed, the database still down
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
