"""infra/postgres/init/00-bootstrap.sh against a real, throwaway PostgreSQL server.

The compose `postgres` service runs this script on its first start and the `db-bootstrap` service
on every `up`; here it runs the same way (libpq variables, bootstrap.sql from BOOTSTRAP_SQL) against
a cluster of the locally installed server binaries, started in a temporary folder on 127.0.0.1.
Skipped when no server binaries (>= 15) are installed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_engineering.src.ports import free_port

# It starts a PostgreSQL server of its own (initdb, pg_ctl): no fixture says so, the tier does.
pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "infra" / "postgres" / "init" / "00-bootstrap.sh"
BOOTSTRAP_SQL = REPO_ROOT / "infra" / "postgres" / "bootstrap.sql"

# Fresh random passwords for each run: nothing secret-looking is committed.
APP_PASSWORD = secrets.token_urlsafe(16)
NEW_APP_PASSWORD = secrets.token_urlsafe(16)
RO_PASSWORD = secrets.token_urlsafe(16)
AIRFLOW_PASSWORD = secrets.token_urlsafe(16)


def server_bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


@dataclass
class Server:
    bin_dir: Path
    socket_dir: Path
    port: int

    def psql(
        self, sql: str, *, user: str = "postgres", database: str = "postgres", password: str | None = None
    ):
        """Runs one statement; over TCP (password auth) when a password is given, else the socket."""
        host = "127.0.0.1" if password is not None else str(self.socket_dir)
        env = {"PATH": os.environ["PATH"], "PGPASSWORD": password or ""}
        argv = [self.bin_dir / "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", host, "-p", str(self.port), "-U", user, "-d", database]
        return subprocess.run(
            argv,
            input=sql,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def value(self, sql: str) -> str:
        result = self.psql(sql)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def bootstrap(self, **overrides: str | None) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bin_dir}:{os.environ['PATH']}",
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "BOOTSTRAP_SQL": str(BOOTSTRAP_SQL),
            "POSTGRES_APP_PASSWORD": APP_PASSWORD,
            "POSTGRES_READONLY_PASSWORD": RO_PASSWORD,
        }
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return subprocess.run(
            ["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
        )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) installed")
    # The server refuses to run as root: as root, it runs as the `postgres` OS user, in a folder
    # that user owns (pytest's own temporary folders are private to root).
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="hotel-pg-", dir="/tmp"))
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    data = base / "data"

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120, check=False)

    init = run(bin_dir / "initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--no-locale",
               "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")  # fmt: skip
    assert init.returncode == 0, init.stderr
    # A throwaway cluster: no fsync, so that CREATE DATABASE does not wait for the disk.
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(bin_dir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-o", options, "start")
    assert start.returncode == 0, start.stderr + (base / "server.log").read_text()
    try:
        yield Server(bin_dir=bin_dir, socket_dir=base, port=port)
    finally:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_bootstrap_creates_databases_and_roles(server: Server):
    first = server.bootstrap()
    assert first.returncode == 0, first.stderr
    assert "no Airflow database" in first.stdout

    owners = server.value(
        "SELECT string_agg(datname || ':' || pg_get_userbyid(datdba), ',' ORDER BY datname) FROM pg_database"
    )
    assert "hotel:hotel_app" in owners
    assert "mlflow:hotel_app" in owners
    assert "airflow:" not in owners, "no Airflow database without AIRFLOW_DB_PASSWORD"

    # The application role writes, the read-only role reads and cannot write.
    app = server.psql(
        "CREATE TABLE bookings (id int); INSERT INTO bookings VALUES (1);",
        user="hotel_app",
        database="hotel",
        password=APP_PASSWORD,
    )
    assert app.returncode == 0, app.stderr
    read = server.psql(
        "SELECT count(*) FROM bookings", user="hotel_readonly", database="hotel", password=RO_PASSWORD
    )
    assert read.stdout.strip() == "1", read.stderr
    write = server.psql(
        "INSERT INTO bookings VALUES (2)", user="hotel_readonly", database="hotel", password=RO_PASSWORD
    )
    assert write.returncode != 0
    assert "read-only transaction" in write.stderr

    # MLflow's database is its owner's only.
    denied = server.psql("SELECT 1", user="hotel_readonly", database="mlflow", password=RO_PASSWORD)
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr


def test_bootstrap_adds_airflow_and_is_idempotent(server: Server):
    for _ in range(2):
        result = server.bootstrap(AIRFLOW_DB_PASSWORD=AIRFLOW_PASSWORD)
        assert result.returncode == 0, result.stderr
    assert (
        server.value("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'airflow'") == "airflow"
    )
    assert (
        server.value(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('hotel_app', 'hotel_readonly', 'airflow')"
        )
        == "3"
    )

    airflow = server.psql(
        "CREATE TABLE dag (id int)", user="airflow", database="airflow", password=AIRFLOW_PASSWORD
    )
    assert airflow.returncode == 0, airflow.stderr
    for database in ("hotel", "mlflow"):
        denied = server.psql("SELECT 1", user="airflow", database=database, password=AIRFLOW_PASSWORD)
        assert denied.returncode != 0, f"the airflow role must not reach {database}"
    app_in_airflow = server.psql("SELECT 1", user="hotel_app", database="airflow", password=APP_PASSWORD)
    assert app_in_airflow.returncode != 0, "the application role must not reach Airflow's metadata"


def test_changed_passwords_reach_an_existing_cluster(server: Server):
    result = server.bootstrap(POSTGRES_APP_PASSWORD=NEW_APP_PASSWORD, AIRFLOW_DB_PASSWORD=AIRFLOW_PASSWORD)
    assert result.returncode == 0, result.stderr
    assert (
        server.psql("SELECT 1", user="hotel_app", database="hotel", password=NEW_APP_PASSWORD).returncode == 0
    )
    assert server.psql("SELECT 1", user="hotel_app", database="hotel", password=APP_PASSWORD).returncode != 0
    restored = server.bootstrap()
    assert restored.returncode == 0, restored.stderr


@pytest.mark.parametrize("missing", ["POSTGRES_APP_PASSWORD", "POSTGRES_READONLY_PASSWORD"])
def test_bootstrap_refuses_to_run_without_passwords(server: Server, missing):
    result = server.bootstrap(**{missing: None})
    assert result.returncode != 0
    assert missing in result.stderr


def test_bootstrap_needs_the_sql_file(server: Server, tmp_path):
    result = server.bootstrap(BOOTSTRAP_SQL=str(tmp_path / "absent.sql"))
    assert result.returncode != 0
    assert "absent.sql" in result.stderr
