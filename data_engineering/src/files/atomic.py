"""Files written whole or not at all: a temporary file beside the output, locked while its writer
lives, renamed into place when complete. Temporary files an interrupted writer left are removed by
the next writer of the same output."""

from __future__ import annotations

import fcntl
import glob
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from data_engineering.src.paths import display_path

_STARTED = time.time()  # temporary files last written before this process started may be stale


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    with AtomicFile(path) as out:
        out.write(data)


def remove_stale_temporaries(path: Path) -> int:
    """Remove the temporary files that interrupted writers of ``path`` left beside it; say so.

    A writer holds an exclusive lock on its temporary file as long as it lives, and the kernel
    drops the lock when the process ends, even by kill -9. So a file nobody holds, last written
    before this process started, is stale; a live writer's file (in this process or another run
    at the same time) is never touched. Returns how many were removed.
    """
    removed = size = 0
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile: another run cleaned it
        try:
            status = os.fstat(fd)
            if status.st_mtime >= _STARTED:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's
            candidate.unlink(missing_ok=True)
            removed += 1
            size += status.st_size
        finally:
            os.close(fd)
    if removed:
        print(
            f"note: removed {removed} stale temporary file(s) ({size:,} bytes) beside "
            f"{display_path(path)}, left by an interrupted run",
            file=sys.stderr,
        )
    return removed


class AtomicFile:
    """A file written under a temporary name beside ``path``, renamed on success, deleted on failure.

    The temporary file is locked while its writer lives (see ``remove_stale_temporaries``, which
    runs first: the stale files of an interrupted run go as the next run starts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None

    @property
    def temporary(self) -> Path:
        """Where the content is while it is written (for reading it back before ``commit``)."""
        assert self._tmp is not None, "the file is not open"
        return self._tmp

    def __enter__(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        while True:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:
                break
            os.close(fd)  # a cleaner removed it between its creation and the lock: take another
        self._tmp = Path(tmp)
        self._file = out = os.fdopen(fd, "wb")
        return out

    def commit(self) -> None:
        assert self._file is not None, "the file is not open"
        assert self._tmp is not None
        self._file.flush()
        self._tmp.replace(self.path)  # renamed while still locked: no cleaner can take it first
        self._file.close()
        self._file = self._tmp = None

    def discard(self) -> None:
        """Delete the temporary file (nothing, when it was committed or never opened)."""
        if self._file is not None and self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._file.close()
        self._file = self._tmp = None

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
