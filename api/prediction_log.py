"""The prediction log: every prediction, written to the ``predictions`` table off the request path.

Requests only append a tuple to a bounded in-memory queue (about a microsecond). One background
thread takes up to ``batch_size`` rows at a time and writes them in one ``COPY`` (PostgreSQL) or
one ``executemany`` (SQLite). A slow or dead database therefore never fails or slows a
prediction: while it is down the writer keeps its batch and retries with back-off (reconnecting
through a fresh pool), the queue absorbs what it can, and what does not fit is dropped and
counted — reported by ``/ready`` and ``/metrics`` — rather than growing memory without bound.

The table itself is created by the Alembic migration in ``api/migrations`` (``./cli.sh
db-migrate``); the dashboards read it with exactly these column names.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from data_engineering.src.db import make_engine
from data_engineering.src.messages import first_line

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


@dataclass(frozen=True)
class DatabaseCheck:
    reachable: bool
    problem: str | None  # why the log cannot be written, or None


class PredictionLog:
    def __init__(
        self,
        url: str,
        *,
        enabled: bool = True,
        queue_size: int = 200_000,
        batch_size: int = 2_000,
        flush_seconds: float = 0.25,
        retry_max_seconds: float = 5.0,
        timeout_seconds: float = 2.0,
        on_written: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_failed: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.enabled = enabled
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.retry_max_seconds = retry_max_seconds
        self._engine = make_engine(url, timeout_seconds=timeout_seconds, statement_timeout=True, pool_size=2)
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_written, self._on_dropped, self._on_failed = on_written, on_dropped, on_failed
        self.written = 0
        self.dropped = 0
        self.failed_writes = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ request side
    def submit(self, row: Row) -> None:
        if not self.enabled:
            return
        # len() then append is not atomic, so the bound may be overshot by a few rows when
        # threads race; it only has to keep memory bounded, and a lock would cost every request.
        if len(self._queue) >= self.queue_size:
            self.dropped += 1
            self._on_dropped(1)
            return
        self._queue.append(row)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def submit_many(self, rows: Sequence[Row]) -> None:
        if not self.enabled or not rows:
            return
        room = max(self.queue_size - len(self._queue), 0)
        if room < len(rows):
            self.dropped += len(rows) - room
            self._on_dropped(len(rows) - room)
            rows = rows[:room]
        self._queue.extend(rows)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "queued": self.queued,
            "written": self.written,
            "dropped": self.dropped,
            "failed_writes": self.failed_writes,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued (one attempt, within ``timeout``), then stop the writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._engine.dispose()

    def check_database(self) -> DatabaseCheck:
        """Can the log be written? Connects (bounded by the timeout) and looks for the table."""
        try:
            with self._engine.connect() as conn:
                present = sa.inspect(conn).has_table(TABLE)
        except Exception as exc:  # any driver error means "not reachable", with its reason
            return DatabaseCheck(False, f"database unreachable: {first_line(exc)}")
        if not present:
            return DatabaseCheck(True, f"table {TABLE} is missing: run ./cli.sh db-migrate")
        return DatabaseCheck(True, None)

    # ------------------------------------------------------------------ writer thread
    def _take(self) -> list[Row]:
        queue, count = self._queue, min(self.batch_size, len(self._queue))
        return [queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        pending: list[Row] = []
        delay = 0.25
        while True:
            if not pending:
                if not self._queue:
                    if self._stop.is_set():
                        return
                    self._wake.wait(self.flush_seconds)
                    self._wake.clear()
                pending = self._take()
                if not pending:
                    continue
            try:
                self._write(pending)
            except Exception as exc:  # the database's problem must never kill the writer
                self.failed_writes += 1
                self._on_failed()
                message = first_line(exc)
                if message != self.last_error:
                    log.warning(
                        "prediction log: write of %d rows failed, will retry: %s", len(pending), message
                    )
                self.last_error = message
                if self._stop.is_set():
                    lost = len(pending) + len(self._queue)
                    self._queue.clear()
                    self.dropped += lost
                    self._on_dropped(lost)
                    log.warning("prediction log: stopping with the database down; %d rows lost", lost)
                    return
                self._engine.dispose()  # reconnect from scratch next time
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            self.written += len(pending)
            self._on_written(len(pending))
            if self.last_error is not None:
                log.warning("prediction log: database back, writing again")
                self.last_error = None
            pending = []
            delay = 0.25

    def _write(self, rows: list[Row]) -> None:
        if self._engine.dialect.name == "postgresql":
            self._copy(rows)
        else:
            self._insert(rows)

    def _copy(self, rows: list[Row]) -> None:
        utc, dumps = dt.UTC, orjson.dumps
        records = [
            (r[0], dt.datetime.fromtimestamp(r[1], utc), r[2], r[3], dumps(r[4]).decode(), *r[5:])
            for r in rows
        ]
        statement = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
        try:
            with self._engine.begin() as conn:
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
            self._insert(rows)

    def _insert(self, rows: list[Row]) -> None:
        utc = dt.UTC
        values = [
            dict(zip(COLUMNS, (r[0], dt.datetime.fromtimestamp(r[1], utc), *r[2:]), strict=True))
            for r in rows
        ]
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            # The same construct with the same on_conflict_do_nothing, in the other dialect.
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        with self._engine.begin() as conn:
            conn.execute(insert(predictions).on_conflict_do_nothing(index_elements=["request_id"]), values)
