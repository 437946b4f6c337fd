"""Transactional, idempotent table loads into PostgreSQL or SQLite.

A load never edits a live table: it fills ``<table>__staging`` and swaps it in (drop old, rename
staging) inside the same transaction. Readers see the old table or the new one, never a mix; a
load that fails at any point rolls back and leaves the old table as it was; loading the same data
twice gives the same table. On PostgreSQL rows go in with ``COPY`` (one round trip), not inserts
(``sql_rows``); connections come from ``engine.make_engine``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from data_engineering.src.sql_rows import copy_rows, insert_rows, quote, sqlite_rows

SQL_TYPES: dict[str, type[sa.types.TypeEngine[Any]]] = {
    "int": sa.Integer,
    "float": sa.Double,
    "text": sa.Text,
    "date": sa.Date,
}


@dataclass(frozen=True)
class TableLoad:
    name: str
    data: pa.Table
    columns: Mapping[str, str]  # column -> "int" | "float" | "text" | "date"
    primary_key: str = "booking_id"


def table_definition(name: str, columns: Mapping[str, str], primary_key: str | None) -> sa.Table:
    metadata = sa.MetaData()
    cols = [
        sa.Column(
            col,
            SQL_TYPES[kind],
            nullable=(col != primary_key),
            autoincrement=False,
        )
        for col, kind in columns.items()
    ]
    constraints = [sa.PrimaryKeyConstraint(primary_key)] if primary_key else []
    return sa.Table(name, metadata, *cols, *constraints)


def _stage_postgres(engine: Engine, load: TableLoad) -> None:
    """Fill ``<table>__staging`` in a transaction of its own.

    The table is created in the same transaction as the COPY, so with ``wal_level=minimal``
    (the clusters ``setup-db`` starts) PostgreSQL skips WAL for it and ``FREEZE`` spares a later
    vacuum; the primary key is built once after the rows are in, which is faster than
    maintaining it row by row.
    """
    staging = f"{load.name}__staging"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, staging)}")
        table_definition(staging, load.columns, None).create(conn)
        copy_rows(conn, staging, load.data.select(list(load.columns)))
        if load.primary_key:
            conn.exec_driver_sql(
                f"ALTER TABLE {quote(conn, staging)} ADD CONSTRAINT "
                f"{quote(conn, staging + '_pkey')} PRIMARY KEY ({quote(conn, load.primary_key)})"
            )


def _drop_staging(engine: Engine, loads: Sequence[TableLoad]) -> None:
    with engine.begin() as conn:
        for load in loads:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, load.name + '__staging')}")


def replace_tables(engine: Engine, loads: Sequence[TableLoad]) -> float:
    """Replace every table in ``loads`` atomically; returns the seconds it took.

    PostgreSQL: each staging table is filled on its own connection, in parallel (one server
    process per table), then one transaction swaps them all in. The live tables are only ever
    touched by that swap, so a failure while staging leaves them exactly as they were.
    SQLite (one writer at a time): staging and swap happen in a single transaction.
    """
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        workers = max(1, min(len(loads), os.cpu_count() or 1))
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(_stage_postgres, engine, load) for load in loads]:
                    future.result()
        except BaseException:
            _drop_staging(engine, loads)
            raise
        with engine.begin() as conn:
            for load in loads:
                staging = f"{load.name}__staging"
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, load.name)}")
                conn.exec_driver_sql(f"ALTER TABLE {quote(conn, staging)} RENAME TO {quote(conn, load.name)}")
                if load.primary_key:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {quote(conn, load.name)} RENAME CONSTRAINT "
                        f"{quote(conn, staging + '_pkey')} TO {quote(conn, load.name + '_pkey')}"
                    )
        return time.perf_counter() - started

    with engine.begin() as conn:
        for load in loads:
            staging = f"{load.name}__staging"
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, staging)}")
            table_definition(staging, load.columns, load.primary_key).create(conn)
            insert_rows(conn, staging, load.data.select(list(load.columns)))
        for load in loads:
            staging = f"{load.name}__staging"
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, load.name)}")
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, staging)} RENAME TO {quote(conn, load.name)}")
    return time.perf_counter() - started


def merge_tables(
    engine: Engine, loads: Sequence[TableLoad], *, delete: Sequence[tuple[str, pa.Array]] = ()
) -> dict[str, tuple[int, int]]:
    """Upsert every load into its live table by primary key, all in one transaction.

    A row whose key is new is added; one whose key is there replaces it (a hotel's re-export of a
    booking whose status changed); rows not in the load are kept. A live table that is missing is
    created, and columns it lacks are added. ``delete`` lists (table, keys) to remove in the same
    transaction. Returns {table: (new rows, updated rows)}. Each load must have unique keys.
    """
    counts: dict[str, tuple[int, int]] = {}
    if engine.dialect.name == "postgresql":
        try:
            for load in loads:
                _stage_postgres(engine, load)
        except BaseException:
            _drop_staging(engine, loads)
            raise
    with engine.begin() as conn:
        for load in loads:
            staging, live = f"{load.name}__staging", load.name
            if conn.dialect.name != "postgresql":
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(conn, staging)}")
                table_definition(staging, load.columns, load.primary_key).create(conn)
                insert_rows(conn, staging, load.data.select(list(load.columns)))
            _prepare_live(conn, load)
            key, names = load.primary_key, list(load.columns)
            cols = ", ".join(quote(conn, c) for c in names)
            updates = ", ".join(f"{quote(conn, c)} = excluded.{quote(conn, c)}" for c in names if c != key)
            updated = conn.exec_driver_sql(
                f"SELECT count(*) FROM {quote(conn, staging)} WHERE {quote(conn, key)} IN "
                f"(SELECT {quote(conn, key)} FROM {quote(conn, live)})"
            ).scalar_one()
            conn.exec_driver_sql(
                f"INSERT INTO {quote(conn, live)} ({cols}) SELECT {cols} FROM {quote(conn, staging)} WHERE true "
                f"ON CONFLICT ({quote(conn, key)}) DO UPDATE SET {updates}"
            )
            conn.exec_driver_sql(f"DROP TABLE {quote(conn, staging)}")
            counts[live] = (load.data.num_rows - int(updated), int(updated))
        for name, keys in delete:
            if keys.null_count < len(keys) and sa.inspect(conn).has_table(name):
                table = sa.table(name, sa.column("booking_id", sa.Text))
                values = keys.to_pylist()
                for start in range(0, len(values), 10_000):  # bound the statement's size
                    conn.execute(table.delete().where(table.c.booking_id.in_(values[start : start + 10_000])))
    return counts


def _prepare_live(conn: Connection, load: TableLoad) -> None:
    """Create the live table of a merge if missing; add the columns of the load it lacks."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(load.name):
        table_definition(load.name, load.columns, load.primary_key).create(conn)
        return
    existing = {c["name"]: c["type"] for c in inspector.get_columns(load.name)}
    key_type = existing.get(load.primary_key)
    if key_type is not None and not isinstance(key_type, sa.String):
        raise ValueError(
            f"{load.name} keys bookings by number (a load from before booking ids were text): "
            f"reload it once without a booking_id column, then merge re-exports into it"
        )
    for name, kind in load.columns.items():
        if name not in existing:
            column = sa.Column(name, SQL_TYPES[kind]).type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {quote(conn, load.name)} ADD COLUMN {quote(conn, name)} {column}"
            )


