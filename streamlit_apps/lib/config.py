"""Where the dashboards read from: the database (read-only role), MLflow and the prediction API."""

from __future__ import annotations

from pydantic import Field, SecretStr

from api.auth import HEADER as KEY_HEADER
from api.settings import HOST_DEFAULT, PORT_DEFAULT
from data_engineering.src.messages import masked
from data_engineering.src.settings import HotelSettings, SettingsError, current_environment, database_url

API_URL_DEFAULT = f"http://{HOST_DEFAULT}:{PORT_DEFAULT}"  # where ./cli.sh serve-api listens
# Short enough that a freshly loaded table or a new prediction shows up within a minute, long
# enough that clicking through filters does not re-run the same aggregation.
QUERY_TTL_SECONDS = 60
MODEL_TTL_SECONDS = 60
API_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 3


class DashboardSettings(HotelSettings):
    api_url: str = Field(
        API_URL_DEFAULT,
        validation_alias="API_URL",
        description="the prediction API the dashboards' What-if page calls (5 s timeout)",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias="API_KEY",
        description="the key the What-if page sends (header `X-API-Key`): one of the API's `API_KEYS`",
        json_schema_extra={"default_shown": "unset: none sent"},
    )


def api_url() -> str:
    return DashboardSettings().api_url.rstrip("/")


def api_headers() -> dict[str, str]:
    """What the What-if page sends with each call: the API key, when one is set."""
    key = DashboardSettings().api_key
    return {KEY_HEADER: key.get_secret_value()} if key is not None else {}


def readonly_database_url() -> str:
    """The read-only role's URL (raises SettingsError for an environment never set up)."""
    return database_url(readonly=True)


def database_label() -> str:
    """The read-only database as the sidebar names it, or why there is none."""
    try:
        return masked(readonly_database_url())
    except SettingsError as exc:
        return f"not configured: {exc}"


def _environment() -> str | None:
    try:
        return current_environment()
    except SettingsError:  # the database's message says what is wrong with it
        return None


def environment_hint() -> str:
    """The ``--env`` flag to suggest in messages, matching how the dashboard was started."""
    env = _environment()
    return f" --env {env}" if env else ""


def setup_db_command() -> str:
    return f"./cli.sh setup-db {_environment() or 'local'}"
