"""Settings of the prediction API, read once from the environment (pydantic-settings).

Names follow the rest of the platform: ``MODEL_URI``, ``DATABASE_URL``/``APP_ENV`` (resolved by
``data_engineering.src.settings.database_url``, like every other command) and ``API_ADMIN_KEY``;
the API's own tuning knobs start with ``API_``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from data_engineering.src.settings import database_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", frozen=True, populate_by_name=True)

    model_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("MODEL_URI", "API_MODEL_URI"),
        description="MLflow model URI; default models:/hotel-cancellation@champion",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "API_DATABASE_URL"),
        description="prediction log database; default: APP_ENV's, else the embedded SQLite file",
    )
    admin_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("API_ADMIN_KEY"),
        description="X-API-Key of /admin/*; unset disables the admin routes",
    )
    reasons: int = Field(3, ge=0, le=10, description="top contributions explained per prediction")
    micro_batch: int = Field(
        64, ge=1, le=1024, description="most single predictions scored together when they arrive together"
    )
    model_refresh_seconds: float = Field(
        30,
        ge=0,
        description="how often each worker checks the registry alias and loads a new champion (0: never)",
    )
    prediction_log: bool = Field(True, description="store every prediction in the predictions table")
    log_queue_size: int = Field(200_000, ge=1, description="predictions buffered before dropping")
    log_batch_size: int = Field(2_000, ge=1, description="rows per COPY/INSERT")
    log_flush_seconds: float = Field(0.25, gt=0, description="longest wait before a partial batch")
    log_retry_max_seconds: float = Field(5.0, gt=0, description="longest back-off while the DB is down")
    db_timeout_seconds: float = Field(2.0, gt=0, description="connect/statement timeout of DB calls")

    def resolved_database_url(self) -> str:
        return self.database_url or database_url()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
