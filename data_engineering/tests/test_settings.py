"""The one settings mechanism: environment over ``.env.<APP_ENV>`` over defaults, checked values,
secrets that are never shown. (The API's and the dashboards' classes: their components' tests.)"""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr

from data_engineering.src.ingest_source import IngestParams, resolve_source
from data_engineering.src.paths import SQLITE_DEFAULT
from data_engineering.src.reading_settings import ProgressSettings
from data_engineering.src.settings import (
    REPO_ROOT,
    DatabaseSettings,
    HotelSettings,
    SettingsError,
    VocabularySettings,
    WorkspaceSettings,
    database_url,
)

APP_URL = "postgresql+psycopg://hotel_app:file-password@127.0.0.1:55432/hotel"  # pragma: allowlist secret
RO_URL = "postgresql+psycopg://hotel_readonly:ro-password@127.0.0.1:55432/hotel"  # pragma: allowlist secret
SQLITE = f"sqlite:///{SQLITE_DEFAULT}"
PLACEHOLDER_URL = "postgresql+psycopg://hotel_app:change-me@db:5432/hotel"  # pragma: allowlist secret


class KeyedSettings(HotelSettings):
    """A class with a secret besides the database URL, as a component would declare one."""

    key: SecretStr | None = Field(None, validation_alias="HOTEL_TEST_KEY")
    count: int = Field(1, ge=1, validation_alias="HOTEL_TEST_COUNT")


def test_defaults_without_environment_or_file(settings_env) -> None:
    assert database_url() == SQLITE
    assert database_url(readonly=True) == SQLITE
    assert ProgressSettings().seconds == 30
    assert DatabaseSettings().app_env is None


