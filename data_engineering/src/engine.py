"""The platform's one database engine factory: every connection to PostgreSQL or SQLite starts here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def make_engine(
    url: str | sa.URL,
    *,
    timeout_seconds: float | None = None,
    statement_timeout: bool = False,
    readonly: bool = False,
    pool_size: int | None = None,
    poolclass: type[sa.pool.Pool] | None = None,
) -> Engine:
    """The platform's one engine factory: every database connection starts here.

    Transactions really cover DDL, on SQLite too. ``timeout_seconds`` bounds connecting (and with
    ``statement_timeout`` every PostgreSQL statement and lock wait; on SQLite the wait for a
    lock). ``readonly`` opens a SQLite file read-only (``mode=ro``: SQLite has no roles) and
    raises FileNotFoundError rather than creating a missing one; otherwise the file's folder is
    created. PostgreSQL is read-only through its role.
    """
    parsed = sa.engine.make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if readonly:
            if not path.exists():
                raise FileNotFoundError(f"no database file at {path}")
            parsed = parsed.set(database=f"file:{path.resolve()}").update_query_dict(
                {"mode": "ro", "uri": "true"}
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        if timeout_seconds is not None:
            connect_args["timeout"] = timeout_seconds
    elif parsed.get_backend_name() == "postgresql" and timeout_seconds is not None:
        # An unroutable host would otherwise hang for the OS's TCP timeout.
        connect_args["connect_timeout"] = max(1, round(timeout_seconds))
        if statement_timeout:
            millis = int(timeout_seconds * 1000)
            # Appended to any options the URL already has (a search_path, for instance).
            options = (
                f"{parsed.query.get('options', '')} -c statement_timeout={millis} -c lock_timeout={millis}"
            )
            connect_args["options"] = options.strip()
    pool: dict[str, Any] = {"poolclass": poolclass} if poolclass else {"pool_pre_ping": True}
    if pool_size is not None and parsed.get_backend_name() != "sqlite":
        pool["pool_size"] = pool_size
    engine = sa.create_engine(parsed, connect_args=connect_args, **pool)
    if engine.dialect.name == "sqlite":
        # pysqlite opens transactions lazily and not before DDL, so a failed load could leave a
        # dropped table behind. SQLAlchemy's documented fix: let us emit BEGIN ourselves.
        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(
            dbapi_connection: Any, _record: Any
        ) -> None:  # pragma: no cover - wiring
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:  # pragma: no cover - wiring
            conn.exec_driver_sql("BEGIN")

    return engine
