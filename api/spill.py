"""The prediction log's spill: every answered prediction is on local disk before its answer leaves.

A request appends its rows (one JSON line each) to this process's current segment file with
one ``write(2)`` before the route returns its answer. The kernel holds the bytes from then on: a
worker killed by SIGKILL, the OOM killer or a crash loses nothing it answered, and neither does
a database that is down (the writer thread reads the segments back and ships them). Host
crashes are covered too, up to the writer's last ``fdatasync`` (every flush interval).
Shipping is idempotent on ``request_id``, so a segment shipped twice (killed between the commit
and the deletion) stores each prediction once.

Layout: ``DIR/<database key>/<nanoseconds>-<pid>.jsonl``. The key is a hash of the database URL
(without its password), so that replicas logging to the same database share leftovers and
never ship one database's rows into another. Each process holds an exclusive ``flock`` on the
segments it owns; a segment nobody holds was left by a process that stopped or died, and any
process logging to that database claims it (at start, then every ``CLAIM_SECONDS``), ships it
and deletes it. A segment is deleted only once every line of it is stored; until then
``<segment>.stored`` holds how many of its bytes are (rewritten after each batch), so a claimer
starts after them. A lost or stale mark only makes it ship a batch again, which stores nothing twice.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("api.prediction_log")

SEGMENT_BYTES = 64 * 2**20  # a new segment beyond this: fully shipped ones are deleted whole
READ_BYTES = 8 * 2**20  # read back at most this much at a time
CLAIM_SECONDS = 30.0  # how often other processes' leftovers are looked for


class NotRecordedError(RuntimeError):
    """A prediction could not be made durable: it must not be answered."""


@dataclass
class Segment:
    path: Path
    fd: int  # read/write, holding the exclusive flock
    size: int  # bytes of whole lines in it (own segments: what was appended; others': up to the last newline)
    read: int = 0  # bytes handed to the writer
    shipped: int = 0  # bytes whose rows are stored
    rows: int = 0  # lines not yet stored (known for own segments and counted for claimed ones)
    own: bool = True
    sealed: bool = False  # no more appends


@dataclass(frozen=True)
class Batch:
    segment: Segment
    lines: list[bytes]
    end: int  # offset after the last line


def database_key(masked_url: str) -> str:
    return hashlib.sha256(masked_url.encode()).hexdigest()[:16]


class Spill:
    def __init__(self, directory: Path, *, max_rows: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_rows = max_rows
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()  # appends and rotation (uncontended: about 0.1 µs)
        self._current: Segment | None = None
        self._segments: list[Segment] = []  # claimed leftovers first, then own, oldest first
        self._last_claim = 0.0
        self.appended = 0  # rows appended by this process
        self.pending = 0  # rows on disk not yet stored (this process's and the leftovers it claimed)
        self.unsynced = False

    # ------------------------------------------------------------------ request side
    def append(self, data: bytes, rows: int) -> None:
        """Append whole lines, or nothing: a partial write is cut back off before raising."""
        with self._lock:
            segment = self._current
            if segment is None:
                raise NotRecordedError("the prediction log is not started")
            if self.pending >= self.max_rows:
                raise NotRecordedError(
                    f"{self.pending:,} predictions wait for the database (API_LOG_QUEUE_SIZE is "
                    f"{self.max_rows:,}): refusing new ones until it catches up"
                )
            try:
                written = os.write(segment.fd, data)
                if written != len(data):  # a full disk can take part of a write
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError as exc:
                os.ftruncate(segment.fd, segment.size)
                raise NotRecordedError(
                    f"cannot write the prediction log's spill file in {self.directory}: {exc.strerror or exc}"
                ) from None
            segment.size += len(data)
            segment.rows += rows
            self.appended += rows
            self.pending += rows
            self.unsynced = True

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> int:
        """Create this process's first segment and claim leftovers; returns the rows they hold."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._current = self._new_segment()
            self._segments.append(self._current)
        return self.claim_leftovers()

    def close(self) -> int:
        """Release every segment; fully stored ones are deleted. Returns the rows left on disk."""
        with self._lock:
            left = self.pending
            for segment in self._segments:
                if segment.shipped >= segment.size:
                    _remove(segment)
                os.close(segment.fd)
            self._segments, self._current = [], None
        return left

    def _new_segment(self) -> Segment:
        path = self.directory / f"{time.time_ns():020d}-{os.getpid()}.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return Segment(path, fd, 0)

    def claim_leftovers(self) -> int:
        """Take every segment no live process holds; returns how many rows they hold."""
        self._last_claim = time.monotonic()
        known = {s.path for s in self._segments}
        claimed: list[Segment] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            if path in known:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # shipped and deleted by another process meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its owner is alive
                os.close(fd)
                continue
            if not path.exists():  # deleted between our open and our lock: already stored
                os.close(fd)
                continue
            stored = _stored_mark(path)
            size, rows = _whole_lines(fd, stored)
            start = min(stored, size)
            claimed.append(
                Segment(path, fd, size, read=start, shipped=start, rows=rows, own=False, sealed=True)
            )
        rows = sum(s.rows for s in claimed)
        if claimed:
            with self._lock:
                self._segments[:0] = claimed  # before our own: older predictions first
                self.pending += rows
        return rows

    # ------------------------------------------------------------------ writer side
    def maintain(self) -> None:
        """Start a new segment when the current one is big; look for leftovers now and then."""
        current = self._current
        if current is not None and current.size >= self.segment_bytes:
            with self._lock:
                current.sealed = True
                self._current = self._new_segment()
                self._segments.append(self._current)
            self._drop_if_done(current)
        if time.monotonic() - self._last_claim >= CLAIM_SECONDS:
            rows = self.claim_leftovers()
            if rows:
                log.warning(
                    "prediction log: storing %d predictions another process left in %s", rows, self.directory
                )

    def sync(self) -> None:
        """Flush appended lines to the disk itself (bounds what a host crash could take)."""
        current = self._current
        if current is not None and self.unsynced:
            self.unsynced = False
            os.fdatasync(current.fd)

    def take(self, max_rows: int) -> Batch | None:
        """The next unread lines (at most ``max_rows``) of the oldest segment that has some."""
        for segment in list(self._segments):
            if segment.read < segment.size:
                return _read_lines(segment, max_rows)
            self._drop_if_done(segment)
        return None

    def stored(self, batch: Batch) -> None:
        """The batch's rows are in the database."""
        segment = batch.segment
        with self._lock:
            segment.shipped = batch.end
            segment.rows -= len(batch.lines)
            self.pending -= len(batch.lines)
        if not (segment.sealed and segment.shipped >= segment.size):  # else it is deleted just below
            _mark(segment.path, segment.shipped)
        self._drop_if_done(segment)

    def _drop_if_done(self, segment: Segment) -> None:
        if segment.sealed and segment.shipped >= segment.size:
            with self._lock:
                if segment in self._segments:
                    self._segments.remove(segment)
                    _remove(segment)  # then unlocked by the close
                    os.close(segment.fd)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".stored")


