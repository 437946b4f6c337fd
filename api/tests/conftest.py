"""Fixtures of the API tests: a served champion (trained on synthetic bookings by the real
pipeline), bookings to send, and prediction-log databases (SQLite, PostgreSQL schemas)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.migrate import upgrade
from api.tests.helpers import api_settings, json_bookings, load_bookings
from api.tests.postgres_cluster import Cluster, server_binaries
from data_engineering.src.paths import SHARED_BOOKINGS
from data_engineering.src.ports import free_port


def pytest_configure(config: pytest.Config) -> None:
    # Starlette deprecates its httpx-based TestClient in favour of a package this project does
    # not use; the warning says nothing about our code.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="session", autouse=True)
def spill_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where every app and server of the session spills its predictions (never the checkout's)."""
    path = tmp_path_factory.mktemp("spill")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_LOG_SPILL_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def served_workspace(trained_workspace) -> Iterator[Any]:
    """The trained workspace's registry as this process's MLflow tracking store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        patch.delenv("MODEL_URI", raising=False)
        yield trained_workspace


@pytest.fixture(scope="session")
def sqlite_log_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'predictions.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def app_client(served_workspace, sqlite_log_url) -> Iterator[Any]:
    """One started app (lifespan run: model loaded, log writer going) shared by the fast tests."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(api_settings(sqlite_log_url, admin_key="test-admin-key"))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def bookings(shared_data_or_none, tmp_path_factory) -> list[dict]:
    """2,000 valid bookings as clients send them: real ones when the data is here."""
    import pandas as pd

    from data_engineering.src.synthetic import make_bookings

    if shared_data_or_none is not None:
        raw = pd.read_csv(shared_data_or_none, dtype=str, keep_default_na=False, nrows=6000).iloc[::3]
    else:
        raw = make_bookings(3000, seed=21)
    return json_bookings(raw)[:2000]


@pytest.fixture(scope="session")
def shared_data_or_none() -> Path | None:
    """The real extract beside the repo (as the root conftest's ``shared_data``), or None."""
    return SHARED_BOOKINGS if SHARED_BOOKINGS.exists() else None


@pytest.fixture(scope="session")
def hotel_export(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A hotel's export of 3,000 generated bookings with reservation ids (arrivals July 2015 to
    August 2017, outcomes known): the file and its rows as text."""
    from data_engineering.src.synthetic import make_bookings, with_booking_ids, write_frame

    frame = with_booking_ids(make_bookings(3000, seed=31))
    path = write_frame(tmp_path_factory.mktemp("export") / "bookings.csv", frame)
    return path, frame


@pytest.fixture(scope="session")
def loaded_sqlite_url(hotel_export, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded database as ``initialize-data db`` leaves it, with the API's tables too."""
    folder = tmp_path_factory.mktemp("loaded")
    url = f"sqlite:///{folder / 'hotel.sqlite'}"
    load_bookings(url, hotel_export[0], folder)
    upgrade(url)
    return url


@pytest.fixture
def booking(bookings) -> dict:
    return dict(bookings[0])


@pytest.fixture(scope="session")
def pg_schema_url(new_schema) -> Iterator[str]:
    """A throw-away schema in the test PostgreSQL, migrated: other suites never see our rows."""
    with new_schema("api_test") as url:
        upgrade(url)
        yield url


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster, started; the test may stop and start it."""
    binaries = server_binaries()
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
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def loaded_pg_url(new_schema, hotel_export, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away schema as ``initialize-data db`` leaves it, with the API's tables too."""
    with new_schema("api_loaded") as url:
        load_bookings(url, hotel_export[0], tmp_path_factory.mktemp("loaded-pg"))
        upgrade(url)
        yield url
