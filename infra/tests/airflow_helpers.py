"""Drive ``./cli.sh start-airflow`` as a user does: start it, talk to its REST API, run DAGs, stop
it with a signal or ``stop-airflow``, and count what is left of it.

"What is left" is counted by what the start made, not by process names (other Airflows may run on
this machine): every process of the command's tree taken while it runs (pid and start time, so a
reused pid does not count), plus any process that names its Airflow home in its command line or
environment, which also finds processes that left the tree (a task's command in its own session).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from data_engineering.src.ports import wait_for_server

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN = 30  # seconds: what start-airflow promises on SIGTERM, Ctrl-C and stop-airflow


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    if not wait_for_server(url, process, timeout, interval=0.5):
        pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def airflow_run_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without anything that points at this checkout's Airflow, databases
    or workspace, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    for name in (
        "HOTEL_WORKSPACE", "DATABASE_URL", "DATABASE_URL_READONLY", "APP_ENV",
        "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
    ):  # fmt: skip
        env.pop(name, None)
    return {**env, "HOTEL_SKIP_SYNC": "1", "AIRFLOW_HOME": str(home), **extra}


@dataclass
class Airflow:
    """A running ``start-airflow``: its process (the launcher: cli.sh execs it), home and log."""

    process: subprocess.Popen
    repo: Path
    home: Path
    port: int
    log: Path
    env: dict[str, str]
    seen: set[tuple[int, float]] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tree(self) -> list[psutil.Process]:
        """The launcher and every process below it, now."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def remember(self) -> list[psutil.Process]:
        """Note the processes of the start as they are now (for ``left()``); returns them."""
        processes = {process.pid: process for process in self.tree() + naming(self.home)}
        for process in processes.values():
            with suppress(psutil.Error):
                self.seen.add((process.pid, process.create_time()))
        return list(processes.values())

    def left(self) -> list[str]:
        """Processes of this start still running: remembered ones, and any naming the home."""
        alive = {}
        for pid, created in self.seen:
            with suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                    alive[pid] = process
        for process in naming(self.home):
            alive[process.pid] = process
        return [describe(process) for process in alive.values()]

    def stop(self, how: signal.Signals = signal.SIGTERM, *, group: bool = False) -> float:
        """Send ``how`` to the launcher (to its process group with ``group``, as a terminal's
        Ctrl-C does); the seconds until it exited (fails the test past ``STOP_WITHIN``)."""
        self.remember()
        started = time.monotonic()
        if group:
            os.killpg(os.getpgid(self.process.pid), how)
        else:
            self.process.send_signal(how)
        try:
            self.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"start-airflow still running {STOP_WITHIN}s after {how.name}:\n{self.output()[-3000:]}"
            )
        return time.monotonic() - started

    def kill_everything(self) -> None:
        """Last resort of a fixture: SIGKILL to whatever is left of the start."""
        for process in [*self.tree(), *naming(self.home)]:
            with suppress(psutil.Error):
                process.kill()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)


def naming(home: Path) -> list[psutil.Process]:
    """Processes (not this one) whose command line or environment names the Airflow home."""
    found = []
    text = str(home)
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with suppress(psutil.Error):
            if (
                any(text in part for part in process.cmdline())
                or process.environ().get("AIRFLOW_HOME") == text
            ):
                found.append(process)
    return found


def describe(process: psutil.Process) -> str:
    with suppress(psutil.Error):
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    return str(process.pid)


@contextmanager
def started_airflow(
    repo: Path, home: Path, port: int, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> Iterator[Airflow]:
    """``./cli.sh start-airflow --port PORT ARGS`` of ``repo`` with AIRFLOW_HOME ``home``, in a
    session of its own; yields once the API answers. Whatever the test did, nothing of it
    survives the block (SIGTERM as a user would, then SIGKILL)."""
    if not (repo / ".venv-airflow" / "bin" / "airflow").exists():
        message = "no .venv-airflow: run ./cli.sh sync --airflow"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home.mkdir(parents=True, exist_ok=True)
    run_env = airflow_run_env(home, **(env or {}))
    log = home / "start-airflow.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", str(repo / "cli.sh"), "start-airflow", "--port", str(port), *args],
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    airflow = Airflow(process=process, repo=repo, home=home, port=port, log=log, env=run_env)
    try:
        wait_for(f"{airflow.base}/api/v2/monitor/health", process, log, timeout=timeout)
        airflow.remember()
        yield airflow
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_WITHIN + 30)
        airflow.kill_everything()


def api_client(airflow: Airflow):
    """An httpx client of the REST API (/api/v2) with the admin's JWT from ``/auth/token``."""
    import httpx

    passwords = airflow.home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 60
    while not passwords.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    users = json.loads(passwords.read_text())
    answer = httpx.post(
        f"{airflow.base}/auth/token", json={"username": "admin", "password": users["admin"]}, timeout=30
    )
    assert answer.status_code in (200, 201), answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return httpx.Client(base_url=f"{airflow.base}/api/v2", headers=headers, timeout=30)


def run_dag(
    api, dag_id: str, timeout: float = 900, logical_date: str | None = None
) -> tuple[str, str, dict[str, str], float]:
    """Unpause ``dag_id``, trigger it through the REST API (for ``logical_date``, else a run with
    none) and wait for the end of the run: (run id, the run's state, each task's state, seconds)."""
    deadline = time.monotonic() + 180
    while (found := api.get(f"/dags/{dag_id}")).status_code == 404 and time.monotonic() < deadline:
        time.sleep(2)  # the dag-processor has not parsed the file yet
    assert found.status_code == 200, found.text
    assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200
    started = time.monotonic()
    triggered = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date})
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["dag_run_id"]
    while (state := api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]) not in ("success", "failed"):
        assert time.monotonic() - started < timeout, f"{dag_id} still {state} after {timeout:.0f}s"
        time.sleep(3)
    tasks = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return run_id, state, {task["task_id"]: task["state"] for task in tasks}, time.monotonic() - started
