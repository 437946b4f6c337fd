"""The deployment's storage and scheduler for real: S3 (moto's emulator) and Airflow 3.

A copy of the repository whose default DVC remote is ``s3://BUCKET/dvc`` on the emulator, an
MLflow tracking server as the compose stack runs it (PostgreSQL backend: a schema of its own in
the test cluster's ``mlflow`` database; ``--artifacts-destination s3://BUCKET/mlflow``), and
``./cli.sh start-airflow`` (Airflow 3: scheduler, dag-processor, api-server, triggerer)
with generated bookings as the source. One training, run by the scheduler:

- the test triggers ``hotel_retrain`` through the REST API (a JWT from the simple auth manager's
  ``/auth/token``) and waits until every task succeeded; a model version was registered, the run
  recorded its dvc.lock hashes and MLflow run, and its ``push`` task filled the S3 remote;
- ``dvc pull`` in a fresh ``git clone`` restores the data and the model byte for byte;
- the champion's files are objects in the bucket, and ``./cli.sh predict-batch`` loads it back
  through the server;
- ``hotel_score_bookings``, also triggered through the API for one day, re-scores the loaded
  bookings on the books that day with it.

Then the closed loop: with the API serving that champion from two workers, two years of new
bookings whose risk has turned around arrive in the source, the scheduler retrains, the gate promotes the
new version (it beats the champion on those bookings), and both workers serve it by themselves
while clients keep predicting, every request answered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_engineering.src.synthetic import make_bookings, write_bookings, write_frame
from infra.tests.airflow_helpers import api_client, run_dag, started_airflow, wait_for
from infra.tests.s3_deployment import (
    BUCKET,
    MODEL,
    RESTORED,
    champion_version,
    commit,
    digest,
    dvc,
    on_the_books,
    retrain_record,
    s3_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def tracking_server(aws, pg_url, unused_port, tmp_path_factory):
    """An MLflow tracking server: tables in a fresh schema of the ``mlflow`` database, artifacts
    in s3://BUCKET/mlflow on the emulator (uploaded through the server). Its URL."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    aws("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    schema = f"mlflow_s3_{secrets.token_hex(4)}"
    url = make_url(pg_url).set(database="mlflow")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    backend = url.set(query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    port = unused_port()
    log = tmp_path_factory.mktemp("mlflow") / "server.log"
    venv_bin = Path(sys.executable).parent
    argv = [str(venv_bin / "mlflow"), "server", "--backend-store-uri", backend]
    argv += ["--artifacts-destination", f"s3://{BUCKET}/mlflow", "--serve-artifacts"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **s3_env(aws.endpoint)}
        )
    tracking = f"http://127.0.0.1:{port}"
    try:
        # First start runs MLflow's migrations on PostgreSQL: a minute or more on a busy machine.
        wait_for(f"{tracking}/health", server, log, timeout=300)
        yield tracking
    finally:
        server.terminate()
        server.wait(timeout=30)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(scope="module")
def deployment(repo_copy, tracking_server, aws):
    """The repository copy with the S3 remote as its default, committed; the clients' variables."""
    env = {**s3_env(aws.endpoint), "MLFLOW_TRACKING_URI": tracking_server}
    dvc(repo_copy, repo_copy, env, "remote", "add", "--default", "s3", f"s3://{BUCKET}/dvc")
    dvc(repo_copy, repo_copy, env, "remote", "modify", "s3", "endpointurl", aws.endpoint)
    commit(repo_copy, "S3 remote")
    return repo_copy, env


@pytest.fixture(scope="module")
def airflow(deployment, unused_port, tmp_path_factory):
    """``./cli.sh start-airflow`` in the copy, on generated bookings; yields an authenticated
    client of the REST API (/api/v2) and the start-airflow log."""
    repo, env = deployment
    source = write_bookings(tmp_path_factory.mktemp("source") / "bookings.csv", 3000, seed=23)
    run_env = {
        **env,
        "HOTEL_BOOKINGS_SOURCE": str(source),
        # On demand only: unpausing a scheduled DAG would also start its latest interval's run.
        "HOTEL_RETRAIN_SCHEDULE": "none",
    }
    home = tmp_path_factory.mktemp("airflow-home")
    with started_airflow(repo, home, unused_port(), env=run_env) as running, api_client(running) as api:
        api.unauthenticated = f"{running.base}/api/v2"
        api.log = running.log
        api.source = source  # HOTEL_BOOKINGS_SOURCE of every run: new data goes there
        yield api