def _mark(path: Path, stored: int) -> None:
    with suppress(OSError):  # a full disk, say: the mark only saves shipping these rows again
        _marker(path).write_text(f"{stored}\n", encoding="ascii")


def _stored_mark(path: Path) -> int:
    """Bytes of a segment known to be stored (0 when unknown: shipping again stores nothing twice)."""
    try:
        return int(_marker(path).read_text(encoding="ascii"))
    except (FileNotFoundError, ValueError):
        return 0


def _remove(segment: Segment) -> None:
    segment.path.unlink(missing_ok=True)
    _marker(segment.path).unlink(missing_ok=True)


def _whole_lines(fd: int, start: int) -> tuple[int, int]:
    """(bytes up to the last newline, lines after ``start``) of a segment left by another process.

    A last line without its newline was being written when that process died: its request was
    never answered (the answer waits for the write), so it is not a prediction anyone received.
    """
    size, rows, offset = start, 0, start
    while block := os.pread(fd, READ_BYTES, offset):
        offset += len(block)
        count = block.count(b"\n")
        if count:
            rows += count
            size = offset - len(block) + block.rindex(b"\n") + 1
    if offset > size:
        log.warning(
            "prediction log: ignoring an unfinished last line (%d bytes, never answered)", offset - size
        )
    return size, rows


def _read_lines(segment: Segment, max_rows: int) -> Batch:
    start = segment.read
    length = min(segment.size - start, READ_BYTES)
    data = os.pread(segment.fd, length, start)
    while b"\n" not in data:  # one line longer than a read (never the API's own lines)
        length = min(segment.size - start, length * 2)
        data = os.pread(segment.fd, length, start)
    data = data[: data.rindex(b"\n") + 1]
    lines = data.split(b"\n", max_rows)
    # More than asked: the rest stays for the next batch; else drop the "" after the last newline.
    lines = lines[:max_rows] if len(lines) > max_rows else lines[:-1]
    end = start + sum(len(line) + 1 for line in lines)
    segment.read = end
    return Batch(segment, lines, end)
