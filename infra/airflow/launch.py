"""Start and stop local Airflow: ``./cli.sh start-airflow`` and ``./cli.sh stop-airflow``.

Runs in Airflow's own environment (``.venv-airflow``). ``airflow standalone`` is not used: it
forces the LocalExecutor, and when it gets SIGTERM it dies alone, leaving its components running
(measured: 38 of 40 processes still alive 30 s later, the API still answering). Instead:

- Airflow's components (scheduler, dag-processor, triggerer, api-server; with ``--executor
  celery`` also Redis and a Celery worker) run under honcho, each in a process group of its own.
  SIGTERM or SIGINT (Ctrl-C) to this process, or one component ending by itself, stops them all:
  SIGTERM to every group, SIGKILL to what is left after ``GRACE_SECONDS``.
- Processes that left those groups (a BashOperator runs its command in a new session) carry the
  variable ``HOTEL_AIRFLOW_LAUNCH`` of this start, by which they are found and stopped last.
- Airflow is sized for the machine: settings that Airflow's defaults size for a big server (32
  LocalExecutor worker processes, 16 Celery pool processes) follow the cores instead, unless they
  are configured (an ``AIRFLOW__SECTION__KEY`` variable or a value in ``airflow.cfg`` that differs
  from Airflow's default).

``launch.py start --port P --executor local|celery`` and ``launch.py stop [--timeout S]``; the
Airflow home is ``AIRFLOW_HOME`` (cli.sh sets it, with the DAGs folder and the database URL).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psutil
from honcho import manager as honcho_manager
from honcho.manager import Manager
from honcho.printer import Printer
from pydantic import Field
from pydantic_settings import SettingsConfigDict

# cli.sh runs this file as a script in Airflow's environment: its folder is on the path, the
# repository's root (where the shared modules it needs live: standard library and pydantic-settings
# only, both in Airflow's environment) is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data_engineering.src.environment import child_environment, export
from data_engineering.src.ports import answers, free_port, port_taken
from data_engineering.src.settings import HotelSettings
from infra.airflow.launch_processes import (
    MARKER,
    PID_FILE,
    ended,
    read_pid_file,
    running_launcher,
    stop_marked,
)

GRACE_SECONDS = 15  # from SIGTERM to SIGKILL for the components (the triggerer takes 10 s)
STOP_TIMEOUT = 30.0  # stop-airflow gives up (and kills) after this
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
REQUESTED_STOP = (130, 143)  # honcho's return codes after SIGINT and SIGTERM


class LaunchSettings(HotelSettings):
    """What the launcher reads of its environment: the Airflow home (cli.sh sets it), Airflow's
    database and the machine-sized settings when configured (Airflow reads them itself too)."""

    reads_env_file = False
    # A variable set empty is configured all the same: Airflow takes it as it is.
    model_config = SettingsConfigDict(env_ignore_empty=False)

    airflow_home: Path = Field(validation_alias="AIRFLOW_HOME")
    metadata_database: str = Field("", validation_alias="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", repr=False)
    parallelism: str | None = Field(None, validation_alias="AIRFLOW__CORE__PARALLELISM")
    parsing_processes: str | None = Field(None, validation_alias="AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES")
    worker_concurrency: str | None = Field(None, validation_alias="AIRFLOW__CELERY__WORKER_CONCURRENCY")

    def configured(self, key: str) -> bool:
        """Whether the ``AIRFLOW__SECTION__KEY`` variable of a machine-sized setting is set."""
        return getattr(self, key) is not None


def say(message: str) -> None:
    print(f"start-airflow: {message}", flush=True)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"start-airflow: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# ------------------------------------------------------------------ sizing
def cores() -> int:
    """CPUs this process may run on (taskset's or a cpuset's limit, not the host's count)."""
    return len(os.sched_getaffinity(0))


def sized_settings(executor: str, n_cores: int) -> dict[tuple[str, str], int]:
    """Airflow settings that follow the machine: (section, key) -> value.

    The LocalExecutor forks ``parallelism`` worker processes at start, idle or not, and a Celery
    worker ``worker_concurrency`` pool processes: one per core (at least two, so that a scoring
    run need not wait for a retraining). The DAG processor parses with at most one process per core.
    """
    slots = max(2, n_cores)
    settings = {("core", "parallelism"): slots, ("dag_processor", "parsing_processes"): min(2, n_cores)}
    if executor == "celery":
        settings[("celery", "worker_concurrency")] = slots
    return settings


def apply_sizing(executor: str, settings: LaunchSettings) -> list[str]:
    """Set the machine-sized values wherever Airflow's configuration holds its default; returns
    what was decided ("parallelism 2", ...), for one line of output."""
    from airflow.configuration import conf

    decided = []
    for (section, key), value in sized_settings(executor, cores()).items():
        variable = f"AIRFLOW__{section.upper()}__{key.upper()}"
        configured = str(conf.get(section, key))
        if not settings.configured(key) and configured == str(conf.get_default_value(section, key)):
            configured = str(value)
            export(**{variable: configured})
        decided.append(f"{key} {configured}")
    return decided


# ------------------------------------------------------------------ Redis (Celery's broker)
@dataclass(frozen=True)
class Broker:
    config: Path
    url: str


def prepare_redis(home: Path) -> Broker:
    """A Redis for this Airflow home: bound to 127.0.0.1 on a free port, with a password generated
    once and kept in the home (mode 600, never a default), data in ``HOME/redis``."""
    folder = home / "redis"
    folder.mkdir(mode=0o700, exist_ok=True)
    password_file = folder / "password"
    if not password_file.exists():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(32) + "\n")
    password = password_file.read_text().strip()
    port = free_port()
    config = folder / "redis.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(
        "# Written by ./cli.sh start-airflow --executor celery at each start.\n"
        f"bind 127.0.0.1\nprotected-mode yes\nport {port}\nrequirepass {password}\n"
        f'dir "{folder}"\ndaemonize no\nsave ""\nappendonly no\n'
    )
    return Broker(config=config, url=f"redis://:{password}@127.0.0.1:{port}/0")


