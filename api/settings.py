"""Settings of the prediction API, read once (``get_settings``) through the platform's settings base.

The model and the prediction log's database are the ones every command uses (``MODEL_URI``,
``MLFLOW_TRACKING_URI``, ``DATABASE_URL``/``APP_ENV``: inherited from ``TrackingSettings`` and
``DatabaseSettings``); the API's own knobs start with ``API_``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from data_engineering.src.settings import DatabaseSettings
from data_science.tracking import TrackingSettings

# Where ``./cli.sh serve-api`` listens unless told otherwise (the dashboards call it there).
HOST_DEFAULT = "127.0.0.1"
PORT_DEFAULT = 8000


class Settings(DatabaseSettings, TrackingSettings):
    model_config = SettingsConfigDict(env_prefix="API_")

    admin_key: SecretStr | None = Field(
        None,
        validation_alias="API_ADMIN_KEY",
        description="key of `POST /admin/reload` (header `X-API-Key`); unset, the route refuses every call",
        json_schema_extra={"default_shown": "unset"},
    )
    reasons: int = Field(3, ge=0, le=10, description="reasons per prediction (0 turns them off)")
    micro_batch: int = Field(
        64, ge=1, le=1024, description="most single predictions scored together when they arrive together"
    )
    model_refresh_seconds: float = Field(
        30,
        ge=0,
        description="how often each worker checks the registry alias and loads a new champion (0: never)",
    )
    prediction_log: bool = Field(True, description="store every prediction in the table `predictions`")
    log_queue_size: int = Field(
        200_000,
        ge=1,
        description="predictions buffered while the database is slow or down; beyond it they are "
        "dropped and counted",
    )
    log_batch_size: int = Field(2_000, ge=1, description="rows per `COPY` (PostgreSQL) or insert (SQLite)")
    log_flush_seconds: float = Field(0.25, gt=0, description="longest wait before a partial batch is written")
    log_retry_max_seconds: float = Field(5.0, gt=0, description="longest back-off while the database is down")
    db_timeout_seconds: float = Field(
        2.0, gt=0, description="connect/statement timeout of the log and of `/ready`'s check"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