def create_table_if_missing(
    engine: Engine, name: str, columns: Mapping[str, str], primary_key: str | None = "booking_id"
) -> None:
    with engine.begin() as conn:
        table_definition(name, columns, primary_key).create(conn, checkfirst=True)


def append_rows(engine: Engine, name: str, data: pa.Table, columns: Mapping[str, str]) -> None:
    """Append rows in one transaction (COPY on PostgreSQL): all of them or none."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            copy_rows(conn, name, data.select(list(columns)), freeze=False)
        else:
            insert_rows(conn, name, data.select(list(columns)))


def insert_missing(engine: Engine, table: sa.Table, data: pa.Table, key: Sequence[str]) -> int:
    """Insert the rows whose ``key`` is not in ``table`` yet, in one transaction; returns how many.

    Idempotent, and safe under concurrent writers: each key is added once. PostgreSQL: COPY into a
    temporary table, then one INSERT ... ON CONFLICT DO NOTHING; SQLite: INSERT OR IGNORE.
    """
    if not data.num_rows:
        return 0
    names = [column.name for column in table.columns]
    with engine.begin() as conn:
        target, columns = quote(conn, table.name), ", ".join(quote(conn, c) for c in names)
        keys = ", ".join(quote(conn, c) for c in key)
        if conn.dialect.name == "postgresql":
            staging = quote(conn, f"{table.name}__incoming")
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {staging} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            copy_rows(conn, f"{table.name}__incoming", data.select(names), freeze=False)
            result = conn.exec_driver_sql(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT ({keys}) DO NOTHING"
            )
        else:
            placeholders = ", ".join("?" for _ in names)
            result = conn.exec_driver_sql(
                f"INSERT OR IGNORE INTO {target} ({columns}) VALUES ({placeholders})",
                sqlite_rows(data.select(names)),
            )
        return int(result.rowcount)


def table_rows(engine: Engine, table: str) -> int | None:
    """Rows of ``table``; None when there is no such table."""
    if not sa.inspect(engine).has_table(table):
        return None
    return row_count(engine, table)


def row_count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {quote(conn, table)}")).scalar_one())
