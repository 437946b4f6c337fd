"""A real PostgreSQL going away and coming back: predictions never notice, the log catches up.

The cluster is the test's own (initdb in a temp dir, non-default port, 127.0.0.1 only), so it
can be stopped and started without disturbing anyone else's database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.migrate import upgrade
from api.tests.helpers import api_settings, free_port, logged_ids, wait_until


def _server_binaries() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "pg_ctl").exists()), None)


@dataclass
class Cluster:
    bin: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str) -> None:
        # initdb refuses to run as root: the server runs as postgres, the tests as themselves.
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60
        )

    def init(self) -> None:
        self._pg(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "log.txt")
        self._pg(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l", log, "-w", "-o", options, "start"
        )

    def stop(self) -> None:
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binaries = _server_binaries()
    if binaries is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and the PostgreSQL server binaries to run a private cluster")
    # Not under pytest's tmp_path: the postgres user cannot enter /tmp/pytest-of-root (mode 700).
    root = Path(tempfile.mkdtemp(prefix="api-outage-pg-"))
    shutil.chown(root, "postgres", "postgres")
    server = Cluster(binaries, root, free_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(binaries / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_predictions_survive_a_database_outage_and_the_log_catches_up(
    served_workspace, cluster, bookings
) -> None:
    upgrade(cluster.url)
    settings = api_settings(cluster.url, db_timeout_seconds=1.0, log_retry_max_seconds=0.3)
    with TestClient(create_app(settings)) as client:
        before = [client.post("/predict", json=b).json()["request_id"] for b in bookings[:5]]
        assert wait_until(lambda: logged_ids(cluster.url, before) == set(before), 10)
        assert client.get("/ready").status_code == 200

        cluster.stop()
        during, slowest = [], 0.0
        for booking in bookings[5:45]:
            started = time.perf_counter()
            response = client.post("/predict", json=booking)
            slowest = max(slowest, time.perf_counter() - started)
            assert response.status_code == 200
            during.append(response.json()["request_id"])
        assert slowest < 0.5, f"a prediction waited {slowest:.2f}s on the stopped database"
        assert wait_until(lambda: client.get("/ready").json()["prediction_log"]["failed_writes"] > 0, 10)
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"][0].startswith("database unreachable")
        assert ready.json()["prediction_log"]["dropped"] == 0  # everything is still queued

        cluster.start()
        assert wait_until(lambda: logged_ids(cluster.url, during) == set(during), 20), "log did not resume"
        assert wait_until(lambda: client.get("/ready").status_code == 200, 10)
        assert client.get("/ready").json()["prediction_log"]["last_error"] is None