@pytest.fixture(scope="module")
def retrained(airflow, deployment):
    """hotel_retrain, run by the scheduler; then dvc.lock committed so that a clone can pull."""
    run_id, state, tasks, seconds = run_dag(airflow, "hotel_retrain")
    print(f"hotel_retrain run by the scheduler: {seconds:.0f}s, {len(tasks)} tasks {state}")
    repo, _ = deployment
    if state == "success":
        commit(repo, "retrained")
    return run_id, state, tasks


def test_the_rest_api_refuses_requests_without_a_token(airflow):
    import httpx

    assert httpx.get(f"{airflow.unauthenticated}/dags", timeout=30).status_code == 401


def test_scheduler_runs_hotel_retrain_end_to_end(retrained, airflow, deployment, aws, tracking_server):
    import httpx

    run_id, state, tasks = retrained
    stages = ("ingest", "transform", "train", "baselines", "evaluate", "register", "record", "push", "report")
    assert (state, tasks) == ("success", dict.fromkeys(stages, "success")), airflow.log.read_text()[-3000:]

    # A new model version, and the alias where the run's decision put it.
    versions = httpx.get(
        f"{tracking_server}/api/2.0/mlflow/model-versions/search",
        params={"filter": f"name='{MODEL}'"},
        timeout=30,
    ).json()["model_versions"]
    assert [v["version"] for v in versions] == ["1"]
    champion = champion_version(tracking_server)

    # What the run produced is recorded: dvc.lock's hashes tied to the version's MLflow run.
    repo, _ = deployment
    record = retrain_record(repo, run_id)
    lock = (repo / "dvc.lock").read_text()
    assert record["dvc_lock_sha256"] == hashlib.sha256(lock.encode()).hexdigest()
    assert record["dvc_outputs"]["train"]["models/model"] in lock
    assert record["mlflow_run_id"] == versions[0]["run_id"]
    assert (record["model_versions"], record["champion_version"]) == (["1"], champion["version"])
    run = httpx.get(
        f"{tracking_server}/api/2.0/mlflow/runs/get", params={"run_id": record["mlflow_run_id"]}, timeout=30
    )
    tags = {tag["key"]: tag["value"] for tag in run.json()["run"]["data"]["tags"]}
    assert tags["retrain.run_id"] == run_id

    # ... and pushed: the data and the model are on the S3 remote.
    keys = aws("s3").list_objects_v2(Bucket=BUCKET, Prefix="dvc/")["KeyCount"]
    assert keys >= len(RESTORED)


def test_dvc_pull_into_a_fresh_clone_restores_data_and_model(retrained, deployment, tmp_path):
    repo, env = deployment
    started = time.monotonic()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    for name in RESTORED:
        assert not (clone / name).exists(), f"{name} must come from the remote, not from git"
    dvc(repo, clone, env, "pull")
    for name in RESTORED:
        assert digest(clone / name) == digest(repo / name), name
    # Everything matches dvc.lock; only the ingest stage, which always runs (its source lives
    # outside the repository), is reported.
    assert dvc(repo, clone, env, "status").split() == ["ingest:", "always", "changed"]
    print(f"dvc pull into a fresh clone: {time.monotonic() - started:.1f}s")


def test_the_champion_lives_in_s3_and_loads_back_through_the_server(
    retrained, deployment, aws, repo_cli, tmp_path
):
    import pandas as pd

    repo, env = deployment
    keys = [o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET, Prefix="mlflow/")["Contents"]]
    assert any(key.endswith("/MLmodel") for key in keys), keys[:20]
    bookings = write_bookings(tmp_path / "new.csv", 200, seed=99)
    scored = repo_cli(repo, "predict-batch", str(bookings), str(tmp_path / "scored.csv"), env=env)
    assert scored.returncode == 0, scored.stdout[-2000:] + scored.stderr[-2000:]
    frame = pd.read_csv(tmp_path / "scored.csv")
    assert len(frame) > 150
    assert frame["cancel_probability"].between(0, 1).all()


