"""Settings of the prediction API, read once (``get_settings``) through the platform's settings base.

The model and the prediction log's database are the ones every command uses (``MODEL_URI``,
``MLFLOW_TRACKING_URI``, ``DATABASE_URL``/``APP_ENV``: inherited from ``TrackingSettings`` and
``DatabaseSettings``); the API's own knobs start with ``API_``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from api.auth import ApiKeys, check_strength, parse_keys
from data_engineering.src.paths import WORKSPACE
from data_engineering.src.settings import (
    DEVELOPMENT,
    DatabaseSettings,
    HotelSettings,
    SettingsError,
    repo_path,
)
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
    keys: SecretStr | None = Field(
        None,
        validation_alias="API_KEYS",
        description="keys `/predict` and `/predict/batch` accept (header `X-API-Key`), comma-separated, "
        "at least 16 characters each outside development",
        json_schema_extra={"default_shown": "unset"},
    )
    keys_file: Path | None = Field(
        None,
        validation_alias="API_KEYS_FILE",
        description="a file of further keys, one per line (`#` starts a comment): re-read when it "
        "changes, so keys rotate without a restart; a relative path is taken from the repository root",
        json_schema_extra={"default_shown": "unset"},
    )
    require_key: bool | None = Field(
        None,
        validation_alias="API_REQUIRE_KEY",
        description="refuse to start unless `API_KEYS` or `API_KEYS_FILE` is set (`false`: `/predict` "
        "open to anyone who reaches it)",
        json_schema_extra={"default_shown": "true, false with `APP_ENV` local or test"},
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
        1_000_000,
        ge=1,
        description="predictions kept on disk (the spill) while the database is slow or down, about "
        "1 KB each; beyond it new predictions are refused with 503 until it catches up",
    )
    log_spill_dir: Path | None = Field(
        None,
        description="where answered predictions are written before their answer is sent, until "
        "stored in the database (a folder per database inside); keep it across restarts",
        json_schema_extra={"default_shown": "`.local/prediction-log` in the workspace"},
    )
    log_batch_size: int = Field(2_000, ge=1, description="rows per `COPY` (PostgreSQL) or insert (SQLite)")
    log_flush_seconds: float = Field(0.25, gt=0, description="longest wait before a partial batch is written")
    log_retry_max_seconds: float = Field(5.0, gt=0, description="longest back-off while the database is down")
    require_model: bool | None = Field(
        None,
        description="refuse to start when no model can be loaded (`serve-api --require-model`); off, the "
        "API starts, `/ready` says why it has no model and the champion watcher loads one once it can",
        json_schema_extra={"default_shown": "on, unless `APP_ENV` is `local` or `test`"},
    )
    estimate_window: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="answers of each worker (the newest, of the model version it serves) whose "
        "probabilities the estimated ROC AUC of `/metrics` is computed from",
    )
    estimate_min_answers: int = Field(
        1_000,
        ge=1,
        description="fewer answers in the window and nothing is judged (the estimate is NaN, no alert): "
        "below 1,000 the estimate moves by more than about ±0.01 from one sample of bookings to another",
    )
    estimate_roc_auc_floor: float = Field(
        0.85,
        ge=0,
        le=1,
        description="below this estimated ROC AUC the gauge `hotel_api_estimated_roc_auc_below_floor` is 1 "
        "and one warning is logged (one more line when it is back above)",
    )
    estimate_seconds: float = Field(
        60,
        ge=0,
        description="how often each worker computes the estimate, on a thread of its own (0: never)",
    )
    db_timeout_seconds: float = Field(
        2.0, gt=0, description="connect/statement timeout of the log and of `/ready`'s check"
    )

    @model_validator(mode="after")
    def _window_can_judge(self) -> Self:
        if self.estimate_min_answers > self.estimate_window:
            raise ValueError(
                f"API_ESTIMATE_MIN_ANSWERS ({self.estimate_min_answers}) is larger than API_ESTIMATE_WINDOW "
                f"({self.estimate_window}): the window could never hold enough answers to judge"
            )
        return self

    @field_validator("keys_file", "log_spill_dir")
    @classmethod
    def _from_repo_root(cls, value: Path | None) -> Path | None:
        return None if value is None else repo_path(value)

    def key_required(self) -> bool:
        """Must ``/predict`` be guarded by a key (``API_REQUIRE_KEY``, else: outside development)?"""
        return self.require_key if self.require_key is not None else self.app_env not in DEVELOPMENT

    def api_keys(self) -> ApiKeys:
        """The keys ``/predict`` accepts. Raises SettingsError, naming the variable, when the API
        must not start with them: none where one is required, a missing file, a placeholder or a
        key shorter than 16 characters outside development."""
        production = self.app_env not in DEVELOPMENT
        text = self.keys.get_secret_value() if self.keys is not None else None
        if text is not None and production:
            check_strength(parse_keys(text), "API_KEYS")
        if self.key_required() and not parse_keys(text or "") and self.keys_file is None:
            raise SettingsError(
                "API_KEYS is not set: outside development (APP_ENV local or test) /predict needs keys; "
                "set API_KEYS or API_KEYS_FILE, or API_REQUIRE_KEY=false to serve it without one"
            )
        return ApiKeys(text, self.keys_file, check_file_keys=production)

    def spill_dir(self) -> Path:
        return self.log_spill_dir or WORKSPACE / ".local" / "prediction-log"

    def model_required(self) -> bool:
        """Whether start-up fails without a model: on outside development, unless told."""
        return self.require_model if self.require_model is not None else self.app_env not in DEVELOPMENT


class MetricsSettings(HotelSettings):
    reads_env_file = False  # prometheus_client reads the process environment only

    multiproc_dir: Path | None = Field(
        None,
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="prometheus_client's own variable: where each API worker writes its metrics for "
        "`/metrics` to add up; `serve-api --workers N` (N > 1) sets it to a temporary folder",
        json_schema_extra={"default_shown": "unset: `/metrics` shows the one process's"},
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