def test_once_setup_db_local_ran_it_is_the_default(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's order: after `setup-db local`, plain commands and the dashboard meet there."""
    settings_env("local", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    assert database_url() == APP_URL  # initialize-data db, serve-api's log, score-db
    assert database_url(readonly=True) == RO_URL  # the dashboards
    assert DatabaseSettings().app_env == "local"
    monkeypatch.setenv("APP_ENV", "test")
    settings_env("test", DATABASE_URL="sqlite:///test.sqlite", DATABASE_URL_READONLY="sqlite:///test.sqlite")
    assert database_url() == "sqlite:///test.sqlite"  # an explicit environment still wins


def test_only_the_local_environment_becomes_a_default(settings_env) -> None:
    settings_env("test", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    settings_env("prod", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    assert database_url() == SQLITE
    assert DatabaseSettings().app_env is None


def test_a_workspace_elsewhere_keeps_to_its_own_database(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """Tests run commands in workspaces of their own: they never write into the checkout's
    local PostgreSQL, whatever .env.local says."""
    settings_env("local", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    monkeypatch.setenv("HOTEL_WORKSPACE", str(tmp_path / "elsewhere"))
    assert database_url().startswith("sqlite:///")
    assert DatabaseSettings().app_env is None


def test_the_file_of_app_env_is_read(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env(
        "local",
        DATABASE_URL=APP_URL,
        DATABASE_URL_READONLY=f"'{RO_URL}'",  # quoted values are unquoted, as docker compose does
        HOTEL_PROGRESS_SECONDS="7",
        HOTEL_BOOKINGS_SOURCE="/data/bookings.csv.gz",
    )
    monkeypatch.setenv("APP_ENV", "local")
    assert database_url() == APP_URL
    assert database_url(readonly=True) == RO_URL
    assert ProgressSettings().seconds == 7
    assert resolve_source(IngestParams(source="params.csv")).location == "/data/bookings.csv.gz"
    assert DatabaseSettings().app_env == "local"


def test_the_environment_wins_over_the_file(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env("local", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL, HOTEL_PROGRESS_SECONDS="7")
    monkeypatch.setenv("APP_ENV", "local")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere.sqlite")
    monkeypatch.setenv("HOTEL_PROGRESS_SECONDS", "9")
    assert database_url() == "sqlite:///elsewhere.sqlite"
    assert database_url(readonly=True) == RO_URL  # not in the environment: the file's
    assert ProgressSettings().seconds == 9


def test_an_empty_variable_counts_as_unset(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env("local", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    monkeypatch.setenv("APP_ENV", "local")
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("HOTEL_PROGRESS_SECONDS", "")
    assert database_url() == APP_URL
    assert ProgressSettings().seconds == 30


def test_an_explicit_environment_wins_over_app_env(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_env("local", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    monkeypatch.setenv("APP_ENV", "test")  # never set up: would fail
    assert database_url("local") == APP_URL  # --env local
    assert DatabaseSettings.for_env("local").app_env == "local"


@pytest.mark.parametrize("make", [DatabaseSettings, ProgressSettings, KeyedSettings])
def test_an_unknown_environment_names_the_valid_ones(
    settings_env, monkeypatch: pytest.MonkeyPatch, make
) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(
        SettingsError, match=r"unknown environment 'staging'.*expected one of: prod, local, test"
    ):
        make()


def test_an_unknown_explicit_environment_is_refused_too(settings_env) -> None:
    with pytest.raises(SettingsError, match="unknown environment 'qa'"):
        database_url("qa")


def test_an_environment_never_set_up_says_what_to_run(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(SettingsError, match=r"\.env\.prod is missing\): run ./cli.sh setup-db prod first"):
        database_url()
    assert ProgressSettings().seconds == 30  # nothing else needs the file
    monkeypatch.setenv("DATABASE_URL", APP_URL)
    assert database_url() == APP_URL  # the environment alone is enough


def test_the_readonly_url_never_falls_back_to_the_application_role(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", APP_URL)
    assert database_url(readonly=True) == SQLITE
    settings_env("local", DATABASE_URL=APP_URL)
    monkeypatch.setenv("APP_ENV", "local")
    with pytest.raises(
        SettingsError, match=r"has no DATABASE_URL_READONLY: run \./cli\.sh setup-db local again"
    ):
        database_url(readonly=True)


def test_settings_needed_while_loading_read_the_environment_only(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_env("local", HOTEL_WORKSPACE="/somewhere", HOTEL_VOCABULARY="/other/vocabulary.yaml")
    monkeypatch.setenv("APP_ENV", "local")
    assert WorkspaceSettings().workspace == REPO_ROOT
    assert VocabularySettings().vocabulary == REPO_ROOT / "data_engineering" / "vocabulary.yaml"
    monkeypatch.setenv("APP_ENV", "staging")  # nor can a bad APP_ENV stop an import
    assert WorkspaceSettings().workspace == REPO_ROOT


def test_relative_paths_are_taken_from_the_repository_root(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOTEL_VOCABULARY", "configs/vocabulary.yaml")
    monkeypatch.setenv("HOTEL_WORKSPACE", "scratch")
    assert VocabularySettings().vocabulary == REPO_ROOT / "configs" / "vocabulary.yaml"
    assert WorkspaceSettings().workspace == REPO_ROOT / "scratch"


def test_secrets_are_never_shown(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", APP_URL)
    monkeypatch.setenv("HOTEL_TEST_KEY", "key-nobody-may-see")  # pragma: allowlist secret
    for settings in (DatabaseSettings(), KeyedSettings()):
        for text in (repr(settings), str(settings), str(settings.model_dump())):
            assert "file-password" not in text
            assert "key-nobody-may-see" not in text
    key = KeyedSettings().key
    assert key is not None
    assert key.get_secret_value() == "key-nobody-may-see"  # pragma: allowlist secret
    assert database_url() == APP_URL


def test_an_invalid_value_names_the_variable_not_the_value(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTEL_TEST_COUNT", "secret-looking-text")
    with pytest.raises(SettingsError) as caught:
        KeyedSettings()
    assert "HOTEL_TEST_COUNT: Input should be a valid integer" in str(caught.value)
    assert "secret-looking-text" not in str(caught.value)
    assert caught.value.__cause__ is None  # pydantic's error, which shows the input, is not chained


@pytest.mark.parametrize("env", [None, "prod"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOTEL_TEST_KEY", "change-me"),
        ("DATABASE_URL", PLACEHOLDER_URL),
    ],
)
def test_placeholder_secrets_are_refused_outside_development(
    settings_env, monkeypatch: pytest.MonkeyPatch, env: str | None, variable: str, value: str
) -> None:
    if env:
        monkeypatch.setenv("APP_ENV", env)
    monkeypatch.setenv(variable, value)
    make = KeyedSettings if variable == "HOTEL_TEST_KEY" else DatabaseSettings
    with pytest.raises(SettingsError, match=f"{variable} holds a placeholder secret") as caught:
        make()
    assert "db:5432" not in str(caught.value)  # names the variable, not the URL


@pytest.mark.parametrize("env", ["local", "test"])
def test_placeholder_secrets_pass_in_development(
    settings_env, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    settings_env(env, DATABASE_URL=PLACEHOLDER_URL)
    monkeypatch.setenv("APP_ENV", env)
    monkeypatch.setenv("HOTEL_TEST_KEY", "change-me")
    assert KeyedSettings().key is not None
    assert "change-me" in database_url()


def test_recorded_reads_the_file_whatever_the_environment_says(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_env("test", DATABASE_URL=APP_URL, DATABASE_URL_READONLY=RO_URL)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///developer.sqlite")
    monkeypatch.setenv("DATABASE_URL_READONLY", "sqlite:///developer.sqlite")
    recorded = DatabaseSettings.recorded("test")
    assert recorded.resolved_database_url() == APP_URL
    assert recorded.resolved_database_url(readonly=True) == RO_URL
    assert DatabaseSettings.recorded("prod").database_url is None  # never set up: nothing recorded
