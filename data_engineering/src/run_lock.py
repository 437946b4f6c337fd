"""One run of a command at a time per database: ``with exclusive(url, "score-db", waiting=...):``.

Two ``score-db`` started together (a retried Airflow task beside a manual run) would each read
the same unscored bookings and each append their scores; with the lock the second waits for the
first to commit, then finds nothing left to do.

PostgreSQL: a session advisory lock (``pg_advisory_lock`` on a key derived from the name), held
on a connection of its own for the whole run. SQLite: an ``flock`` on a file beside the
database. Either is released by the server or the kernel when the process ends, however it
ends (``kill -9`` included): there is never a stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from data_engineering.src.engine import make_engine


def lock_key(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(url: str, name: str, *, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold the database-wide lock ``name`` for the block; ``waiting()`` is called once if another
    process holds it (then this one waits for it)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with _file_lock(parsed.database, name, waiting):
            yield
        return
    engine = make_engine(parsed, poolclass=sa.pool.NullPool)
    key = lock_key(name)
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                waiting()
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()


@contextmanager
def _file_lock(database: str | None, name: str, waiting: Callable[[], None]) -> Iterator[None]:
    if not database or database == ":memory:":  # a private database: nobody to wait for
        yield
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f"{path.name}.{name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
