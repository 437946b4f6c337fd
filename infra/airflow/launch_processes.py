"""The processes of one ``start-airflow``: found by the marker they inherit, recorded in a pid
file in the Airflow home, stopped. ``launch.py`` starts and stops them with these."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

MARKER = "HOTEL_AIRFLOW_LAUNCH"  # this start's id, inherited by every process it starts
PID_FILE = "start-airflow.json"  # in AIRFLOW_HOME: the running launcher's pid and marker
STRAY_GRACE_SECONDS = 5  # from SIGTERM to SIGKILL for stray processes, once the components are gone


def marked(marker: str) -> Iterator[psutil.Process]:
    """Running processes that carry this start's marker in their environment."""
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(MARKER) == marker:
                yield process
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


def stop_marked(marker: str) -> int:
    """SIGTERM to the processes still carrying the marker, SIGKILL after the grace period; how
    many there were."""
    stray = list(marked(marker))
    for process in stray:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(stray, timeout=STRAY_GRACE_SECONDS)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(stray)


def read_pid_file(home: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads((home / PID_FILE).read_text()))
    except (OSError, ValueError):
        return None


def running_launcher(home: Path) -> psutil.Process | None:
    """The launcher recorded in the home, if that process is still running (same pid and start
    time: not a later process that reused the pid)."""
    record = read_pid_file(home)
    if record is None:
        return None
    try:
        process = psutil.Process(int(str(record["pid"])))
        if process.create_time() == record["created"] and process.pid != os.getpid():
            return process
    except (KeyError, ValueError, psutil.Error):
        pass
    return None


def ended(process: psutil.Process, timeout: float) -> bool:
    """Whether ``process`` ends within ``timeout`` seconds. A zombie has ended: its parent (a
    shell that started it in the background) has not collected it yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False
