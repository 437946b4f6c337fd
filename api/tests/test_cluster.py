"""``./cli.sh serve-cluster``: API replicas behind a real HAProxy, one SIGKILLed under load.

The acceptance case of the scale-out issue: 4 clients send ``/predict`` for 20 s through the
balancer, one replica is killed outright at 6 s. No request may fail (HAProxy resends what the
dead replica refused or dropped to the other one), the killed replica comes back by itself, and
every answered prediction is in PostgreSQL's ``predictions`` table exactly once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from api.tests.helpers import logged_counts
from api.tests.servers import haproxy_or_skip, start_cluster, stop_server
from api.tests.traffic import Traffic
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port, wait_until

LOAD_SECONDS, KILL_AT_SECONDS = 20.0, 6.0
KEY = "cluster-test-key-0123456789"


def pids_behind(url: str, wanted: int, timeout: float = 120) -> set[int]:
    """The distinct ``/health`` pids the balancer answers with, once there are ``wanted``."""
    seen: set[int] = set()

    def enough() -> bool:
        with contextlib.suppress(httpx.TransportError, ValueError, KeyError):
            seen.add(httpx.get(f"{url}/health", timeout=2).json()["pid"])
        return len(seen) >= wanted

    assert wait_until(enough, timeout, interval=0.1), f"only {seen} behind {url}"
    return seen


def test_serve_cluster_without_haproxy_says_what_to_install(repo_cli) -> None:
    # PATH without /usr/sbin, where Debian puts haproxy; bash and the environment stay reachable.
    result = repo_cli(REPO_ROOT, "serve-cluster", "--replicas", "2", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "serve-cluster: error: haproxy is not installed: install it with `apt-get install haproxy` (Debian/Ubuntu)"
    ]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--replicas", "0"], "argument --replicas: must be at least 1, got 0"),
        (["--replicas", "two"], "argument --replicas: invalid positive_int value: 'two'"),
        (["--replicas", "33"], "argument --replicas: at most 32, got 33"),
        (["--port", "70000"], "argument --port: must be 1-65535, got 70000"),
        (["--env", "staging"], "unknown environment 'staging' (expected prod, local or test)"),
    ],
)
def test_serve_cluster_bad_arguments_are_usage_errors(repo_cli, args: list[str], complaint: str) -> None:
    result = repo_cli(REPO_ROOT, "serve-cluster", *args)
    assert result.returncode == 2
    assert any(line.endswith(complaint) for line in result.stderr.splitlines()), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_replica_that_cannot_start_ends_the_command_with_its_reason(tmp_path: Path) -> None:
    haproxy_or_skip()
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",  # no model registered there
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "API_REQUIRE_KEY": "false",
    }
    cluster = start_cluster(port, env, "--replicas", "2")
    output, _ = cluster.communicate(timeout=180)
    assert cluster.returncode == 1, output
    assert "no model found at models:/hotel-cancellation@champion" in output, output
    assert "could not start" in output, output
    assert "serve-cluster: stopped" in output.splitlines()[-1]
    # Nothing left listening on the balancer's port.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_a_taken_port_ends_the_command_with_haproxys_reason(tmp_path: Path) -> None:
    haproxy_or_skip()
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "API_REQUIRE_KEY": "false",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = start_cluster(taken.getsockname()[1], env, "--replicas", "1")
        output, _ = cluster.communicate(timeout=120)
    assert cluster.returncode == 1, output
    assert "cannot bind socket" in output  # HAProxy's own alert
    assert "serve-cluster: error: HAProxy stopped (exit code 1); stopping the replicas" in output
    assert output.strip().splitlines()[-1] == "serve-cluster: stopped"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.fault
def test_a_replica_killed_under_load_loses_no_request_and_comes_back(
    served_workspace, pg_schema_url, booking, fault_case
) -> None:
    haproxy_or_skip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "MLFLOW_TRACKING_URI": served_workspace.tracking_uri,
        "DATABASE_URL": pg_schema_url,
        "API_KEYS": KEY,
    }
    cluster = start_cluster(port, env, "--replicas", "2")
    try:
        before = pids_behind(url, 2)
        victim = min(before)
        with Traffic(url, booking, clients=4, headers={"X-API-Key": KEY}) as traffic:
            started = time.monotonic()
            time.sleep(KILL_AT_SECONDS)
            os.kill(victim, signal.SIGKILL)
            time.sleep(LOAD_SECONDS - (time.monotonic() - started))
        # The supervisor restarted it: a third pid answers beside the survivor.
        after = pids_behind(url, 2)
        assert victim not in after, (before, after)
        assert len(after - before) == 1, (before, after)
    finally:
        output = stop_server(cluster)
    statuses = traffic.statuses()
    answered = traffic.request_ids
    counts = logged_counts(pg_schema_url, answered)
    missing = [request_id for request_id in answered if request_id not in counts]
    twice = [request_id for request_id, n in counts.items() if n > 1]
    fault_case(
        case="an API replica SIGKILLed under load (serve-cluster, 2 replicas, 4 clients, 20 s)",
        sent=len(traffic.answers),
        kept=len(answered) - len(missing),
        lost=len(traffic.answers) - len(answered) + len(missing),
        detail=f"HTTP statuses {statuses}; answered but not in `predictions`: {len(missing)}; "
        f"logged more than once: {len(twice)}",
    )
    failures = [answer for answer in traffic.answers if answer[1] != 200]
    assert statuses == {200: len(traffic.answers)}, f"{statuses}: {failures[:5]}\n{output[-4000:]}"
    assert len(answered) > 40, f"only {len(answered)} answers in {LOAD_SECONDS:.0f} s"
    assert len(set(answered)) == len(answered)
    assert f"replica 1 (pid {victim})" in output or f"replica 2 (pid {victim})" in output
    assert "killed by SIGKILL; restarting it now" in output
    assert (len(missing), len(twice)) == (0, 0), (
        f"{len(answered)} answered: {len(missing)} never logged (e.g. {missing[:3]}), "
        f"{len(twice)} logged more than once; log rows per answer: {Counter(counts.values())}"
    )
    assert cluster.returncode == 0, output[-3000:]
