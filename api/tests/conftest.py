"""Fixtures of the API tests: a served champion (trained on synthetic bookings by the real
pipeline), bookings to send, and prediction-log databases (SQLite, PostgreSQL schemas)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.migrate import upgrade
from api.tests.helpers import api_settings, json_bookings
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


@pytest.fixture
def booking(bookings) -> dict:
    return dict(bookings[0])


@pytest.fixture(scope="session")
def pg_schema_url(new_schema) -> Iterator[str]:
    """A throw-away schema in the test PostgreSQL, migrated: other suites never see our rows."""
    with new_schema("api_test") as url:
        upgrade(url)
        yield url
