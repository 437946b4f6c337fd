"""Stage ``ingest``: copy or download the raw bookings file to ``data/raw/hotel_bookings.csv``.

Where from, first match wins:

1. ``HOTEL_BOOKINGS_SOURCE`` (environment or ``.env.ENV``), with ``HOTEL_BOOKINGS_SHA256``;
2. the source of the last successful ingest, recorded beside the file
   (``data/raw/hotel_bookings.source.json``: path or URL, origin, sha256), as long as params.yaml's
   ``ingest`` section still names what it named then: exporting the variable once is enough;
3. params.yaml ``ingest.source`` (with ``ingest.sha256``).

A local path or an http(s) URL, plain CSV or gzip (detected from the bytes, not the name). A URL
remembered from the last ingest is not downloaded again while ``data/raw`` still holds what it
gave (same sha256): one line says so. A remembered local file is read again (cheap; an export
rewritten in place is picked up); when it is gone, the file it gave is reused.

Nothing is replaced before it is known good: the source is staged in a temporary file beside
``data/raw`` (its header and first lines checked before a byte is copied, so a hostile file is
refused at once), and only then put in place: by this stage once the whole file parses and holds
at least one valid booking, by ``initialize-data`` once the load succeeded. When the content's
sha256 is unchanged the existing file is kept untouched (DVC then sees nothing new and skips
every later stage).

Beside it, ``data/raw/vocabulary.yaml`` holds the categories the bookings are validated with
(``HOTEL_VOCABULARY``'s file, else the default), rewritten only when they changed: the stages that
depend on the vocabulary depend on this file, so pointing ``HOTEL_VOCABULARY`` at other
categories reruns them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import requests
from pydantic import BaseModel, Field, ValidationError

from data_engineering.src.files.atomic import AtomicFile, write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.source import ByteSource
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import RAW_FILE, RAW_VOCABULARY, display_path
from data_engineering.src.progress import progress
from data_engineering.src.schema import VOCABULARY, ColumnsError, dump_vocabulary, vocabulary_in_use
from data_engineering.src.settings import IngestSettings, env_name, repo_path
from data_engineering.src.validate import validate
from data_engineering.src.vocabulary import OutsideVocabulary, VocabularyError, write_atomically

SOURCE_ENV = env_name(IngestSettings, "source")
PARAMS_ORIGIN = "params.yaml ingest.source"
CHUNK = 1 << 20


class IngestParams(BaseModel):
    source: str | None = Field(None, description="local path or http(s) URL of the raw CSV(.gz)")
    sha256: str | None = Field(None, description="expected sha256 of the decompressed CSV")
    retries: int = Field(3, ge=0, le=20)
    timeout_seconds: float = Field(60, gt=0)


class SourceError(RuntimeError):
    """The raw data source is missing, unreachable or not what was expected."""


class NoValidRowsError(ValueError):
    """The source holds no valid booking: nothing may be loaded, and nothing was replaced."""

    def __init__(self, rows: int, reasons: Mapping[str, int], outside: str = "", blank: int = 0) -> None:
        self.rows = rows
        self.reasons = dict(reasons)  # rejected rows per reason
        if not rows:
            what = "the source holds no booking, only a header" + (
                f" and {blank:,} blank line(s)" if blank else ""
            )
        else:
            top = max(self.reasons, key=self.reasons.__getitem__) if self.reasons else "unknown"
            because = outside or f"the most frequent reason: {top} ({self.reasons.get(top, 0):,} rows)"
            what = f"none of the {rows:,} rows is valid, nothing was loaded; {because}"
        super().__init__(f"{what} (every table and file is as it was)")


class SourceRecord(BaseModel):
    """Where ``data/raw`` came from, as the last successful ingest recorded it."""

    location: str
    origin: str
    sha256: str
    size: int
    ingested_at: str
    # params.yaml's ingest.source and sha256 at the time: when they change, they win again.
    params_source: str | None
    params_sha256: str | None


@dataclass(frozen=True)
class Source:
    location: str
    sha256: str | None  # expected content, when the source came with one
    origin: str  # where the location came from, for error messages
    remembered: SourceRecord | None = None  # the last ingest's record, when that is the source

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class IngestResult:
    path: Path
    sha256: str
    size: int
    changed: bool
    reused: bool = False  # kept without reading the source (a remembered download)


def record_file(dest: Path) -> Path:
    """Where ingest records the source of ``dest`` (``data/raw/hotel_bookings.source.json``)."""
    return dest.with_suffix(".source.json")


def read_record(dest: Path) -> SourceRecord | None:
    """The recorded source of ``dest``; None when there is none (or it is unreadable)."""
    try:
        return SourceRecord.model_validate_json(record_file(dest).read_bytes())
    except (OSError, ValidationError):
        return None


def resolve_source(params: IngestParams, dest: Path = RAW_FILE) -> Source:
    """The settings, else the last ingest's source while params.yaml is unchanged, else params.yaml."""
    settings = IngestSettings()
    if settings.source:
        return Source(settings.source, settings.sha256, SOURCE_ENV)
    record = read_record(dest)
    if record is not None and (record.params_source, record.params_sha256) == (params.source, params.sha256):
        origin = f"{display_path(record_file(dest))}: the last ingest's source, from {record.origin}"
        return Source(record.location, None, origin, remembered=record)
    if params.source:
        return Source(params.source, params.sha256, PARAMS_ORIGIN)
    raise SourceError(
        f"no raw data source: set the environment variable {SOURCE_ENV} or params.yaml "
        "ingest.source to a local path or URL of hotel_bookings.csv(.gz) "
        "(see README.md, 'Data')"
    )


