"""A database that is empty, down or not configured: a message on the page, never a traceback."""

from __future__ import annotations

import pytest

from data_engineering.src.ports import free_port
from data_engineering.src.settings import env_file
from streamlit_apps.lib.sql import BOOKINGS, SCORES
from streamlit_apps.tests.helpers import messages, metrics, open_page

DATABASE_PAGES = [None, "pages/monitoring.py", "pages/forecast.py"]  # None: the default page, Bookings
PAGE_IDS = ["bookings", "monitoring", "forecast"]
# The table each page reads first (bookings: the pipeline's version, initialize-data's default),
# and the command its message names.
FIRST_TABLE = {
    None: (BOOKINGS, "./cli.sh initialize-data db"),
    "pages/monitoring.py": ("predictions", "The prediction API logs every answer"),
    "pages/forecast.py": (SCORES, "./cli.sh score-db"),
}


@pytest.mark.postgres
@pytest.mark.parametrize("page", DATABASE_PAGES, ids=PAGE_IDS)
def test_database_without_tables(seeded, monkeypatch: pytest.MonkeyPatch, page: str | None) -> None:
    monkeypatch.setenv("DATABASE_URL_READONLY", seeded.empty_readonly_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", seeded.tracking_uri)
    at = open_page(page)
    text = messages(at)
    table, hint = FIRST_TABLE[page]
    assert f"No `{table}` table yet" in text
    assert f'relation "{table}" does not exist' in text
    assert hint in text
    assert "hotel_readonly:***@" in text  # which database, without its password
    assert not metrics(at)


@pytest.mark.parametrize("page", DATABASE_PAGES, ids=PAGE_IDS)
def test_database_down(monkeypatch: pytest.MonkeyPatch, page: str | None) -> None:
    url = f"postgresql+psycopg://hotel_readonly:secret@127.0.0.1:{free_port()}/hotel"  # pragma: allowlist secret
    monkeypatch.setenv("DATABASE_URL_READONLY", url)
    at = open_page(page)
    text = messages(at)
    assert "Cannot connect to the database" in text
    assert "Connection refused" in text or "connection failed" in text
    assert "secret" not in text
    assert not metrics(at)


def test_environment_never_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    if env_file("prod").exists():
        pytest.skip("this machine has a prod environment recorded")
    monkeypatch.setenv("APP_ENV", "prod")
    at = open_page()
    assert "No database configured" in messages(at)
    assert "./cli.sh setup-db prod" in messages(at)


def test_missing_sqlite_file_is_not_created(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL_READONLY", f"sqlite:///{tmp_path / 'hotel.sqlite'}")
    at = open_page()
    assert f"No `{BOOKINGS}` table yet" in messages(at)
    assert not (tmp_path / "hotel.sqlite").exists()
