"""The platform's settings: one pydantic-settings base, one class per component.

Every value comes from, first match wins:

1. the process environment (``./cli.sh --env ENV`` exports ``APP_ENV=ENV``);
2. the git-ignored file ``.env.<APP_ENV>`` at the repository root, which ``./cli.sh setup-db ENV``
   writes (``APP_ENV`` is ``prod``, ``local`` or ``test``; unset, ``.env.local`` once ``setup-db
   local`` has written it, else no file is read);
3. the class's default.

Classes whose values are needed while the code loads (the workspace, the vocabulary file, and
``APP_ENV`` itself) read the environment only. Relative paths are taken from the repository
root, never from the current directory. Secrets are ``SecretStr``: a repr, a log line or an
error message never shows them, and outside development (``APP_ENV`` ``local`` or ``test``) a
placeholder such as ``change-me`` is refused. The table "Configuration variables" of CLI_DOCS.md
is generated from these classes (``python -m scripts.settings_table --write``); a test keeps it
equal to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("prod", "local", "test")
DEVELOPMENT = ("local", "test")
# The placeholders of infra/.env.example: a value nobody chose is no secret.
PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme"})
# Where the .env.<ENV> files live (a module attribute so that tests can point it elsewhere).
ENV_FILE_DIR = REPO_ROOT
# The embedded SQLite database, relative to the workspace: the database when none is configured.
# Defined here, below paths.py (which builds its paths on the workspace these settings resolve).
EMBEDDED_DATABASE = Path("data") / "hotel_cancellation.sqlite"
# The environment used when APP_ENV is unset, once `./cli.sh setup-db local` has recorded it: the
# README's commands (initialize-data db, serve-api, score-db, dashboard) then meet in one
# database without each needing `--env local`; before it, they share the embedded SQLite file.
DEFAULT_ENVIRONMENT = "local"


class SettingsError(ValueError):
    """A setting is invalid or missing. The message names the variable, never a secret's value.

    A ValueError: every command already reports those as one line and exits 1."""


def env_file(env: str) -> Path:
    """The file ``./cli.sh setup-db ENV`` records its database in."""
    return ENV_FILE_DIR / f".env.{env}"


def check_environment(env: str | None) -> str | None:
    if env is not None and env not in ENVIRONMENTS:
        raise SettingsError(
            f"unknown environment '{env}' (APP_ENV or --env); expected one of: {', '.join(ENVIRONMENTS)}"
        )
    return env


def repo_path(value: str | Path) -> Path:
    """A configured path: ``~`` expanded, relative paths taken from the repository root."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable of one field (its alias, else the class's prefix + its name)."""
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _is_placeholder(secret: str) -> bool:
    if secret.strip().lower() in PLACEHOLDER_SECRETS:
        return True
    try:  # a URL whose password is a placeholder
        password = urlsplit(secret).password
    except ValueError:
        return False
    return password is not None and password.strip().lower() in PLACEHOLDER_SECRETS


class HotelSettings(BaseSettings):
    """Base of every settings class: the environment, then ``.env.<APP_ENV>``, then defaults.

    ``Cls()`` uses ``APP_ENV``; ``Cls.for_env("local")`` a given environment (``--env``).
    """

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, env_ignore_empty=True, populate_by_name=True
    )
    # False: the environment only (values needed while modules load, before any --env is known).
    reads_env_file: ClassVar[bool] = True
    _environment: str | None = PrivateAttr(None)

    @classmethod
    def for_env(cls, env: str | None, **values: Any) -> Self:
        """The settings of environment ``env`` (``--env``) instead of ``APP_ENV``'s (None: APP_ENV's)."""
        return cls(_app_env=env, **values)

    def __init__(self, _app_env: str | None = None, **values: Any) -> None:
        env = (check_environment(_app_env) or current_environment()) if self.reads_env_file else None
        try:
            super().__init__(_env_file=env_file(env) if env else None, **values)
        except ValidationError as exc:
            raise SettingsError(self._describe(exc)) from None  # its text would show the input
        self._environment = env
        if env not in DEVELOPMENT:
            self._refuse_placeholders()

    @property
    def app_env(self) -> str | None:
        """The environment whose ``.env`` file was read (None: none)."""
        return self._environment

    @classmethod
    def _describe(cls, exc: ValidationError) -> str:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = next((f for f in cls.model_fields if field in (f, env_name(cls, f))), None)
            problems.append(f"{env_name(cls, name) if name else field or cls.__name__}: {error['msg']}")
        return "invalid settings: " + "; ".join(problems)

    def _refuse_placeholders(self) -> None:
        for field in type(self).model_fields:
            value = getattr(self, field)
            if isinstance(value, SecretStr) and _is_placeholder(value.get_secret_value()):
                raise SettingsError(
                    f"{env_name(type(self), field)} holds a placeholder secret (such as change-me): "
                    "set a real one (placeholders pass only with APP_ENV=local or test)"
                )


class EnvironmentSettings(HotelSettings):
    reads_env_file = False

    app_env_name: str | None = Field(
        None,
        validation_alias="APP_ENV",
        description="`prod`, `local` or `test`, as `--env`: selects the `.env.ENV` file that `./cli.sh "
        "setup-db ENV` wrote",
        json_schema_extra={
            "default_shown": f"`{DEFAULT_ENVIRONMENT}` once `./cli.sh setup-db {DEFAULT_ENVIRONMENT}` has "
            f"written `.env.{DEFAULT_ENVIRONMENT}` (and `HOTEL_WORKSPACE` is the repository root), else "
            "unset: no file is read"
        },
    )


