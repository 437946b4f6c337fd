"""``./cli.sh db-migrate [--env ENV]``: bring the API's tables up to date (``alembic upgrade head``).

The database is the one every command uses: ``DATABASE_URL``, else the environment's
(``--env``/``APP_ENV``), else the embedded SQLite file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def upgrade(url: str, revision: str = "head", *, configure_logging: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = configure_logging
    command.upgrade(config, revision)  # migrations/env.py connects through make_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh db-migrate", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    import sqlalchemy as sa

    from data_engineering.src.messages import first_line, masked
    from data_engineering.src.settings import SettingsError, database_url

    try:
        url = database_url()
    except SettingsError as exc:
        print(f"db-migrate: error: {exc}", file=sys.stderr)
        return 1
    shown = masked(url)
    try:
        upgrade(url, configure_logging=True)
    except sa.exc.OperationalError as exc:
        print(f"db-migrate: error: cannot reach {shown}: {first_line(exc)}", file=sys.stderr)
        return 1
    print(f"db-migrate: {shown} is at the latest revision")
    return 0


if __name__ == "__main__":
    sys.exit(main())
