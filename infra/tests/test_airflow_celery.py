"""``./cli.sh start-airflow --executor celery``: Redis, a Celery worker and Airflow on PostgreSQL.

In a copy of the repository, on generated bookings, with Airflow's metadata in a fresh schema of
the test cluster's ``airflow`` database (the one ``./cli.sh setup-db test`` creates, own role):

- ``hotel_retrain``, triggered through the REST API, succeeds, and Airflow's own records say that
  each of its task instances went through Celery: the Celery task id Airflow stored for it
  (``external_executor_id``) is a task the Celery worker ran to success (Celery's result table in
  the same database), and the worker's log shows it running each task;
- SIGTERM to ``start-airflow`` stops everything it started, Redis and the worker included.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import socket
import time

import pytest

from data_engineering.src.synthetic import write_bookings
from infra.tests.airflow_helpers import api_client, describe, run_dag, started_airflow
from infra.tests.conftest import missing_tool

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

STAGES = ("ingest", "transform", "train", "baselines", "evaluate", "register", "record", "push", "report")


@pytest.fixture(scope="module")
def airflow_schema(airflow_pg_url):
    """(URL, engine, schema): a fresh schema of the ``airflow`` database, dropped afterwards; the
    URL puts it first on the search path, so Airflow's and Celery's tables land there."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"airflow_celery_{secrets.token_hex(4)}"
    engine = sa.create_engine(airflow_pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(airflow_pg_url).set(query={"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), engine, schema
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(scope="module")
def celery_airflow(repo_copy, airflow_schema, unused_port, tmp_path_factory):
    """``start-airflow --executor celery`` in the copy; yields (the running Airflow, a REST client)."""
    if shutil.which("redis-server") is None:
        missing_tool("redis-server is not installed (apt-get install redis-server)")
    url, _, _ = airflow_schema
    source = write_bookings(tmp_path_factory.mktemp("source") / "bookings.csv", 3000, seed=23)
    env = {
        "HOTEL_BOOKINGS_SOURCE": str(source),
        "HOTEL_RETRAIN_SCHEDULE": "none",  # runs on demand only
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
    }
    home = tmp_path_factory.mktemp("airflow-celery")
    port = unused_port()
    with (
        started_airflow(repo_copy, home, port, "--executor", "celery", env=env) as airflow,
        api_client(airflow) as api,
    ):
        yield airflow, api


def test_hotel_retrain_runs_on_the_celery_worker(celery_airflow, airflow_schema):
    airflow, api = celery_airflow
    _, engine, schema = airflow_schema
    run_id, state, tasks, seconds = run_dag(api, "hotel_retrain")
    assert (state, tasks) == ("success", dict.fromkeys(STAGES, "success")), airflow.output()[-5000:]

    with engine.connect() as conn:
        instances = conn.exec_driver_sql(
            f'SELECT task_id, external_executor_id, queue FROM "{schema}".task_instance '
            "WHERE dag_id = 'hotel_retrain' AND run_id = %(run)s",
            {"run": run_id},
        ).all()
    assert sorted(task for task, _, _ in instances) == sorted(STAGES)
    celery_ids = {task: celery_id for task, celery_id, _ in instances}
    assert all(celery_ids.values()), f"task instances without a Celery task id: {celery_ids}"
    assert {queue for _, _, queue in instances} == {"default"}  # the queue the worker consumes
    # The REST API serves the same records.
    listed = api.get(f"/dags/hotel_retrain/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert {ti["task_id"]: ti["queue"] for ti in listed} == dict.fromkeys(STAGES, "default")

    # Each of those Celery tasks ran on the worker: it logged running that task instance under
    # that id, and stored its success in Celery's result table (a moment after Airflow's record
    # of the task's end, which may have come first).
    worker_log = [line for line in airflow.output().splitlines() if re.match(r"\S+ celery-worker +\|", line)]
    for task, celery_id in celery_ids.items():
        ran = f"[{celery_id}] Executing workload in Celery:"
        assert any(
            ran in line and f"task_id='{task}'" in line and f"run_id='{run_id}'" in line
            for line in worker_log
        ), task
    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as conn:
            results = dict(
                conn.exec_driver_sql(f'SELECT task_id, status FROM "{schema}".celery_taskmeta').all()
            )
        if all(results.get(celery_id) == "SUCCESS" for celery_id in celery_ids.values()):
            break
        assert time.monotonic() < deadline, {
            task: results.get(celery_id) for task, celery_id in celery_ids.items()
        }
        time.sleep(1)
    print(
        f"hotel_retrain on the Celery worker: {seconds:.0f}s, {len(instances)} task instances through Celery"
    )


def test_sigterm_stops_redis_the_worker_and_everything_else(celery_airflow):
    airflow, _ = celery_airflow
    processes = airflow.remember()
    commands = [describe(process) for process in processes]
    assert any("redis-server" in command for command in commands), commands
    assert any("celery" in command for command in commands), commands
    redis_port = int(re.search(r"^port (\d+)$", (airflow.home / "redis" / "redis.conf").read_text(), re.M)[1])

    seconds = airflow.stop(signal.SIGTERM)
    assert airflow.process.returncode == 0, airflow.output()[-3000:]
    assert airflow.left() == []
    for port in (airflow.port, redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    print(f"celery executor: {len(processes)} processes, all stopped {seconds:.1f}s after SIGTERM")