def current_environment() -> str | None:
    """``APP_ENV``, checked (raises SettingsError naming the valid environments); unset, the
    default environment when it has been set up (see ``DEFAULT_ENVIRONMENT``)."""
    return check_environment(EnvironmentSettings().app_env_name) or default_environment()


def default_environment() -> str | None:
    """``DEFAULT_ENVIRONMENT`` once ``./cli.sh setup-db`` has recorded it for this checkout's own
    workspace, else None (the embedded SQLite file).

    A workspace elsewhere (``HOTEL_WORKSPACE``: the tests' temporary folders) is a world of its
    own: it never writes into the database the checkout's ``.env.local`` names.
    """
    if not env_file(DEFAULT_ENVIRONMENT).exists():
        return None
    return DEFAULT_ENVIRONMENT if WorkspaceSettings().workspace == REPO_ROOT else None


class WorkspaceSettings(HotelSettings):
    reads_env_file = False

    workspace: Path = Field(
        Path(),
        validation_alias="HOTEL_WORKSPACE",
        description="where generated data, reports, models and the embedded databases go (tests point "
        "it at a temporary folder); a relative path is taken from the repository root",
        json_schema_extra={"default_shown": "the repository root"},
    )

    @field_validator("workspace")
    @classmethod
    def _from_repo_root(cls, value: Path) -> Path:
        return repo_path(value)


class VocabularySettings(HotelSettings):
    reads_env_file = False

    vocabulary: Path = Field(
        Path("data_engineering/vocabulary.yaml"),
        validation_alias="HOTEL_VOCABULARY",
        description="the categories the column spec allows (hotels, room types, ...): a file written by "
        "`./cli.sh vocabulary FILE --write PATH` (`./cli.sh` takes a relative path from your directory)",
    )

    @field_validator("vocabulary")
    @classmethod
    def _from_repo_root(cls, value: Path) -> Path:
        return repo_path(value)


class CapacitySettings(HotelSettings):
    capacity_file: Path = Field(
        Path("data_engineering/hotels.yaml"),
        validation_alias="HOTEL_CAPACITY_FILE",
        description="each hotel's rooms and the costs of walking a guest and of an empty room, for the "
        "nightly forecast's overbooking recommendation (format: `data_science/README.md`, \"Nightly "
        'forecast"); the default gives the costs and no capacity (it lists no hotel, so it suits any vocabulary); a relative '
        "path is taken from the repository root",
    )

    @field_validator("capacity_file")
    @classmethod
    def _from_repo_root(cls, value: Path) -> Path:
        return repo_path(value)


class DatabaseSettings(HotelSettings):
    database_url: SecretStr | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL of the database of the loads, `score-db`, the API's prediction log "
        "and `db-migrate`",
        json_schema_extra={
            "default_shown": "`.env.ENV`'s with `APP_ENV` (unset: `.env.local`'s once `setup-db local` "
            "ran), else the embedded SQLite file `data/hotel_cancellation.sqlite`"
        },
    )
    database_url_readonly: SecretStr | None = Field(
        None,
        validation_alias="DATABASE_URL_READONLY",
        description="SQLAlchemy URL the dashboards read with (the read-only role); never falls back "
        "to `DATABASE_URL`",
        json_schema_extra={
            "default_shown": "`.env.ENV`'s with `APP_ENV` (unset: `.env.local`'s once `setup-db local` "
            "ran), else the embedded SQLite file, opened read-only"
        },
    )

    @classmethod
    def recorded(cls, env: str) -> Self:
        """What ``./cli.sh setup-db ENV`` recorded in ``.env.ENV``, whatever the environment says."""
        path = env_file(check_environment(env) or env)
        values = DotEnvSettingsSource(cls, env_file=path)() if path.exists() else {}
        # By variable name, as the file source returns them; None hides the environment's.
        unset = {env_name(cls, field): None for field in cls.model_fields}
        return cls.for_env(env, **(unset | values))

    def resolved_database_url(self, *, readonly: bool = False) -> str:
        """The URL to connect to (see the module docstring for where it comes from)."""
        value = self.database_url_readonly if readonly else self.database_url
        if value is not None:
            return value.get_secret_value()
        if env := self.app_env:
            path = env_file(env)
            if not path.exists():
                raise SettingsError(
                    f"no database recorded for environment '{env}' ({path.name} is missing): "
                    f"run ./cli.sh setup-db {env} first"
                )
            key = env_name(type(self), "database_url_readonly" if readonly else "database_url")
            raise SettingsError(f"{path.name} has no {key}: run ./cli.sh setup-db {env} again")
        return f"sqlite:///{WorkspaceSettings().workspace / EMBEDDED_DATABASE}"


def database_url(env: str | None = None, *, readonly: bool = False) -> str:
    """SQLAlchemy URL of the database to use: ``DATABASE_URL`` (or ``DATABASE_URL_READONLY``),
    else the one recorded for ``env`` (default ``APP_ENV``), else the embedded SQLite file."""
    return DatabaseSettings.for_env(env).resolved_database_url(readonly=readonly)
