"""``./cli.sh start-airflow`` and ``stop-airflow`` (infra/airflow/launch.py), with the LocalExecutor.

Airflow is sized for the machine (its LocalExecutor forks one worker per core instead of 32) unless
the configuration says otherwise, and every way of stopping it (SIGTERM, even while a task runs,
a terminal's Ctrl-C, ``stop-airflow``) leaves none of its processes within 30 s. Bad input ends in
one line, without a traceback. The CeleryExecutor's run and stop are in test_airflow_celery.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from data_engineering.src.synthetic import write_bookings
from infra.tests.airflow_helpers import Airflow, airflow_run_env, api_client, describe, started_airflow
from infra.tests.conftest import missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / "cli.sh"


def cli(*args: str, home: Path, path: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = airflow_run_env(home, **extra)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["/bin/bash", str(CLI), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed on stderr (fails on a traceback or more lines)."""
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("usage:")), result.stderr
    return lines[0]


def local_workers(airflow: Airflow, expected: int, timeout: float = 90) -> list[psutil.Process]:
    """The LocalExecutor's worker processes, once ``expected`` of them run (the scheduler forks
    them as it starts) or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [p for p in airflow.tree() if "LocalExecutor" in " ".join(p.cmdline())]
        if len(workers) >= expected or time.monotonic() > deadline:
            return workers
        time.sleep(1)


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_an_unknown_executor_is_a_usage_error(tmp_path):
    result = cli("start-airflow", "--executor", "kubernetes", home=tmp_path)
    assert result.returncode == 2
    assert one_line_error(result) == "cli.sh: unknown executor 'kubernetes' (expected local or celery)"


def test_celery_without_redis_server_says_what_to_install(tmp_path):
    # A PATH with what cli.sh needs before its check, and no redis-server.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to("/usr/bin/dirname")
    result = cli("start-airflow", "--executor", "celery", home=tmp_path / "home", path=str(bin_dir))
    assert result.returncode == 1
    line = one_line_error(result)
    assert "redis-server is not installed" in line
    assert "apt-get install redis-server" in line
    assert not (tmp_path / "home").exists(), "nothing is started or written before the check"


def test_celery_refuses_a_metadata_database_that_is_not_postgresql(tmp_path):
    if shutil.which("redis-server") is None:
        missing_tool("redis-server is not installed (apt-get install redis-server)")
    sqlite = f"sqlite:///{tmp_path / 'airflow.db'}"
    result = cli(
        "start-airflow", "--executor", "celery", home=tmp_path, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite
    )
    assert result.returncode == 1
    assert "the CeleryExecutor needs PostgreSQL" in one_line_error(result)
    assert not (tmp_path / "airflow.db").exists()


def test_a_taken_port_is_refused_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("start-airflow", "--port", str(port), home=tmp_path)
    assert result.returncode == 1
    assert (
        one_line_error(result)
        == f"start-airflow: port {port} on 127.0.0.1 is taken: stop what uses it or choose another with --port"
    )


def test_stop_airflow_with_nothing_running_says_so(tmp_path):
    result = cli("stop-airflow", home=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == f"stop-airflow: no start-airflow running from {tmp_path}"
    assert cli("stop-airflow", "now", home=tmp_path).returncode == 2


@pytest.mark.e2e
@pytest.mark.slow
def test_sized_for_the_cores_and_nothing_left_after_ctrl_c(tmp_path, unused_port):
    cores = len(os.sched_getaffinity(0))
    slots = max(2, cores)
    port = unused_port()
    with started_airflow(REPO_ROOT, tmp_path / "home", port) as airflow:
        workers = local_workers(airflow, slots)
        processes = airflow.remember()
        # A terminal's Ctrl-C: SIGINT to the foreground process group.
        seconds = airflow.stop(signal.SIGINT, group=True)
        output = airflow.output()
        print(
            f"{cores} cores: {len(processes)} processes, {len(workers)} LocalExecutor workers; Ctrl-C: {seconds:.1f}s"
        )
        assert len(workers) == slots, output[-3000:]
        assert f"parallelism {slots}" in output
        assert airflow.process.returncode == 0, output[-3000:]
        assert airflow.left() == []
        assert port_closed(port)
        assert "start-airflow: stopped" in output


@pytest.mark.e2e
@pytest.mark.slow
def test_sigterm_during_a_task_stops_the_task_too(repo_copy, tmp_path, unused_port):
    source = write_bookings(tmp_path / "bookings.csv", 3000, seed=23)
    env = {"HOTEL_BOOKINGS_SOURCE": str(source), "HOTEL_RETRAIN_SCHEDULE": "none"}
    port = unused_port()
    with started_airflow(repo_copy, tmp_path / "home", port, env=env) as airflow, api_client(airflow) as api:
        deadline = time.monotonic() + 180
        while api.get("/dags/hotel_retrain").status_code == 404 and time.monotonic() < deadline:
            time.sleep(2)  # the dag-processor has not parsed the file yet
        assert api.patch("/dags/hotel_retrain", json={"is_paused": False}).status_code == 200
        assert api.post("/dags/hotel_retrain/dagRuns", json={"logical_date": None}).status_code == 200
        # SIGTERM while a task's command runs (it runs in a session of its own, under the task).
        while not (running := [describe(p) for p in airflow.remember() if "dvc-repro" in describe(p)]):
            assert time.monotonic() < deadline, airflow.output()[-3000:]
            time.sleep(0.5)
        seconds = airflow.stop(signal.SIGTERM)
        print(f"SIGTERM while {running[0]} ran: stopped in {seconds:.1f}s")
        assert airflow.process.returncode == 0, airflow.output()[-3000:]
        assert airflow.left() == []
        assert port_closed(port)


@pytest.mark.e2e
@pytest.mark.slow
def test_stop_airflow_stops_a_backgrounded_one_and_configuration_wins(tmp_path, unused_port):
    home = tmp_path / "home"
    port = unused_port()
    with started_airflow(REPO_ROOT, home, port, env={"AIRFLOW__CORE__PARALLELISM": "3"}) as airflow:
        assert len(local_workers(airflow, 3)) == 3, airflow.output()[-3000:]
        assert "parallelism 3" in airflow.output()

        again = cli("start-airflow", "--port", str(unused_port()), home=home)
        assert again.returncode == 1
        assert one_line_error(again).startswith(f"start-airflow: Airflow is already running from {home}")

        airflow.remember()
        started = time.monotonic()
        stopped = cli("stop-airflow", home=home)
        seconds = time.monotonic() - started
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "stop-airflow: stopped in" in stopped.stdout
        airflow.process.wait(timeout=5)
        assert airflow.process.returncode == 0
        assert airflow.left() == []
        assert port_closed(port)
        assert seconds < 30
        print(f"stop-airflow: {seconds:.1f}s")
