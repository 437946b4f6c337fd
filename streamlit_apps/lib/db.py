"""Read-only database access for the dashboards: one cached engine, cached query results.

Every failure becomes a ``DataUnavailable`` whose ``kind`` tells a page what to say (the server is
down, the data was never loaded, the role may not read a table), so a page shows a message and
never a traceback. Results are cached for ``QUERY_TTL_SECONDS``: exceptions are not cached, so a
database that comes back is picked up on the next rerun.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from data_engineering.src.engine import make_engine
from data_engineering.src.messages import first_line, masked
from streamlit_apps.lib.config import CONNECT_TIMEOUT_SECONDS, QUERY_TTL_SECONDS

Kind = Literal["config", "down", "no_data", "permission", "error"]

# SQLSTATE codes (PostgreSQL): undefined table, insufficient privilege.
_UNDEFINED_TABLE = "42P01"
_INSUFFICIENT_PRIVILEGE = "42501"


class DataUnavailable(Exception):  # noqa: N818 - a state the pages report, not a programming error
    def __init__(self, kind: Kind, detail: str, where: str = "") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.where = where


def current_url() -> str:
    from data_engineering.src.settings import SettingsError
    from streamlit_apps.lib.config import readonly_database_url

    try:
        return readonly_database_url()
    except SettingsError as exc:
        raise DataUnavailable("config", str(exc)) from exc


def backend(url: str) -> str:
    """``postgresql`` or ``sqlite`` (the two databases the platform writes to)."""
    try:
        return make_url(url).get_backend_name()
    except sa.exc.ArgumentError as exc:
        raise DataUnavailable("config", f"not a database URL: {exc}", masked(url)) from exc


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    try:
        # Read-only: a missing SQLite file is refused, never created (a dashboard must not write).
        return make_engine(url, readonly=True, timeout_seconds=CONNECT_TIMEOUT_SECONDS, pool_size=4)
    except FileNotFoundError as exc:
        raise DataUnavailable("no_data", str(exc), masked(url)) from exc


def classify(exc: sa.exc.SQLAlchemyError, url: str) -> DataUnavailable:
    """Turn a driver error into what a reader of the page needs to know."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    detail = first_line(exc)
    where = masked(url)
    if code == _UNDEFINED_TABLE or "no such table" in detail:
        return DataUnavailable("no_data", detail, where)
    if code == _INSUFFICIENT_PRIVILEGE:
        return DataUnavailable("permission", detail, where)
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and code is None:
        # No SQLSTATE: the driver never got an answer from a server (refused, timed out, DNS).
        return DataUnavailable("down", detail, where)
    return DataUnavailable("error", f"{exc.__class__.__name__}: {detail}", where)


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=256)
def _run(url: str, key: str, _statement: ExecutableReturnsRows) -> pd.DataFrame:
    # ``key`` (the statement as this database's SQL, with its parameters) is the cache key;
    # Streamlit does not hash arguments whose names start with an underscore.
    with _engine(url).connect() as conn:
        result = conn.execute(_statement)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def query(statement: ExecutableReturnsRows, *, url: str | None = None) -> pd.DataFrame:
    """Rows of one SQLAlchemy Core SELECT on the read-only database, cached; raises DataUnavailable."""
    url = url or current_url()
    try:
        compiled = statement.compile(dialect=make_url(url).get_dialect()())
        key = f"{compiled}\n{sorted(compiled.params.items())!r}"
        return _run(url, key, statement)
    except sa.exc.ArgumentError as exc:  # a malformed URL in the environment
        raise DataUnavailable("config", str(exc), masked(url)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise classify(exc, url) from exc
