"""The platform's Airflow DAGs: weekly retraining and daily batch scoring.

Tasks never copy pipeline logic: each one runs the same ``./cli.sh`` command a user would, so a
DAG run and a manual run cannot drift apart. Both DAGs live in this one file so they share the
few settings below without relying on the DAGs folder being importable.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DagSettings(BaseSettings):
    """The DAGs' settings, from the environment of the dag-processor. A class of its own, not one
    of the project's settings classes: this environment (Airflow's) does not have the project's
    packages, and where the project is (``HOTEL_REPO``) is the first thing to read."""

    # Exact names, and a variable set empty is a value (the schedule "" stays ""), as always.
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    repo: str | None = Field(None, validation_alias="HOTEL_REPO")
    # A preset or cron expression, or `none` for runs on demand only (triggered from the UI or the
    # REST API).
    retrain_schedule: str = Field("@weekly", validation_alias="HOTEL_RETRAIN_SCHEDULE")


SETTINGS = DagSettings()
# infra/airflow/dags/hotel_dags.py -> the repository root, unless the deployment says otherwise.
REPO = Path(SETTINGS.repo or Path(__file__).resolve().parents[3])
CLI = REPO / "cli.sh"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
TAGS = ["hotel-cancellation"]

DEFAULT_ARGS = {
    "owner": "mlops",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
}


def cli(*args: str) -> str:
    """A bash command running ``cli.sh`` with ``args`` (a trailing space keeps Airflow from
    treating a command ending in ``.sh`` as a Jinja template file)."""
    return " ".join([f"bash {CLI}", *args]) + " "


def _dvc_stages() -> tuple[str, ...]:
    """The stages of dvc.yaml, through the project's one reader of it. Loaded by path: this
    environment (Airflow's) has PyYAML but not the project's packages on its path."""
    spec = importlib.util.spec_from_file_location(
        "hotel_dvc_stages", REPO / "data_engineering" / "src" / "dvc_stages.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REPO}/data_engineering/src/dvc_stages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there while it is defined
    spec.loader.exec_module(module)
    stages: tuple[str, ...] = module.stage_names(REPO / "dvc.yaml")
    return stages


STAGES = _dvc_stages()
RETRAIN_SCHEDULE = SETTINGS.retrain_schedule


@dag(
    dag_id="hotel_retrain",
    schedule=None if RETRAIN_SCHEDULE.strip().lower() == "none" else RETRAIN_SCHEDULE,
    start_date=START,
    catchup=False,
    max_active_runs=1,  # DVC locks the repository: one run at a time
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md="""Weekly retraining (HOTEL_RETRAIN_SCHEDULE changes it): ingest → transform → train →
baselines → evaluate → register → record → push → report.

Each stage task runs one DVC stage with `./cli.sh dvc-repro STAGE` (`dvc repro --single-item`), the
stages of `dvc.yaml` in its order (read from it); unchanged stages are skipped by DVC as they are for
users. `register` (`./cli.sh register`, as `dvc-init-pipeline` runs it after `dvc repro`) registers
the model unless this registry holds it already, and moves `champion` only if it beats the current
one: outputs DVC restored from its cache are registered too. `record` links what
the run produced (`./cli.sh retrain-record`: dvc.lock's hashes, the MLflow run and model version,
where `champion` points) in `reports/retraining/RUN_ID.json`, as tags of the MLflow run and as the
task's XCom; `push` sends the data and model to the default DVC remote when one is configured;
`report` prints the metrics and whether the champion moved. A serving API that follows the
`champion` alias picks the new model up by itself when the alias moved.""",
)
def hotel_retrain() -> None:
    previous = None
    for stage in STAGES:
        task = BashOperator(task_id=stage, bash_command=cli("dvc-repro", stage), cwd=str(REPO))
        if previous is not None:
            previous >> task
        previous = task
    register = BashOperator(task_id="register", bash_command=cli("register"), cwd=str(REPO))
    record = BashOperator(
        task_id="record", bash_command=cli("retrain-record", "--run-id", "'{{ run_id }}'"), cwd=str(REPO)
    )
    push = BashOperator(task_id="push", bash_command=cli("dvc-push"), cwd=str(REPO))
    report = BashOperator(task_id="report", bash_command=cli("pipeline-summary"), cwd=str(REPO), retries=0)
    previous >> register >> record >> push >> report


@dag(
    dag_id="hotel_score_bookings",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md="""Daily re-scoring of the bookings on the books, as of the run's day.

Runs `./cli.sh score-db --as-of DAY` (database from the workers' `APP_ENV`/`DATABASE_URL`), DAY
being the date of the run's data interval end (UTC): for the daily schedule, the day the run is
for (the run at 00:00 UTC on 2017-03-01 scores as of 2017-03-01, as `score-db` without `--as-of`
would that day). Every booking on the books at the end of DAY is scored as of it with the
champion and appended to `booking_scores` (one row per booking, day and model version). The day
comes from the run, not the clock, so a rerun of a day adds nothing and a backfill
(`airflow backfill create --dag-id hotel_score_bookings --from-date ... --to-date ...`) replays each
day as it was (from the DAG's start date on: Airflow creates no task for an earlier day). A manual run without a logical date has no data interval: it scores as of the day
it was triggered.""",
)
def hotel_score_bookings() -> None:
    day = "{{ (data_interval_end | default(dag_run.run_after)) | ds }}"
    BashOperator(task_id="score_new_bookings", bash_command=cli("score-db", "--as-of", day), cwd=str(REPO))


hotel_retrain()
hotel_score_bookings()
