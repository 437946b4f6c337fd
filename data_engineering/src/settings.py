"""Which database a command talks to.

Order of precedence (first match wins):
1. ``DATABASE_URL`` (or ``DATABASE_URL_READONLY`` for read-only clients) in the environment;
2. an environment name (``--env ENV`` or ``APP_ENV``): the URL that ``./cli.sh setup-db ENV``
   recorded in the git-ignored file ``.env.<ENV>``;
3. the embedded SQLite file ``data/hotel_cancellation.sqlite``, so the main job needs no server.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_engineering.src.paths import REPO_ROOT, SQLITE_DEFAULT

ENVIRONMENTS = ("prod", "local", "test")


class DatabaseConfigError(RuntimeError):
    """The requested environment is unknown or was never set up."""


def env_file(env: str) -> Path:
    return REPO_ROOT / f".env.{env}"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (the format setup-db writes and docker compose reads)."""
    values: dict[str, str] = {}
    for raw_line in path.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def database_url(env: str | None = None, *, readonly: bool = False) -> str:
    """SQLAlchemy URL of the database to use (see the module docstring for the order)."""
    key = "DATABASE_URL_READONLY" if readonly else "DATABASE_URL"
    if os.environ.get(key):
        return os.environ[key]
    env = env or os.environ.get("APP_ENV") or None
    if env:
        if env not in ENVIRONMENTS:
            raise DatabaseConfigError(
                f"unknown environment '{env}'; expected one of: {', '.join(ENVIRONMENTS)}"
            )
        path = env_file(env)
        if not path.exists():
            raise DatabaseConfigError(
                f"no database recorded for environment '{env}' ({path.name} is missing): "
                f"run ./cli.sh setup-db {env} first"
            )
        values = read_env_file(path)
        url = values.get(key) or values.get("DATABASE_URL")
        if not url:
            raise DatabaseConfigError(f"{path} has no {key}")
        return url
    return f"sqlite:///{SQLITE_DEFAULT}"
