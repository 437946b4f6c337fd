"""The prediction log: every prediction, written to the ``predictions`` table off the request path.

A request appends its rows to a local spill file before its answer is sent (``api.spill``: one
``write(2)``, a few microseconds): from then on the prediction survives the process being
killed and the database being down. One background thread reads the spill back, up to
``batch_size`` rows at a time, and writes them in one ``COPY`` (PostgreSQL) or one
``executemany`` (SQLite), idempotent on ``request_id``. A slow or dead database therefore never
fails or slows a prediction: while it is down the writer retries its batch with back-off
(reconnecting through a fresh pool) and the spill grows on disk; a process stopped meanwhile
leaves its rows there, and the next one logging to that database stores them. Only a
prediction that cannot be put on disk (disk full, or more than ``queue_size`` waiting) is
refused, with 503: nothing answered is ever lost.

The table and how rows go into it are ``api/prediction_table.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from api.prediction_table import TABLE, Row, parse_lines, store_rows
from api.spill import Batch, NotRecordedError, Spill, database_key
from data_engineering.src.engine import make_engine
from data_engineering.src.messages import first_line, masked

log = logging.getLogger("api.prediction_log")


@dataclass(frozen=True)
class DatabaseCheck:
    reachable: bool
    problem: str | None  # why the log cannot be written, or None


class PredictionLog:
    def __init__(
        self,
        url: str,
        *,
        spill_dir: Path,
        enabled: bool = True,
        queue_size: int = 200_000,
        batch_size: int = 2_000,
        flush_seconds: float = 0.25,
        retry_max_seconds: float = 5.0,
        timeout_seconds: float = 2.0,
        on_written: Callable[[int], None] = lambda n: None,
        on_refused: Callable[[int], None] = lambda n: None,
        on_failed: Callable[[], None] = lambda: None,
        on_queued: Callable[[int], None] = lambda n: None,
        on_answered: Callable[[Sequence[Row]], None] = lambda rows: None,
    ) -> None:
        self.url = url
        self.enabled = enabled
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.retry_max_seconds = retry_max_seconds
        self._engine = make_engine(url, timeout_seconds=timeout_seconds, statement_timeout=True, pool_size=2)
        # One folder per database (its URL without the password): leftovers are only ever shipped
        # to the database they were meant for.
        self.spill = Spill(spill_dir / database_key(masked(url)), max_rows=queue_size)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._woken_at = 0  # spill.appended when the writer was last woken
        self._on_written, self._on_refused, self._on_failed = on_written, on_refused, on_failed
        self._on_queued = on_queued
        # Told the rows of every answer once they are on disk (or at once, the log being off): an
        # answer passes here before it is sent, so listeners see exactly the answers clients get.
        self._on_answered = on_answered
        self.written = 0
        self.refused = 0
        self.failed_writes = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ request side
    def submit(self, row: Row) -> None:
        """Put one answered prediction on disk; raises NotRecordedError (answer 503) if it cannot be."""
        if self.enabled:
            self._append(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE), 1)
        self._on_answered((row,))

    def submit_many(self, rows: Sequence[Row]) -> None:
        if self.enabled and rows:
            dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            self._append(b"".join([dumps(row, option=newline) for row in rows]), len(rows))
        if rows:
            self._on_answered(rows)

    def _append(self, data: bytes, rows: int) -> None:
        try:
            self.spill.append(data, rows)
        except NotRecordedError as exc:
            self.refused += rows
            self._on_refused(rows)
            log.warning("prediction log: refused %d prediction(s): %s", rows, exc)
            raise
        if self.spill.appended - self._woken_at >= self.batch_size:
            self._woken_at = self.spill.appended
            self._wake.set()

    @property
    def queued(self) -> int:
        """Predictions on disk waiting to be stored."""
        return self.spill.pending

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "queued": self.queued,
            "written": self.written,
            "refused": self.refused,
            "failed_writes": self.failed_writes,
            "last_error": self.last_error,
            "spill_dir": str(self.spill.directory),
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open this process's spill file, claim what stopped processes left, start the writer."""
        if not self.enabled or self._thread is not None:
            return
        left = self.spill.open()
        if left:
            log.warning(
                "prediction log: %d predictions answered before a stop are in %s: storing them",
                left,
                self.spill.directory,
            )
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Store what is on disk (one attempt, within ``timeout``), then stop the writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():  # else it still reads the files: the exit closes them
                left = self.spill.close()
                if left:
                    log.warning(
                        "prediction log: stopping with %d predictions not yet stored; they stay in %s "
                        "and are stored when the API starts again on this database",
                        left,
                        self.spill.directory,
                    )
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
    def _run(self) -> None:
        batch: Batch | None = None
        rows: list[Row] = []
        delay = 0.25
        while True:
            if batch is None:
                self.spill.maintain()
                self.spill.sync()
                self._on_queued(self.spill.pending)
                batch = self.spill.take(self.batch_size)
                if batch is None:
                    if self._stop.is_set():
                        return
                    self._wake.wait(self.flush_seconds)
                    self._wake.clear()
                    continue
                rows = parse_lines(batch.lines)
            try:
                if rows:
                    store_rows(self._engine, rows)
            except Exception as exc:  # the database's problem must never kill the writer
                self.failed_writes += 1
                self._on_failed()
                message = first_line(exc)
                if message != self.last_error:
                    log.warning("prediction log: write of %d rows failed, will retry: %s", len(rows), message)
                self.last_error = message
                if self._stop.is_set():
                    return  # the rows stay on disk for the next start
                self._engine.dispose()  # reconnect from scratch next time
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            self.spill.stored(batch)
            self.written += len(rows)
            self._on_written(len(rows))
            if self.last_error is not None:
                log.warning("prediction log: database back, writing again")
                self.last_error = None
            batch, rows = None, []
            delay = 0.25
