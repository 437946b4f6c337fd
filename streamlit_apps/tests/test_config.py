"""Where the dashboards read from comes from the platform's settings (see CLI_DOCS.md)."""

from __future__ import annotations

import pytest

from streamlit_apps.lib import config


def test_the_api_is_where_serve_api_listens_by_default(settings_env) -> None:
    assert config.api_url() == "http://127.0.0.1:8000"


def test_the_api_url_from_the_environments_file(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env("local", API_URL="http://10.0.0.5:8080/")
    monkeypatch.setenv("APP_ENV", "local")
    assert config.api_url() == "http://10.0.0.5:8080"
    assert config.environment_hint() == " --env local"
    assert config.setup_db_command() == "./cli.sh setup-db local"
    assert config.database_label().startswith("not configured: .env.local has no DATABASE_URL_READONLY")


def test_an_unknown_environment_is_a_message_not_a_traceback(settings_env, monkeypatch) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    assert "unknown environment 'staging'" in config.database_label()
    assert config.environment_hint() == ""
    assert config.setup_db_command() == "./cli.sh setup-db local"
