"""Airflow DAGs: they import cleanly in Airflow's own environment, have the expected graph, and
``airflow dags test`` runs the retraining and scoring DAGs end to end on generated data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.synthetic import write_bookings

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


@pytest.fixture(scope="module")
def dagbag(airflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    result = subprocess.run(
        [str(airflow_python), "-c", INSPECT.format(dags=str(DAGS))],
        env=_airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(li for li in result.stdout.splitlines() if li.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_dags_import_without_errors(dagbag: dict) -> None:
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == {"hotel_retrain", "hotel_score_bookings"}


def test_retrain_graph_runs_the_dvc_stages_in_order(dagbag: dict) -> None:
    retrain = dagbag["dags"]["hotel_retrain"]
    assert retrain["tasks"] == {
        "ingest": ["transform"],
        "transform": ["train"],
        "train": ["evaluate"],
        "evaluate": ["record"],
        "record": ["push"],
        "push": ["report"],
        "report": [],
    }
    for stage in ("ingest", "transform", "train", "evaluate"):
        assert retrain["commands"][stage].strip().endswith(f"cli.sh dvc-repro {stage}")
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
    assert scoring["commands"]["score_new_bookings"].strip().endswith("cli.sh score-db")
    assert scoring["max_active_runs"] == 1


@pytest.mark.slow
def test_airflow_dags_test_end_to_end(
    airflow_python: Path, repo_copy: Path, repo_cli, tmp_path: Path
) -> None:
    """`airflow dags test` of both DAGs in a repository copy, on generated bookings."""
    source = write_bookings(tmp_path / "bookings.csv", 3000, seed=31)
    home = tmp_path / "airflow"
    env = _airflow_env(
        home,
        dags=repo_copy / "infra" / "airflow" / "dags",
        HOTEL_BOOKINGS_SOURCE=str(source),
        HOTEL_SKIP_SYNC="1",
        HOTEL_REPO=str(repo_copy),
    )
    for name in ("HOTEL_WORKSPACE", "MLFLOW_TRACKING_URI", "DATABASE_URL", "APP_ENV"):
        env.pop(name, None)

    def airflow(*args: str, timeout: int = 900) -> str:
        """Run the airflow CLI; fail with the end of its output unless it succeeds."""
        result = subprocess.run(
            [str(airflow_python.parent / "airflow"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log[-4000:]
        return log

    airflow("db", "migrate", timeout=300)
    log = airflow("dags", "test", "hotel_retrain")
    assert "registered hotel-cancellation version 1 as champion" in log
    assert "champion:   version 1, the newest model" in log
    assert (repo_copy / "reports" / "metrics.json").exists()

    loaded = repo_cli(repo_copy, "initialize-data", "v2", "db", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert loaded.returncode == 0, loaded.stderr
    log = airflow("dags", "test", "hotel_score_bookings", timeout=600)
    assert "score-db: scored 3,000 new bookings" in log or "score-db: scored 2," in log
