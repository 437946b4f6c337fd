"""Alembic environment: the database comes from the caller (``api.migrate``) or ``database_url()``."""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from data_engineering.src.engine import make_engine
from data_engineering.src.settings import database_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or database_url()
version_table = config.get_main_option("version_table") or "api_alembic_version"


def run_offline() -> None:
    context.configure(url=url, literal_binds=True, version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