def local_bookings_file(*fallbacks: Path) -> Path | None:
    """A bookings file already on this machine, for the benchmarks that repeat real rows:
    ``HOTEL_BOOKINGS_SOURCE`` when it names a local file, else the first of ``fallbacks`` there."""
    source = IngestSettings().source
    configured = [repo_path(source)] if source and not Source(source, None, SOURCE_ENV).is_url else []
    return next((path for path in [*configured, *fallbacks] if path.is_file()), None)


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


def check_rows(path: Path, label: str) -> None:
    """Read ``path`` whole (it must parse: a hostile line raises CsvFormatError) and validate it
    until a row is valid; raise NoValidRowsError, with the reasons, when none is."""
    rows = 0
    reasons: Counter[str] = Counter()
    outside = OutsideVocabulary()
    valid = False
    with RawReader(path, label=label) as reader:
        for chunk in reader:
            rows += chunk.table.num_rows + len(chunk.misaligned)
            if valid:
                continue  # one valid row is enough; the rest is read to know that it parses
            checked = validate({c: chunk.table[c] for c in reader.columns}, reader.columns)
            valid = len(checked.accepted) > 0
            outside.add(checked.details)
            reasons.update(checked.reason_counts)
            reasons.update(m.key for m in chunk.misaligned)
    if not valid:
        raise NoValidRowsError(
            rows, reasons, outside.message(rows) if outside.rows else "", reader.blank_lines
        )


def fetch(source: Source, dest: Path = RAW_FILE, *, retries: int = 5, timeout: float = 60) -> IngestResult:
    """Copy/download ``source`` to ``dest`` atomically; keep ``dest`` if the content is unchanged."""
    with stage(source, dest, retries=retries, timeout=timeout) as staged:
        staged.commit(IngestParams())
        return staged.result


def record_vocabulary(dest: Path = RAW_VOCABULARY) -> bool:
    """Write the vocabulary in use to ``dest`` (atomically) unless it holds it already; True if written.

    Its categories only, sorted: moving the file or editing its comments reruns nothing."""
    text = dump_vocabulary(
        VOCABULARY, ["The vocabulary the raw bookings are validated with (data/README.md)."]
    )
    if dest.exists() and dest.read_text(encoding="utf-8") == text:
        return False
    try:
        write_atomically(dest, text)
    except VocabularyError as exc:
        raise SourceError(str(exc)) from exc
    return True


def report_vocabulary(dest: Path) -> None:
    snapshot = dest.with_name(RAW_VOCABULARY.name)
    state = "updated" if record_vocabulary(snapshot) else "unchanged, kept"
    print(f"ingest: vocabulary {vocabulary_in_use()} -> {display_path(snapshot)} ({state})")


def ingest(params: IngestParams | None = None, dest: Path = RAW_FILE) -> IngestResult:
    """The DVC stage: stage the source, check it whole when it is new, put it in place."""
    params = params or read_section("ingest", IngestParams)
    source = resolve_source(params, dest)
    with stage(source, dest, retries=params.retries, timeout=params.timeout_seconds) as staged:
        if staged.changed:
            check_rows(staged.path, source.location)
        staged.commit(params)
        print(staged.line())
        result = staged.result
    report_vocabulary(dest)
    return result


def print_reasons(reasons: Mapping[str, int], out: TextIO | None = None) -> None:
    """The rejected rows by reason, most frequent first."""
    if reasons:
        print("rejected rows by reason:", file=out)
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>7,}  {reason}", file=out)


def main() -> int:
    try:
        ingest()
    except ColumnsError as exc:
        print(
            f"ingest: error: the source is not the bookings dataset: {exc}; nothing was written",
            file=sys.stderr,
        )
        return 1
    except NoValidRowsError as exc:
        print_reasons(exc.reasons, sys.stderr)
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    except (SourceError, ParamsError, ValueError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
