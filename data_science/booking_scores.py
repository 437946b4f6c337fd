"""The database side of ``score-db``: the bookings on the books and ``booking_scores``, whichever engine scores.

The default engine (``score_db``) and Spark's tasks (``spark_batch``) share these pieces, so the
two read the same bookings and write the same rows. They live below both: the command module
dispatches to Spark, and Spark must not import the command back.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from data_engineering.src import db
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, SCORING_FIELDS, ReservationStatus
from data_engineering.src.validate import records_to_columns

SCORES_TABLE = "booking_scores"
SCORES_COLUMNS = {
    BOOKING_ID: "text",
    AS_OF: "date",
    "model_name": "text",
    "model_version": "text",
    "cancel_probability": "float",
    "will_cancel": "int",
    "scored_at": "text",
}
SCORES_KEY = (BOOKING_ID, AS_OF, "model_name", "model_version")
CHUNK_ROWS = 50_000
COPY_CHUNK_BYTES = 8 << 20  # ~60,000 bookings of text per chunk
_LEFT = (ReservationStatus.CANCELED.value, ReservationStatus.NO_SHOW.value)


class NoBookingsError(RuntimeError):
    pass


@dataclass
class Outcome:
    on_the_books: int = 0
    scored: int = 0
    added: int = 0  # new rows in booking_scores (0 when the day was scored already)
    flagged: int = 0
    invalid: int = 0
    probability_sum: float = 0.0


def scores_table(engine: sa.Engine) -> sa.Table:
    """``booking_scores``, created if missing; a table of the earlier one-score-per-booking layout
    (no ``as_of``) is kept under another name, said so, and a new one made."""
    inspector = sa.inspect(engine)
    if inspector.has_table(SCORES_TABLE):
        columns = {c["name"] for c in inspector.get_columns(SCORES_TABLE)}
        if AS_OF not in columns:
            kept = f"{SCORES_TABLE}_before_as_of"
            with engine.begin() as conn:
                conn.exec_driver_sql(f'ALTER TABLE "{SCORES_TABLE}" RENAME TO "{kept}"')
            print(f"score-db: note: the earlier {SCORES_TABLE} (one score per booking) is kept as {kept}")
    table = db.table_definition(SCORES_TABLE, SCORES_COLUMNS, None)
    table.append_constraint(sa.PrimaryKeyConstraint(*SCORES_KEY))
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
    return table


def processed_table(engine: sa.Engine, version: str) -> str:
    """``bookings_<version>``, else the newest other loaded version (they all have the dates)."""
    inspector = sa.inspect(engine)
    command = f"./cli.sh initialize-data {version} db"
    if not inspector.has_table("bookings_raw"):
        raise NoBookingsError(f"no bookings_raw table: load bookings first with {command}")
    loaded = sorted(
        (name for name in inspector.get_table_names() if re.fullmatch(r"bookings_v[2-9][0-9]*", name)),
        key=lambda name: int(name.removeprefix("bookings_v")),
    )
    if f"bookings_{version}" in loaded:
        return f"bookings_{version}"
    if not loaded:
        raise NoBookingsError(f"no bookings_{version} table: load bookings first with {command}")
    return loaded[-1]


def on_the_books_query(
    engine: sa.Engine, day: dt.date, version: str, *, lines: tuple[int, int] | None = None
) -> sa.Select[Any]:
    """The raw text of the bookings on the books at the end of ``day``, in load order.

    Selected on the loaded ``bookings_<version>`` (typed dates and status); the rows the load
    rejected are not in it. ``lines``: only those whose ``source_line`` is in [low, high) (a
    Spark task's share).
    """
    processed_name = processed_table(engine, version)
    metadata = sa.MetaData()
    raw = sa.Table("bookings_raw", metadata, autoload_with=engine)
    processed = sa.Table(processed_name, metadata, autoload_with=engine)
    missing = [c for c in ("arrival_date", "booking_date") if c not in processed.c]
    if missing:
        raise NoBookingsError(f"{processed_name} has no {', '.join(missing)}: load a version from v2 on")
    left: sa.ColumnElement[bool] = sa.false()
    if "reservation_status" in processed.c and "reservation_status_date" in processed.c:
        # NULL-safe: a booking still on the books has no status (NOT of a NULL would drop it).
        status, date = processed.c.reservation_status, processed.c.reservation_status_date
        left = sa.and_(status.is_not(None), date.is_not(None), status.in_(_LEFT), date <= day)
    columns = [raw.c[name] for name in BOOKING_FIELDS] + [raw.c[BOOKING_ID]]
    query = (
        sa.select(*columns)
        .join(processed, sa.cast(processed.c[BOOKING_ID], sa.Text) == sa.cast(raw.c[BOOKING_ID], sa.Text))
        .where(processed.c.booking_date <= day, processed.c.arrival_date > day, sa.not_(left))
        .order_by(raw.c.source_line)
    )
    return (
        query if lines is None else query.where(raw.c.source_line >= lines[0], raw.c.source_line < lines[1])
    )


def count_rows(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def chunks_of(engine: sa.Engine, query: sa.Select[Any]) -> Iterator[dict[str, Any]]:
    """The query's rows as columns (``SCORING_FIELDS`` present), ``CHUNK_ROWS`` at a time, so memory
    does not grow with the table. PostgreSQL: one ``COPY ... TO STDOUT`` parsed by Arrow a block at
    a time (text columns, as predict-batch reads a file); SQLite: a cursor's rows."""
    names = [column.name for column in query.selected_columns if column.name in SCORING_FIELDS]
    if engine.dialect.name == "postgresql":
        yield from _copied(engine, query, names)
        return
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            yield records_to_columns([row._mapping for row in rows], names)


def _copied(engine: sa.Engine, query: sa.Select[Any], names: list[str]) -> Iterator[dict[str, pa.Array]]:
    sql = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.dictionary(pa.int32(), pa.string())),
        quoted_strings_can_be_null=False,  # COPY writes NULL as an unquoted empty field, "" quoted
    )

    def parsed(data: bytes) -> dict[str, pa.Array]:
        table = pacsv.read_csv(
            io.BytesIO(data), read_options=pacsv.ReadOptions(column_names=names), convert_options=options
        )
        return {name: table[name] for name in names}

    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None  # a connection in use always has its DBAPI connection
        pending = bytearray()
        with driver.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                pending += block
                if len(pending) >= COPY_CHUNK_BYTES:
                    cut = pending.rfind(b"\n") + 1  # raw booking text holds no line break
                    yield parsed(bytes(pending[:cut]))
                    del pending[:cut]
        if pending:
            yield parsed(bytes(pending))


@dataclass(frozen=True)
class ScoresRun:
    """One ``score-db`` run: the database, the day, the model (name, version) and when it ran."""

    url: str
    day: dt.date
    version: str  # the transformation whose loaded table tells the bookings on the books
    label: tuple[str, str]
    scored_at: str

    def rows(self, booking_id: np.ndarray, probability: np.ndarray, will_cancel: np.ndarray) -> pa.Table:
        """Rows of ``booking_scores``: these answers, for the end of ``day``, by this model."""
        size = len(probability)
        return pa.table(
            {
                BOOKING_ID: pa.array(booking_id, pa.string()),
                AS_OF: pa.array([self.day] * size, pa.date32()),
                "model_name": pa.array([self.label[0]] * size, pa.string()),
                "model_version": pa.array([self.label[1]] * size, pa.string()),
                "cancel_probability": pa.array(probability, pa.float64()),
                "will_cancel": pa.array(will_cancel.astype(np.int64), pa.int64()),
                "scored_at": pa.array([self.scored_at] * size, pa.string()),
            }
        )
