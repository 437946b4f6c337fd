"""Local TCP ports and servers coming up: the one implementation the launchers (``api/cluster.py``,
``infra/airflow/launch.py``, ``scripts/bench_api.py``) and the tests share.

Standard library only and nothing done at import: Airflow's own environment (``.venv-airflow``)
imports it too, for ``./cli.sh start-airflow``.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Ports nothing listens on now, distinct (held together while picked)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on now (for a server to start on, or a client to find closed)."""
    return free_ports(1, host)[0]


def port_taken(port: int, host: str = LOOPBACK) -> bool:
    """Does something hold ``port`` (it cannot be bound, even with SO_REUSEADDR)?"""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def answers(url: str, timeout: float = 2) -> bool:
    """Does ``GET url`` (plain http) answer 200 now? Straight to the server: a proxy configured
    for the registries must not stand in for a server on this machine."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", target)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):  # refused, reset, timed out, not HTTP yet
        return False
    finally:
        connection.close()


def wait_for_server(
    url: str, process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float, interval: float = 0.25
) -> bool:
    """Until ``url`` answers 200 (True); False as soon as ``process`` (the server) exits, or when
    ``timeout`` passes."""
    up = wait_until(lambda: process.poll() is not None or answers(url), timeout, interval)
    return up and process.poll() is None
