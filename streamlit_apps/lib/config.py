"""Where the dashboards read from: the database (read-only role), MLflow and the prediction API."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

API_URL_DEFAULT = "http://127.0.0.1:8000"
# Short enough that a freshly loaded table or a new prediction shows up within a minute, long
# enough that clicking through filters does not re-run the same aggregation.
QUERY_TTL_SECONDS = 60
MODEL_TTL_SECONDS = 60
API_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 3


def api_url() -> str:
    return (os.environ.get("API_URL") or API_URL_DEFAULT).rstrip("/")


def readonly_database_url() -> str:
    """The read-only role's URL (raises DatabaseConfigError for an environment never set up)."""
    from data_engineering.src.settings import database_url

    return database_url(readonly=True)


def masked(url: str) -> str:
    """A database URL as it may be shown on a page: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder, never raised on a page
        return "(unparsable database URL)"


def masked_uri(uri: str) -> str:
    """Any URI shown on a page (MLflow's may be a database URL or an http one with a login)."""
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)
        if parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
        return uri
    if "://" in uri and not uri.startswith(("file:", "sqlite:")):
        return masked(uri)
    return uri


def database_label() -> str:
    """The read-only database as the sidebar names it, or why there is none."""
    from data_engineering.src.settings import DatabaseConfigError

    try:
        return masked(readonly_database_url())
    except DatabaseConfigError as exc:
        return f"not configured: {exc}"


def environment_hint() -> str:
    """The ``--env`` flag to suggest in messages, matching how the dashboard was started."""
    env = os.environ.get("APP_ENV")
    return f" --env {env}" if env else ""


def setup_db_command() -> str:
    return f"./cli.sh setup-db {os.environ.get('APP_ENV') or 'local'}"
