"""Helpers of the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from api.settings import Settings
from data_engineering.src.paths import REPO_ROOT


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def logged_ids(url: str, ids: list[str]) -> set[str]:
    """Which of these request ids are in the predictions table."""
    from api.prediction_log import predictions

    engine = sa.create_engine(url)
    found: set[str] = set()
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                query = sa.select(predictions.c.request_id).where(
                    predictions.c.request_id.in_(ids[start : start + 1000])
                )
                found.update(conn.execute(query).scalars())
    finally:
        engine.dispose()
    return found


def api_settings(log_url: str, **overrides: Any) -> Settings:
    """Explicit settings, so that a developer's API_* variables cannot change a test."""
    values: dict[str, Any] = {
        "model_uri": None,
        "database_url": log_url,
        "admin_key": None,
        "reasons": 3,
        "contributions": "exact",
        "prediction_log": True,
        "log_flush_seconds": 0.05,
        "log_retry_max_seconds": 0.5,
        "db_timeout_seconds": 2.0,
        "model_refresh_seconds": 0,  # tests that want the champion watcher say so
    }
    return Settings(**(values | overrides))


def start_server(port: int, env: dict[str, str], *args: str) -> subprocess.Popen:
    """``python -m api.serve`` as ./cli.sh serve-api runs it, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.serve", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
