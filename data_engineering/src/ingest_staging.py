"""A source's content staged beside ``data/raw`` and put in place only once it is known good.

A URL is downloaded (retries with back-off), a local file copied (gunzipped), both hashed as they
go; the header and first lines are checked before a byte is copied, and a content whose sha256 is
unchanged keeps the existing file untouched (DVC then sees nothing new).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import requests

from data_engineering.src.files.atomic import AtomicFile, write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.source import ByteSource
from data_engineering.src.ingest_source import (
    SOURCE_ENV,
    IngestParams,
    Source,
    SourceError,
    SourceRecord,
    read_record,
    record_file,
)
from data_engineering.src.paths import RAW_FILE, display_path
from data_engineering.src.progress import progress
from data_engineering.src.settings import repo_path

CHUNK = 1 << 20


@dataclass(frozen=True)
class IngestResult:
    path: Path
    sha256: str
    size: int
    changed: bool
    reused: bool = False  # kept without reading the source (a remembered download)


def _download(url: str, out: BinaryIO, *, retries: int, timeout: float) -> None:
    """Stream ``url`` into ``out``, retrying failed connections and 429/5xx with back-off."""
    for attempt in range(retries + 1):
        out.seek(0)
        out.truncate()
        try:
            # (connect, read) timeouts: an unreachable host fails fast, a slow one may still stream.
            with requests.get(url, stream=True, timeout=(min(timeout, 10), timeout)) as response:
                response.raise_for_status()
                total = int(response.headers.get("Content-Length") or 0) or None
                with progress(total=total, desc="ingest: download", unit="B", unit_scale=True) as bar:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
            out.flush()
            return
        except requests.RequestException as exc:
            status = exc.response.status_code if exc.response is not None else None
            retryable = status is None or status == 429 or status >= 500
            reason = f"HTTP {status}" if status is not None else type(exc).__name__
            if attempt == retries or not retryable:
                raise SourceError(
                    f"could not download {url} after {attempt + 1} attempt(s) ({reason}). Download "
                    f"it yourself and set {SOURCE_ENV} to the local file"
                ) from exc
            wait = 2**attempt
            print(f"ingest: download failed ({reason}); retrying in {wait}s", file=sys.stderr)
            time.sleep(wait)


def _copy_hashing(src: Path, out: BinaryIO, label: str) -> tuple[str, int]:
    """Copy ``src`` (decompressed when it is gzip, a gzip bomb refused) to ``out``: (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    with (
        ByteSource(src, label=label) as stream,
        progress(total=src.stat().st_size, desc="ingest: read", unit="B", unit_scale=True) as bar,
    ):
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
            bar.set(stream.position)
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Staged:
    """The source's content, ready to replace ``dest``: ``path`` is where to read it meanwhile."""

    source: Source
    dest: Path
    path: Path  # the staged temporary file, or ``dest`` itself when the content is unchanged
    sha256: str
    size: int
    changed: bool
    reused: bool = False
    _file: AtomicFile | None = field(default=None, repr=False)

    @property
    def result(self) -> IngestResult:
        return IngestResult(self.dest, self.sha256, self.size, self.changed, self.reused)

    def commit(self, params: IngestParams) -> None:
        """Put the content in place of ``dest`` and record where it came from."""
        if self._file is not None:
            self._file.commit()
            self._file = None
        self.path = self.dest
        recorded = read_record(self.dest)
        record = SourceRecord(
            location=self.source.location,
            origin=self.source.remembered.origin if self.source.remembered else self.source.origin,
            sha256=self.sha256,
            size=self.size,
            ingested_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            params_source=params.source,
            params_sha256=params.sha256,
        )
        if recorded is None or recorded.model_dump(exclude={"ingested_at"}) != record.model_dump(
            exclude={"ingested_at"}
        ):
            write_atomic(record_file(self.dest), (record.model_dump_json(indent=1) + "\n").encode())

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None

    def line(self) -> str:
        """One line saying what happened (or will, at ``commit``) to ``dest``."""
        where = display_path(self.dest)
        facts = f"{self.size:,} bytes, sha256 {self.sha256[:12]}…"
        if self.reused:
            return (
                f"ingest: reusing {where} ({facts}) as fetched from {self.source.location} by the last "
                f"ingest, not fetching it again (set {SOURCE_ENV} to read a source anew)"
            )
        state = "updated" if self.changed else "unchanged, kept"
        return f"ingest: {self.source.location} -> {where} ({facts}, {state})"


def _reusable(source: Source, dest: Path) -> bool:
    """A remembered download (or a remembered file since removed) whose content ``dest`` still holds."""
    record = source.remembered
    if record is None or not (source.is_url or not repo_path(source.location).is_file()):
        return False
    return dest.is_file() and file_sha256(dest) == record.sha256


@contextmanager
def stage(
    source: Source, dest: Path = RAW_FILE, *, retries: int = 5, timeout: float = 60
) -> Iterator[Staged]:
    """Stage ``source``'s content beside ``dest``; discarded on leaving unless ``commit`` was called."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _reusable(source, dest):
        assert source.remembered is not None  # _reusable checked it
        yield Staged(source, dest, dest, source.remembered.sha256, dest.stat().st_size, False, reused=True)
        return
    download = AtomicFile(dest.with_name(dest.name + ".download")) if source.is_url else None
    staged: Staged | None = None
    try:
        if download is not None:
            _download(source.location, download.__enter__(), retries=retries, timeout=timeout)
            local = download.temporary
        else:
            local = repo_path(source.location)
            if not local.is_file():
                raise SourceError(f"{local} does not exist (from {source.origin})")
        # The header and the first lines, before a byte is copied: a file that is not the
        # bookings dataset, or a hostile one, is refused at once.
        RawReader(local, label=source.location, announce=None).close()
        target = AtomicFile(dest)
        try:
            out = target.__enter__()
            sha256, size = _copy_hashing(local, out, source.location)
            out.flush()  # read back (by name) before it is renamed
        except BaseException:
            target.discard()
            raise
        if source.sha256 and sha256 != source.sha256.lower():
            target.discard()
            raise SourceError(
                f"sha256 mismatch for {source.location} (from {source.origin}): expected "
                f"{source.sha256}, got {sha256}; the file is not the expected dataset version"
            )
        if dest.exists() and file_sha256(dest) == sha256:
            target.discard()
            staged = Staged(source, dest, dest, sha256, size, changed=False)
        else:
            staged = Staged(source, dest, target.temporary, sha256, size, changed=True, _file=target)
        yield staged
    finally:
        if staged is not None:
            staged.discard()
        if download is not None:
            download.discard()


def fetch(source: Source, dest: Path = RAW_FILE, *, retries: int = 5, timeout: float = 60) -> IngestResult:
    """Copy/download ``source`` to ``dest`` atomically; keep ``dest`` if the content is unchanged."""
    with stage(source, dest, retries=retries, timeout=timeout) as staged:
        staged.commit(IngestParams())
        return staged.result
