"""Fixtures of the API tests: a served champion (trained on synthetic bookings by the real
pipeline), bookings to send, and prediction-log databases (SQLite, PostgreSQL schemas)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api.migrate import upgrade
from api.tests.helpers import api_settings, json_bookings, load_bookings
from data_engineering.src.paths import SHARED_BOOKINGS


def pytest_configure(config: pytest.Config) -> None:
    # Starlette deprecates its httpx-based TestClient in favour of a package this project does
    # not use; the warning says nothing about our code.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


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


@contextmanager
def throw_away_schema(pg_url: str) -> Iterator[str]:
    """A new schema in the test PostgreSQL (its URL: every session's search_path), dropped on exit:
    other suites never see our rows."""
    schema = f"api_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A throw-away schema, migrated (the API's tables, no bookings)."""
    with throw_away_schema(pg_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def loaded_pg_url(pg_url: str, hotel_export, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away schema as ``initialize-data db`` leaves it, with the API's tables too."""
    with throw_away_schema(pg_url) as url:
        load_bookings(url, hotel_export[0], tmp_path_factory.mktemp("loaded-pg"))
        upgrade(url)
        yield url
