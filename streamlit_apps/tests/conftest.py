"""A seeded PostgreSQL for the dashboard tests, isolated in schemas of its own.

The test database is shared with the other components' tests (which load ``bookings_*`` into
``public`` too), so the dashboards get a schema per session: ``initialize-data`` loads the
synthetic bookings there (with reservation ids, as a hotel's export has them), the tests add a
``predictions`` table with the API's schema, ``score-db`` scores the bookings on the books on two
days into ``booking_scores``, and the read-only role sees that schema alone through its
``search_path``. A second, empty schema is the
"database with no tables" case.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url

from streamlit_apps.tests.helpers import with_search_path
from streamlit_apps.tests.seed import (
    SCORED_DAYS,
    export_with_ids,
    insert_predictions,
    load_bookings,
    make_predictions,
    score_days,
)


@dataclass(frozen=True)
class Seeded:
    schema: str
    app_url: str  # the application role, search_path = the seeded schema
    readonly_url: str  # the read-only role, same schema
    empty_readonly_url: str  # the read-only role on a schema without tables
    tracking_uri: str
    bookings: pd.DataFrame  # the dashboards' bookings table as loaded (the tests' oracle)
    predictions: pd.DataFrame  # what was inserted into predictions, booking dicts included


@contextmanager
def seeded_schema(pg_url: str, pg_readonly_url: str, trained_workspace, workspace: Path) -> Iterator[Seeded]:
    """Two fresh schemas (one seeded, one empty), dropped on exit whatever happened."""

    tag = uuid.uuid4().hex[:8]
    schema, empty = f"dashboards_{tag}", f"dashboards_empty_{tag}"
    reader = make_url(pg_readonly_url).username
    admin = sa.create_engine(pg_url)
    try:
        with admin.begin() as conn:
            for name in (schema, empty):
                conn.exec_driver_sql(f"CREATE SCHEMA {name}")
                conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {name} TO {reader}")
                # Every load creates its tables anew: grant on tables created later, as setup-db does.
                conn.exec_driver_sql(
                    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT SELECT ON TABLES TO {reader}"
                )
        app_url = with_search_path(pg_url, schema)
        bookings = load_bookings(app_url, workspace, export_with_ids(trained_workspace.source, workspace))
        predictions = make_predictions(bookings)
        insert_predictions(app_url, predictions)
        score_days(app_url, workspace, trained_workspace.tracking_uri, SCORED_DAYS)
        yield Seeded(
            schema=schema,
            app_url=app_url,
            readonly_url=with_search_path(pg_readonly_url, schema),
            empty_readonly_url=with_search_path(pg_readonly_url, empty),
            tracking_uri=trained_workspace.tracking_uri,
            bookings=bookings,
            predictions=predictions,
        )
    finally:
        with admin.begin() as conn:
            for name in (schema, empty):
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.dispose()


@pytest.fixture(scope="session")
def seeded(pg_url: str, pg_readonly_url: str, trained_workspace, tmp_path_factory) -> Iterator[Seeded]:
    with seeded_schema(pg_url, pg_readonly_url, trained_workspace, tmp_path_factory.mktemp("dash")) as data:
        yield data


@pytest.fixture(scope="module")
def own_seeded(pg_url: str, pg_readonly_url: str, trained_workspace, tmp_path_factory) -> Iterator[Seeded]:
    """Seeded schemas of the module's own, for tests whose servers write to them."""
    with seeded_schema(pg_url, pg_readonly_url, trained_workspace, tmp_path_factory.mktemp("own")) as data:
        yield data


@pytest.fixture(scope="session")
def registry_copy(trained_workspace, tmp_path_factory) -> str:
    """The trained store copied, with two more versions of the champion's model: one the
    challenger, one without an alias. The session's own store stays as other tests expect it."""
    import mlflow

    from data_science.tracking import CHALLENGER, CHAMPION, MODEL_NAME

    target = tmp_path_factory.mktemp("registry") / "mlflow.db"
    shutil.copy(trained_workspace.root / "mlflow.db", target)
    uri = f"sqlite:///{target}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    # The artifacts' location, not the models:/ source, which MLflow resolves via the global URI.
    location = client.get_model_version_download_uri(MODEL_NAME, champion.version)
    for _ in range(2):
        client.create_model_version(MODEL_NAME, location, run_id=champion.run_id)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(int(champion.version) + 1))
    return uri


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with empty Streamlit caches and no database or API from the environment."""
    for name in (
        "DATABASE_URL",
        "DATABASE_URL_READONLY",
        "APP_ENV",
        "API_URL",
        "API_KEY",
        "MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def dashboard_env(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setenv("DATABASE_URL_READONLY", seeded.readonly_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", seeded.tracking_uri)
    return seeded
