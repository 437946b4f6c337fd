"""The ``predictions`` table: its columns, one prediction's row, and how rows go into it.

The table itself is created by the Alembic migration in ``api/migrations`` (``./cli.sh
db-migrate``); the dashboards read it with exactly these column names. ``PredictionLog``'s writer
thread stores the spilled rows through ``store_rows``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

# The prediction log's logger: a skipped spill line is reported where its other warnings are.
log = logging.getLogger("api.prediction_log")

TABLE = "predictions"
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
COLUMNS = (
    "request_id",
    "created_at",
    "model_name",
    "model_version",
    "booking",
    "cancel_probability",
    "will_cancel",
    "threshold",
    "latency_ms",
    "call_id",
    "batch_size",
)
# One queued prediction, in COLUMNS order, except created_at as epoch seconds (cheaper to take
# on the request path; the writer thread turns it into a timestamp). ``booking`` is the booking
# as the v1 transformation cleans it, so the dashboards compare it with the training data as it
# is; ``latency_ms`` is the whole call's, ``call_id``/``batch_size`` say which call and how big.
Row = tuple[str, float, str | None, str | None, dict[str, Any], float, bool, float, float, str, int]

metadata = sa.MetaData()
predictions = sa.Table(
    TABLE,
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.Text),
    sa.Column("model_version", sa.Text),
    sa.Column("booking", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("cancel_probability", sa.Double, nullable=False),
    sa.Column("will_cancel", sa.Boolean, nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("latency_ms", sa.Double, nullable=False),
    sa.Column("call_id", sa.Text),
    sa.Column("batch_size", sa.Integer),
    sa.Index("ix_predictions_created_at", "created_at"),
)


def store_rows(engine: Engine, rows: list[Row]) -> None:
    """Store rows in one transaction: one ``COPY`` (PostgreSQL) or one ``executemany`` (SQLite),
    idempotent on ``request_id``."""
    if engine.dialect.name == "postgresql":
        _copy(engine, rows)
    else:
        _insert(engine, rows)


def _copy(engine: Engine, rows: list[Row]) -> None:
    utc, dumps = dt.UTC, orjson.dumps
    records = [
        (r[0], dt.datetime.fromtimestamp(r[1], utc), r[2], r[3], dumps(r[4]).decode(), *r[5:]) for r in rows
    ]
    statement = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
    try:
        with engine.begin() as conn:
            driver_connection = conn.connection.driver_connection
            assert driver_connection is not None  # a connection in use has its DBAPI connection
            cursor = driver_connection.cursor()
            with cursor.copy(statement) as copy:
                for record in records:
                    copy.write_row(record)
    except Exception as exc:
        # A batch whose commit went through just before the connection broke is retried
        # whole; rows already stored are then skipped instead of failing it forever.
        if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        _insert(engine, rows)


def _insert(engine: Engine, rows: list[Row]) -> None:
    utc = dt.UTC
    values = [
        dict(zip(COLUMNS, (r[0], dt.datetime.fromtimestamp(r[1], utc), *r[2:]), strict=True)) for r in rows
    ]
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        # The same construct with the same on_conflict_do_nothing, in the other dialect.
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    with engine.begin() as conn:
        conn.execute(insert(predictions).on_conflict_do_nothing(index_elements=["request_id"]), values)


def parse_lines(lines: list[bytes]) -> list[Row]:
    """Spilled lines back to rows; a line that does not parse (a damaged disk) is skipped, said so."""
    rows: list[Row] = []
    for line in lines:
        try:
            rows.append(tuple(orjson.loads(line)))
        except orjson.JSONDecodeError:
            log.warning("prediction log: skipped a damaged line of the spill file (%d bytes)", len(line))
    return rows
