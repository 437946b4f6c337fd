"""Rows into an existing table in one statement: ``COPY`` on PostgreSQL, one executemany on SQLite.

The primitives ``db``'s table loads are built from; the caller owns the transaction.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _csv_bytes(data: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(data, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    payload: bytes = sink.getvalue().to_pybytes()
    return payload


def quote(conn: Connection, name: str) -> str:
    """``name`` as the connection's dialect writes an identifier (quoted where it must be)."""
    return conn.dialect.identifier_preparer.quote(name)


def copy_rows(conn: Connection, table: str, data: pa.Table, *, freeze: bool = True) -> None:
    """COPY the rows; ``freeze`` only for a table created in this same transaction."""
    columns = ", ".join(quote(conn, c) for c in data.column_names)
    payload = _csv_bytes(data)
    options = "FORMAT csv, FREEZE" if freeze else "FORMAT csv"
    statement = f"COPY {quote(conn, table)} ({columns}) FROM STDIN ({options})"
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None  # a connection in use always has its DBAPI connection
    cursor = driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            copy.write(payload)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Raise what every other statement raises: SQLAlchemy's wrapper (IntegrityError, ...).
        raise sa.exc.DBAPIError.instance(statement, None, exc, conn.dialect.loaded_dbapi.Error) from exc


def sqlite_rows(data: pa.Table) -> list[tuple[object, ...]]:
    """The rows as tuples of Python scalars, the only values sqlite3 binds: dates go in as ISO
    text, as SQLite stores them."""
    values = [
        (column.cast(pa.string()) if pa.types.is_date(column.type) else column).to_pylist()
        for column in data.columns
    ]
    return list(zip(*values, strict=True))


def insert_rows(conn: Connection, table: str, data: pa.Table) -> None:
    """INSERT the rows (SQLite), all in one executemany."""
    if not data.num_rows:
        return  # an empty parameter list would run the INSERT once, without parameters
    placeholders = ", ".join("?" for _ in data.column_names)
    names = ", ".join(quote(conn, c) for c in data.column_names)
    conn.exec_driver_sql(
        f"INSERT INTO {quote(conn, table)} ({names}) VALUES ({placeholders})", sqlite_rows(data)
    )
