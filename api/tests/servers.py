"""The API's servers as the tests start them (``python -m api.launcher``, ``api.cluster``), wait
for, read and stop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port, wait_for_server


def inherited() -> dict[str, str]:
    """This process's environment for a server it starts (the session's MLFLOW_TRACKING_URI
    included), minus MLFLOW_REGISTRY_URI: mlflow.set_registry_uri writes it into os.environ, and a
    child given another tracking store must not keep this process's registry."""
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_REGISTRY_URI"}


def start_server(port: int, env: dict[str, str], *args: str, repo: Path = REPO_ROOT) -> subprocess.Popen:
    """``python -m api.launcher`` of ``repo`` (this checkout, or a copy sharing its environment) as
    ./cli.sh serve-api runs it, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.launcher", "--port", str(port), *args],
        cwd=repo,
        # /predict open unless the test sets keys (outside development a key is required).
        env={**inherited(), "API_REQUIRE_KEY": "false", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def haproxy_or_skip() -> str:
    path = shutil.which("haproxy")
    if path is None:
        message = "haproxy is not installed (apt-get install haproxy)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def start_cluster(port: int, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``python -m api.cluster`` (what ./cli.sh serve-cluster runs), output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.cluster", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**inherited(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_up_failure(env: dict[str, str], *args: str) -> tuple[int, str]:
    """A server expected to refuse to start: its exit code and everything it printed."""
    server = start_server(free_port(), env, *args)
    try:
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    return server.returncode, output


def wait_ready(server: subprocess.Popen[str], url: str, timeout: float = 90, route: str = "/ready") -> None:
    """Until ``url``/ready (or ``route``: /health) answers 200; fails with the server's output if it
    exits first."""

    if not wait_for_server(f"{url}{route}", server, timeout, interval=0.2):
        assert server.poll() is None, f"server exited:\n{server.stdout.read() if server.stdout else ''}"
        raise AssertionError(f"server not answering {route} in time")


def stop_server(server: subprocess.Popen[str]) -> str:
    """Terminate it (SIGTERM, as a deployment does) and return everything it printed."""
    server.terminate()
    try:
        output, _ = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    return output


def switch_lines(output: str, version: str) -> list[str]:
    """The log lines of workers that found ``version`` on their own (one per worker process)."""
    return [line for line in output.splitlines() if f"to {version}: now serving it" in line]


def read_json(url: str) -> Any:
    """GET a JSON route, whatever its status (/ready answers 503 with its reasons)."""
    return httpx.get(url, timeout=10).json()
