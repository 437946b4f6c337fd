"""The test PostgreSQL (``./cli.sh setup-db test``): its URLs, and schemas of a test's own in it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from data_engineering.src.messages import first_line
from data_engineering.src.settings import DatabaseSettings


def _unavailable(reason: str) -> None:
    """Under CI a missing service is a failure, never a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must start it: ./cli.sh setup-db test)")
    pytest.skip(reason)


def _recorded_test_url(field: str) -> str | None:
    """The URL ``./cli.sh setup-db test`` recorded in ``.env.test`` (never DATABASE_URL's)."""
    secret = getattr(DatabaseSettings.recorded("test"), field)
    return secret.get_secret_value() if secret else None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL started by ``./cli.sh setup-db test``."""
    import sqlalchemy as sa

    url = os.environ.get("TEST_DATABASE_URL") or _recorded_test_url("database_url")
    if not url:
        _unavailable("no test database: run ./cli.sh setup-db test")
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except sa.exc.OperationalError as exc:
        _unavailable(f"test database not reachable: {first_line(exc)}")
    return url


@contextmanager
def fresh_schema(pg_url: str, prefix: str = "t") -> Iterator[str]:
    """The PostgreSQL URL with a new schema as its search_path: other tests never see its rows.
    Dropped, with everything in it, on exit."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
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
def new_schema(pg_url: str) -> Callable[..., AbstractContextManager[str]]:
    """``with new_schema("prefix") as url:`` a schema of one's own in the test PostgreSQL."""
    return lambda prefix="t": fresh_schema(pg_url, prefix)


@pytest.fixture
def pg_schema(new_schema: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    """The test PostgreSQL's URL with a schema of this test's own (its search_path), dropped after."""
    with new_schema() as url:
        yield url


@pytest.fixture(scope="session")
def pg_readonly_url(pg_url: str) -> str:
    url = os.environ.get("TEST_DATABASE_URL_READONLY") or _recorded_test_url("database_url_readonly")
    if not url:
        _unavailable("no read-only URL for the test database")
    return url
