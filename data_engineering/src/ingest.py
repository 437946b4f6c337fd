"""Stage ``ingest``: copy or download the raw bookings file to ``data/raw/hotel_bookings.csv``.

The source is ``HOTEL_BOOKINGS_SOURCE`` (environment) or ``ingest.source`` in params.yaml: a local
path or an http(s) URL, plain CSV or gzip (detected from the bytes, not the name). The file is
written to a temporary name and renamed, so a failed or interrupted run leaves the previous file
intact; when the content's sha256 is unchanged the existing file is kept untouched (DVC then sees
nothing new and skips every later stage).

Beside it, ``data/raw/vocabulary.yaml`` holds the categories the bookings are validated with
(``HOTEL_VOCABULARY``'s file, else the default), rewritten only when they changed: the stages that
depend on the vocabulary depend on this file, so pointing ``HOTEL_VOCABULARY`` at other
categories reruns them.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import requests
from pydantic import BaseModel, Field

from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import RAW_FILE, RAW_VOCABULARY, display_path
from data_engineering.src.progress import progress
from data_engineering.src.schema import (
    VOCABULARY,
    ColumnsError,
    check_columns,
    dump_vocabulary,
    vocabulary_in_use,
)
from data_engineering.src.settings import IngestSettings, env_name, repo_path
from data_engineering.src.vocabulary import VocabularyError, write_atomically

SOURCE_ENV = env_name(IngestSettings, "source")
CHUNK = 1 << 20


class IngestParams(BaseModel):
    source: str | None = Field(None, description="local path or http(s) URL of the raw CSV(.gz)")
    sha256: str | None = Field(None, description="expected sha256 of the decompressed CSV")
    retries: int = Field(3, ge=0, le=20)
    timeout_seconds: float = Field(60, gt=0)


class SourceError(RuntimeError):
    """The raw data source is missing, unreachable or not what was expected."""


@dataclass(frozen=True)
class Source:
    location: str
    sha256: str | None
    origin: str  # where the location came from, for error messages

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class IngestResult:
    path: Path
    sha256: str
    size: int
    changed: bool


def resolve_source(params: IngestParams) -> Source:
    """The settings win over params.yaml; a sha256 only applies to the source it came with."""
    settings = IngestSettings()
    if settings.source:
        return Source(settings.source, settings.sha256, SOURCE_ENV)
    if params.source:
        return Source(params.source, params.sha256, "params.yaml ingest.source")
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


def _download(url: str, target: Path, *, retries: int, timeout: float) -> None:
    """Stream ``url`` to ``target``, retrying failed connections and 429/5xx with back-off."""
    for attempt in range(retries + 1):
        try:
            # (connect, read) timeouts: an unreachable host fails fast, a slow one may still stream.
            with requests.get(url, stream=True, timeout=(min(timeout, 10), timeout)) as response:
                response.raise_for_status()
                total = int(response.headers.get("Content-Length") or 0) or None
                with (
                    target.open("wb") as out,
                    progress(total=total, desc="ingest: download", unit="B", unit_scale=True) as bar,
                ):
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
            return
        except requests.RequestException as exc:
            status = exc.response.status_code if exc.response is not None else None
            retryable = status is None or status == 429 or status >= 500
            if attempt == retries or not retryable:
                raise SourceError(
                    f"could not download {url} after {attempt + 1} attempt(s): {exc}. Download it "
                    f"yourself and set {SOURCE_ENV} to the local file"
                ) from exc
            wait = 2**attempt
            print(f"ingest: download failed ({exc}); retrying in {wait}s", file=sys.stderr)
            time.sleep(wait)


def _open_maybe_gzip(path: Path) -> gzip.GzipFile | io.BufferedReader:
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


def _copy_hashing(src: Path, out: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with (
        _open_maybe_gzip(src) as stream,
        progress(total=src.stat().st_size, desc="ingest: read", unit="B", unit_scale=True) as bar,
    ):
        # The position in the file itself: for gzip, the compressed bytes read so far (gzip.open
        # opened that file itself, so it has tell(), which typeshed's type for fileobj leaves out).
        raw_stream = cast(BinaryIO, stream.fileobj) if isinstance(stream, gzip.GzipFile) else stream
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
            bar.set(raw_stream.tell() if raw_stream is not None else size)
    return digest.hexdigest(), size


def _check_header(path: Path) -> None:
    """Refuse a file that is not the bookings dataset before it replaces the current one."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as stream:
        header = next(csv.reader(stream), None)
    if not header:
        raise SourceError(f"{path.name}: the source is empty")
    check_columns([name.strip() for name in header])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(source: Source, dest: Path = RAW_FILE, *, retries: int = 5, timeout: float = 60) -> IngestResult:
    """Copy/download ``source`` to ``dest`` atomically; keep ``dest`` if the content is unchanged."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".ingest-", dir=dest.parent))
    try:
        if source.is_url:
            local = scratch / "download"
            _download(source.location, local, retries=retries, timeout=timeout)
        else:
            local = repo_path(source.location)
            if not local.is_file():
                raise SourceError(f"{local} does not exist (from {source.origin})")
        staged = scratch / dest.name
        try:
            with staged.open("wb") as out:
                sha256, size = _copy_hashing(local, out)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"could not read {source.location}: {exc}") from exc
        _check_header(staged)
        if source.sha256 and sha256 != source.sha256.lower():
            raise SourceError(
                f"sha256 mismatch for {source.location} (from {source.origin}): expected "
                f"{source.sha256}, got {sha256}; the file is not the expected dataset version"
            )
        if dest.exists() and file_sha256(dest) == sha256:
            return IngestResult(dest, sha256, size, changed=False)
        staged.replace(dest)
        return IngestResult(dest, sha256, size, changed=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


def ingest(params: IngestParams | None = None, dest: Path = RAW_FILE) -> IngestResult:
    params = params or read_section("ingest", IngestParams)
    source = resolve_source(params)
    result = fetch(source, dest, retries=params.retries, timeout=params.timeout_seconds)
    state = "updated" if result.changed else "unchanged, kept"
    print(
        f"ingest: {source.location} -> {display_path(dest)} "
        f"({result.size:,} bytes, sha256 {result.sha256[:12]}…, {state})"
    )
    snapshot = dest.with_name(RAW_VOCABULARY.name)
    state = "updated" if record_vocabulary(snapshot) else "unchanged, kept"
    print(f"ingest: vocabulary {vocabulary_in_use()} -> {display_path(snapshot)} ({state})")
    return result


def main() -> int:
    try:
        ingest()
    except ColumnsError as exc:
        print(
            f"ingest: error: the source is not the bookings dataset: {exc}; nothing was written",
            file=sys.stderr,
        )
        return 1
    except (SourceError, ParamsError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