# ------------------------------------------------------------------ start
def components(port: int, broker: Broker | None) -> dict[str, list[str]]:
    """Name -> command. No log servers (``--skip-serve-logs``): on one machine the API server
    reads task logs from the files under AIRFLOW_HOME/logs, and the log servers would listen on
    every interface, two idle processes more."""
    commands = {
        "scheduler": ["airflow", "scheduler", "--skip-serve-logs"],
        "dag-processor": ["airflow", "dag-processor"],
        "triggerer": ["airflow", "triggerer", "--skip-serve-logs"],
        "api-server": ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
    }
    if broker is not None:
        commands = {"redis": ["redis-server", str(broker.config)], **commands}
        commands["celery-worker"] = ["airflow", "celery", "worker", "--skip-serve-logs"]
    return commands


def announce_when_ready(port: int, home: Path, stopped: threading.Event) -> None:
    """One line once the API answers: where it is and where the admin password is."""
    while not stopped.is_set():
        if answers(f"http://127.0.0.1:{port}/api/v2/monitor/health"):
            passwords = home / "simple_auth_manager_passwords.json.generated"
            say(
                f"Airflow is ready on http://127.0.0.1:{port} (user admin, password in {passwords}); "
                "./cli.sh stop-airflow or Ctrl-C stops it"
            )
            return
        stopped.wait(1)


def migrate() -> None:
    say("creating or upgrading Airflow's metadata database (airflow db migrate)")
    result = subprocess.run(["airflow", "db", "migrate"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout[-3000:] + result.stderr[-3000:], file=sys.stderr)
        fail("airflow db migrate failed (output above)")


def start(executor: str, port: int, settings: LaunchSettings) -> int:
    # Until honcho takes the signals over, SIGTERM or Ctrl-C simply ends the start (subprocess.run
    # kills a running migration on the way out).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    other = running_launcher(home)
    if other is not None:
        fail(f"Airflow is already running from {home} (pid {other.pid}): ./cli.sh stop-airflow stops it")
    if port_taken(port):
        fail(f"port {port} on 127.0.0.1 is taken: stop what uses it or choose another with --port")
    if executor == "celery" and shutil.which("redis-server") is None:
        fail("redis-server is not installed: apt-get install redis-server (Debian's package)")

    export(AIRFLOW__CORE__EXECUTOR=EXECUTORS[executor])
    broker = None
    if executor == "celery":
        if not settings.metadata_database.startswith("postgresql"):
            fail(
                "the CeleryExecutor needs PostgreSQL for Airflow's metadata (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
            )
        broker = prepare_redis(home)
        export(AIRFLOW__CELERY__BROKER_URL=broker.url)
    decided = apply_sizing(executor, settings)
    say(
        f"{EXECUTORS[executor]}, sized for {cores()} cores: {', '.join(decided)} (AIRFLOW__SECTION__KEY overrides)"
    )
    migrate()

    marker = uuid.uuid4().hex
    export(**{MARKER: marker})
    record = {
        "pid": os.getpid(),
        "created": psutil.Process().create_time(),
        "marker": marker,
        "executor": executor,
    }
    (home / PID_FILE).write_text(json.dumps(record))
    honcho_manager.KILL_WAIT = GRACE_SECONDS
    manager = Manager(Printer(sys.stdout))
    for name, argv in components(port, broker).items():
        manager.add_process(name, "exec " + shlex.join(argv), env=child_environment())
    ready = threading.Event()
    threading.Thread(target=announce_when_ready, args=(port, home, ready), daemon=True).start()
    try:
        manager.loop()
    finally:
        ready.set()
        stray = stop_marked(marker)
        if stray:
            say(f"stopped {stray} process(es) that had left their component (task commands)")
        (home / PID_FILE).unlink(missing_ok=True)
    if manager.returncode in REQUESTED_STOP:
        say("stopped")
        return 0
    fail(f"a component stopped by itself (exit {manager.returncode}, see above): everything was stopped")


# ------------------------------------------------------------------ stop
def stop(timeout: float, settings: LaunchSettings) -> int:
    home = settings.airflow_home
    launcher = running_launcher(home)
    if launcher is None:
        print(f"stop-airflow: no start-airflow running from {home}")
        return 0
    record = read_pid_file(home) or {}
    started = time.monotonic()
    print(f"stop-airflow: stopping start-airflow (pid {launcher.pid}, {record.get('executor')} executor)")
    launcher.terminate()
    if not ended(launcher, timeout):
        launcher.kill()
        stop_marked(str(record.get("marker")))
        print(f"stop-airflow: start-airflow did not stop within {timeout:.0f}s: killed", file=sys.stderr)
        return 1
    print(f"stop-airflow: stopped in {time.monotonic() - started:.1f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launch.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start")
    start_parser.add_argument("--port", type=int, required=True)
    start_parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local")
    stop_parser = commands.add_parser("stop")
    stop_parser.add_argument("--timeout", type=float, default=STOP_TIMEOUT)
    args = parser.parse_args(argv)
    settings = LaunchSettings()
    if args.command == "start":
        return start(args.executor, args.port, settings)
    return stop(args.timeout, settings)


if __name__ == "__main__":
    sys.exit(main())
