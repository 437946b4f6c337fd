"""The API's settings: the platform's base (environment over ``.env.<APP_ENV>`` over defaults),
the model and database variables every command shares, and its own ``API_*`` knobs."""

from __future__ import annotations

import pytest

from api.settings import Settings
from data_engineering.src.paths import MLFLOW_DB_DEFAULT, SQLITE_DEFAULT
from data_engineering.src.settings import SettingsError, database_url
from data_science.tracking import default_model_uri, tracking_uri

APP_URL = "postgresql+psycopg://hotel_app:file-password@127.0.0.1:55432/hotel"  # pragma: allowlist secret


def test_defaults_are_the_platforms(settings_env) -> None:
    settings = Settings()
    assert settings.resolved_database_url() == database_url() == f"sqlite:///{SQLITE_DEFAULT}"
    assert settings.model_uri == default_model_uri() == "models:/hotel-cancellation@champion"
    assert settings.resolved_tracking_uri() == tracking_uri() == f"sqlite:///{MLFLOW_DB_DEFAULT}"
    assert (settings.reasons, settings.prediction_log, settings.admin_key) == (3, True, None)


def test_the_environments_file_then_the_environment(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env(
        "local",
        DATABASE_URL=APP_URL,
        MODEL_URI="models:/hotel-cancellation/2",
        MLFLOW_TRACKING_URI="http://127.0.0.1:5000",
        API_REASONS="5",
        API_PREDICTION_LOG="false",
    )
    monkeypatch.setenv("APP_ENV", "local")
    monkeypatch.setenv("API_REASONS", "1")
    settings = Settings()
    assert settings.resolved_database_url() == APP_URL
    assert settings.model_uri == default_model_uri() == "models:/hotel-cancellation/2"
    assert settings.resolved_tracking_uri() == tracking_uri() == "http://127.0.0.1:5000"
    assert (settings.reasons, settings.prediction_log) == (1, False)


def test_a_bad_value_or_environment_is_one_clear_error(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_REASONS", "11")
    with pytest.raises(SettingsError, match="API_REASONS: Input should be less than or equal to 10"):
        Settings()
    monkeypatch.delenv("API_REASONS")
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(SettingsError, match="expected one of: prod, local, test"):
        Settings()


def test_the_admin_key_is_never_shown_and_never_a_placeholder(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_ADMIN_KEY", "key-nobody-may-see")  # pragma: allowlist secret
    monkeypatch.setenv("DATABASE_URL", APP_URL)
    settings = Settings()
    assert "key-nobody-may-see" not in repr(settings)
    assert "file-password" not in repr(settings)
    monkeypatch.setenv("API_ADMIN_KEY", "change-me")
    with pytest.raises(SettingsError, match="API_ADMIN_KEY holds a placeholder secret"):
        Settings()
