"""Airflow DAGs: they import cleanly in Airflow's own environment and have the expected graph.

Both DAGs are run end to end by Airflow's scheduler, triggered through its REST API, in
test_s3_and_scheduler.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from data_engineering.src.dvc_stages import stage_names
from data_engineering.src.paths import REPO_ROOT

# Airflow's own environment loads the DAGs (a scheduler's DagBag): the scheduler tier.
pytestmark = pytest.mark.e2e

AIRFLOW_VENV = REPO_ROOT / ".venv-airflow"
DAGS = REPO_ROOT / "infra" / "airflow" / "dags"

INSPECT = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
print("RESULT " + json.dumps({{
    "errors": {{k: v.splitlines()[-1] for k, v in bag.import_errors.items()}},
    "dags": {{
        dag_id: {{
            "tasks": {{t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}},
            "commands": {{t.task_id: t.bash_command for t in dag.tasks}},
            "retries": {{t.task_id: t.retries for t in dag.tasks}},
            "backoff": all(t.retry_exponential_backoff for t in dag.tasks),
            "max_active_runs": dag.max_active_runs,
            "schedule": str(dag.schedule),
            "catchup": dag.catchup,
        }}
        for dag_id, dag in bag.dags.items()
    }},
}}))
"""


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    python = AIRFLOW_VENV / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail("no .venv-airflow: CI must run ./cli.sh sync --airflow")
        pytest.skip("no .venv-airflow: run ./cli.sh sync --airflow")
    return python


def _airflow_env(home: Path, dags: Path = DAGS, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **extra,
    }


def in_airflow(airflow_python: Path, script: str, home: Path) -> Any:
    """Run ``script`` (its ``{dags}`` filled in) in Airflow's environment; the JSON it printed
    after ``RESULT``."""
    result = subprocess.run(
        [str(airflow_python), "-c", script.format(dags=str(DAGS))],
        env=_airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(li for li in result.stdout.splitlines() if li.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def dagbag(airflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    result: dict = in_airflow(airflow_python, INSPECT, tmp_path_factory.mktemp("airflow-home"))
    return result


def test_dags_import_without_errors(dagbag: dict) -> None:
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == {"hotel_retrain", "hotel_score_bookings"}


def test_retrain_graph_runs_the_dvc_stages_in_order(dagbag: dict) -> None:
    retrain = dagbag["dags"]["hotel_retrain"]
    assert retrain["tasks"] == {
        "ingest": ["transform"],
        "transform": ["train"],
        "train": ["baselines"],
        "baselines": ["evaluate"],
        "evaluate": ["register"],
        "register": ["record"],
        "record": ["push"],
        "push": ["report"],
        "report": [],
    }
    for stage in stage_names():  # dvc.yaml's stages, each its own task
        assert retrain["commands"][stage].strip().endswith(f"cli.sh dvc-repro {stage}")
    assert retrain["commands"]["register"].strip().endswith("cli.sh register")
    assert retrain["commands"]["report"].strip().endswith("cli.sh pipeline-summary")
    assert retrain["commands"]["record"].strip().endswith("cli.sh retrain-record --run-id '{{ run_id }}'")
    assert retrain["commands"]["push"].strip().endswith("cli.sh dvc-push")
    assert retrain["max_active_runs"] == 1  # DVC locks the repository
    assert retrain["retries"]["train"] == 2
    assert retrain["backoff"]
    assert retrain["schedule"] == "@weekly"
    assert retrain["catchup"] is False


def test_scoring_dag_calls_score_db_daily(dagbag: dict) -> None:
    scoring = dagbag["dags"]["hotel_score_bookings"]
    assert list(scoring["tasks"]) == ["score_new_bookings"]
    assert scoring["schedule"] == "@daily"
    assert (
        scoring["commands"]["score_new_bookings"]
        .strip()
        .endswith("cli.sh score-db --as-of {{ (data_interval_end | default(dag_run.run_after)) | ds }}")
    )
    assert scoring["max_active_runs"] == 1


RENDER = """
import json
from types import SimpleNamespace

import pendulum
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder={dags!r}).dags["hotel_score_bookings"]
task = dag.get_task("score_new_bookings")
at = lambda *a: pendulum.datetime(*a, tz="UTC")
contexts = [
    # A scheduled (or backfilled) run: its data interval.
    {{"data_interval_end": at(2017, 3, 1), "dag_run": SimpleNamespace(run_after=at(2017, 3, 1, 0, 5))}},
    # A manual run without a logical date has no data interval (Airflow leaves it undefined).
    {{"dag_run": SimpleNamespace(run_after=at(2017, 4, 2, 9, 30))}},
]
rendered = [task.render_template(task.bash_command, c, jinja_env=dag.get_template_env()) for c in contexts]
print("RESULT " + json.dumps(rendered))
"""


def test_scoring_dag_scores_as_of_the_runs_day(airflow_python: Path, tmp_path: Path) -> None:
    """The day comes from the run (its data interval's end), so a rerun or a backfill of a day
    scores as of that day; a manual run without a logical date, as of the day it was triggered."""
    scheduled, manual = in_airflow(airflow_python, RENDER, tmp_path)
    assert scheduled.strip().endswith("cli.sh score-db --as-of 2017-03-01")
    assert manual.strip().endswith("cli.sh score-db --as-of 2017-04-02")
