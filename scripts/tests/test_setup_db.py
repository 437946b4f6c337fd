"""setup-db picks its backend by what really works: a Docker engine whose `docker compose` can
start the service, else the local cluster with a one-line note; it never exits 0 without a
server accepting connections.

A fake ``docker`` first on PATH plays the engines that break the compose path (Debian's docker.io
has no compose plugin; an engine whose compose cannot pull the image). The fallback cluster is a
real PostgreSQL of the installed binaries, in a copy of the repository on a free port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from data_engineering.src.ports import free_port

pytestmark = pytest.mark.postgres

# Debian's docker.io client (20.10, no compose plugin) answers `docker compose -f ...` like this.
NO_COMPOSE = """#!/bin/sh
case "$1" in
  info) echo "Server Version: 20.10.24"; exit 0 ;;
  compose) echo "unknown shorthand flag: 'f' in -f" >&2; echo "See 'docker --help'." >&2; exit 125 ;;
esac
exit 1
"""
# A client whose engine is not running.
NO_ENGINE = """#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2
exit 1
"""
# An engine with the plugin whose service cannot start (no registry reachable).
COMPOSE_FAILS = """#!/bin/sh
case "$1 $2" in
  "info "*) exit 0 ;;
  "compose version") echo "Docker Compose version v2.40.0"; exit 0 ;;
esac
case " $* " in
  *" up "*) echo "Error response from daemon: pull access denied for postgres" >&2; exit 18 ;;
esac
exit 0
"""


def _server_binaries() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb") is not None


@pytest.fixture
def setup_db(repo_copy: Path, tmp_path: Path):
    """run(fake_docker_script | None, *args, **env) in the repository copy, on a free port; every
    cluster started is stopped and removed afterwards."""
    if not _server_binaries():
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server binaries (CI installs postgresql-15)")
        pytest.skip("no PostgreSQL server binaries")
    port = str(free_port())
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()

    def run(docker: str | None, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        (fake_bin / "docker").unlink(missing_ok=True)
        if docker is not None:
            (fake_bin / "docker").write_text(docker)
            (fake_bin / "docker").chmod(0o755)
        path = f"{fake_bin}:/usr/sbin:/usr/bin:/sbin:/bin"
        env = {"PATH": path, "HOME": str(tmp_path), "POSTGRES_PORT": port, "HOTEL_SKIP_SYNC": "1", **extra}
        return subprocess.run(
            ["bash", str(repo_copy / "cli.sh"), "setup-db", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    run.port = port
    yield run
    run(None, "test", "stop")
    cluster = repo_copy / ".local" / "postgres" / "test"
    if cluster.is_symlink():
        shutil.rmtree(cluster.resolve(), ignore_errors=True)


def _accepts(url_line: str) -> int:
    import sqlalchemy as sa

    assert url_line.startswith("DATABASE_URL="), url_line
    engine = sa.create_engine(url_line.removeprefix("DATABASE_URL="))
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT 1").scalar_one()
    finally:
        engine.dispose()


def _recorded(repo: Path, key: str) -> str:
    lines = (repo / ".env.test").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{key}="))


def test_engine_without_compose_falls_back_to_a_working_local_cluster(setup_db, repo_copy):
    result = setup_db(NO_COMPOSE, "test")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    note = (
        "setup-db: note: docker has no compose plugin (docker compose version failed); "
        "using a local cluster of the installed PostgreSQL"
    )
    assert notes == [note]
    assert "unknown shorthand flag" not in result.stdout + result.stderr
    assert _accepts(result.stdout.splitlines()[-1]) == 1
    assert _recorded(repo_copy, "POSTGRES_BACKEND") == "local"
    # stop acts on the backend that start used (the fake docker would fail every compose call).
    stopped = setup_db(NO_COMPOSE, "test", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "test server stopped" in stopped.stdout


def test_forced_docker_backend_fails_clearly_without_compose(setup_db):
    result = setup_db(NO_COMPOSE, "test", SETUP_DB_BACKEND="docker")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "setup-db: SETUP_DB_BACKEND=docker, but docker has no compose plugin (docker compose version failed)"
    )
    assert "DATABASE_URL=" not in result.stdout


def test_compose_that_cannot_start_the_service_falls_back(setup_db):
    result = setup_db(COMPOSE_FAILS, "test")
    assert result.returncode == 0, result.stderr
    assert "pull access denied" in result.stderr  # compose's own reason is shown
    assert "setup-db: note: docker compose could not start postgres" in result.stderr
    assert _accepts(result.stdout.splitlines()[-1]) == 1


def test_client_without_engine_falls_back_with_a_note(setup_db):
    result = setup_db(NO_ENGINE, "test")
    assert result.returncode == 0, result.stderr
    assert "setup-db: note: no Docker engine answers (docker info failed)" in result.stderr
    assert _accepts(result.stdout.splitlines()[-1]) == 1


def test_never_exits_0_without_a_server(setup_db):
    result = setup_db(NO_COMPOSE, "test", PG_BIN="/nonexistent/bin")
    assert result.returncode != 0
    assert "DATABASE_URL=" not in result.stdout


def test_unknown_backend_is_refused(setup_db):
    result = setup_db(None, "test", SETUP_DB_BACKEND="podman")
    assert result.returncode == 1
    assert "SETUP_DB_BACKEND must be auto, docker or local (got 'podman')" in result.stderr