def test_scheduler_scores_the_bookings_on_the_books_of_the_runs_day(retrained, airflow, deployment, repo_cli):
    """A run for 2026-03-01 (its logical date, so its data interval ends that day) re-scores the
    bookings on the books at the end of that day as of it, with the champion. (Airflow creates
    no task for a day before the DAG's start, 2026-01-01: the bookings arrive in 2026.)"""
    import sqlalchemy as sa

    repo, env = deployment
    day = dt.date(2026, 3, 1)
    arriving = make_bookings(1000, seed=41, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    source = write_frame(repo / ".." / "to-score.csv", arriving)
    loaded = repo_cli(repo, "initialize-data", "db", env={**env, "HOTEL_BOOKINGS_SOURCE": str(source)})
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    expected = on_the_books(source, day)
    assert expected > 50  # a table with work to do
    _, state, tasks, seconds = run_dag(airflow, "hotel_score_bookings", logical_date=f"{day}T00:00:00Z")
    assert (state, tasks) == ("success", {"score_new_bookings": "success"}), airflow.log.read_text()[-3000:]
    engine = sa.create_engine(f"sqlite:///{repo / 'data' / 'hotel_cancellation.sqlite'}")
    try:
        with engine.connect() as conn:
            days = dict(
                conn.exec_driver_sql("SELECT as_of, count(*) FROM booking_scores GROUP BY as_of").all()
            )
            versions = set(
                conn.exec_driver_sql("SELECT DISTINCT model_version FROM booking_scores").scalars()
            )
    finally:
        engine.dispose()
    assert days[str(day)] == expected
    # Unpausing the DAG also let the scheduler run its latest daily interval (today's): any other
    # day in the table is a finished run's, holding that day's bookings on the books.
    runs = airflow.get("/dags/hotel_score_bookings/dagRuns").json()["dag_runs"]
    finished = {run["data_interval_end"][:10] for run in runs if run["state"] == "success"}
    assert set(days) <= finished
    assert days == {other: on_the_books(source, dt.date.fromisoformat(other)) for other in days}
    assert versions == {champion_version(env["MLFLOW_TRACKING_URI"])["version"]}
    print(f"hotel_score_bookings run by the scheduler for {day}: {seconds:.0f}s, {expected} bookings scored")


def test_a_scheduler_retrain_moves_the_champion_and_the_running_api_follows(
    retrained, airflow, deployment, tracking_server, tmp_path
):
    """Last in this module: it registers version 2, which the tests above do not expect."""
    import httpx
    import pandas as pd

    from api.tests.helpers import json_bookings
    from api.tests.servers import start_server, stop_server, switch_lines, wait_ready
    from api.tests.traffic import Traffic
    from data_engineering.src.ports import free_port, wait_until

    assert retrained[1] == "success", "the first scheduler-run retraining failed"
    repo, env = deployment
    old = champion_version(tracking_server)["version"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **env,
        "HOTEL_WORKSPACE": str(repo),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'predictions.sqlite'}",
        "API_MODEL_REFRESH_SECONDS": "1",
    }
    server = start_server(port, server_env, "--workers", "2", repo=repo)
    booking = json_bookings(make_bookings(20, seed=77))[0]
    try:
        wait_ready(server, url)
        # Four clients, ten requests a second each: the retraining shares this machine's CPU.
        with Traffic(url, booking, pause=0.1) as traffic:
            assert wait_until(lambda: len(traffic.answers) >= 40, 30), "no predictions"
            # Two years of new arrivals after the champion's cut-off (2017-09-01) whose risk has
            # turned around: the champion ranks them backwards (ROC AUC about 0.23); the new
            # backtest's folds (the last 12 months) are fitted on a year of them (about 0.76).
            # The gate compares both on the bookings of those folds: a wide, seeded margin.
            first = pd.read_csv(airflow.source, dtype=str, keep_default_na=False)
            drifted = make_bookings(
                3000, seed=24, start=dt.date(2017, 9, 1), end=dt.date(2019, 8, 31), reverse_risk=True
            )
            write_frame(airflow.source, pd.concat([first, drifted], ignore_index=True))
            run_id, state, tasks, seconds = run_dag(airflow, "hotel_retrain")
            assert state == "success", (tasks, airflow.log.read_text()[-3000:])
            champion = champion_version(tracking_server)
            new = champion["version"]
            assert new != old, "the retrained model did not become champion"
            # When the alias moved: the new version is registered, then promoted, in one task.
            promoted_at = int(champion["creation_timestamp"]) / 1000
            switched = wait_until(lambda: traffic.switched_to(new, promoted_at), 60, interval=0.2)
            assert switched, f"the workers did not all switch to version {new}"
    finally:
        output = stop_server(server)
    assert traffic.statuses() == {200: len(traffic.answers)}, traffic.statuses()
    # Each worker found the new version on its own (a uvicorn worker is a process: two lines).
    assert len(switch_lines(output, new)) == 2, output[-3000:]
    switch = traffic.switch_seconds(old, promoted_at)
    run = httpx.get(
        f"{tracking_server}/api/2.0/mlflow/runs/get", params={"run_id": champion["run_id"]}, timeout=30
    ).json()["run"]
    decision = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}["alias_decision"]
    assert retrain_record(repo, run_id)["champion_version"] == new
    print(
        f"retrain by the scheduler in {seconds:.0f}s: version {new} is {decision}; both API workers "
        f"served it {switch:.1f}s after the alias moved, {len(traffic.answers)} requests, all 200"
    )
    assert switch < 30
