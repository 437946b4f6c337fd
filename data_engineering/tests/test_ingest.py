"""Ingest: local or HTTP, plain or gzip, sha256 checked, atomic, unchanged files kept."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_engineering.src.ingest import (
    IngestParams,
    Source,
    SourceError,
    fetch,
    local_bookings_file,
    resolve_source,
)
from data_engineering.src.io import CsvFormatError
from data_engineering.src.schema import ColumnsError
from data_engineering.src.settings import REPO_ROOT
from data_engineering.src.synthetic import write_bookings


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write_bookings(tmp_path / "src" / "bookings.csv", 300, seed=2)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copies_plain_and_gzip_sources_identically(tmp_path: Path, csv_file: Path) -> None:
    gz = tmp_path / "src" / "bookings.csv.gz"
    gz.write_bytes(gzip.compress(csv_file.read_bytes()))
    plain = fetch(Source(str(csv_file), None, "test"), tmp_path / "a.csv")
    packed = fetch(Source(str(gz), None, "test"), tmp_path / "b.csv")
    assert plain.sha256 == packed.sha256 == _sha(csv_file)
    assert (tmp_path / "b.csv").read_bytes() == csv_file.read_bytes()


def test_unchanged_source_keeps_the_existing_file(tmp_path: Path, csv_file: Path) -> None:
    dest = tmp_path / "raw.csv"
    assert fetch(Source(str(csv_file), None, "test"), dest).changed
    before = dest.stat().st_mtime_ns
    again = fetch(Source(str(csv_file), None, "test"), dest)
    assert not again.changed
    assert dest.stat().st_mtime_ns == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ingest")] == []


def test_sha256_mismatch_is_refused_and_previous_file_kept(tmp_path: Path, csv_file: Path) -> None:
    dest = tmp_path / "raw.csv"
    dest.write_text("previous")
    with pytest.raises(SourceError, match="sha256 mismatch"):
        fetch(Source(str(csv_file), "0" * 64, "test"), dest)
    assert dest.read_text() == "previous"
    assert fetch(Source(str(csv_file), _sha(csv_file), "test"), dest).changed


def test_corrupt_gzip_leaves_previous_file_intact(tmp_path: Path, csv_file: Path) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(csv_file.read_bytes())[:500])
    dest = tmp_path / "raw.csv"
    dest.write_text("previous")
    with pytest.raises(CsvFormatError, match="a truncated or corrupt gzip file"):
        fetch(Source(str(broken), None, "test"), dest)
    assert dest.read_text() == "previous"


def test_a_file_with_wrong_columns_never_replaces_the_raw_file(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    dest = tmp_path / "raw.csv"
    dest.write_text("previous")
    with pytest.raises(ColumnsError, match="missing column"):
        fetch(Source(str(other), None, "test"), dest)
    assert dest.read_text() == "previous"


def test_missing_source_names_the_variable_and_the_param(settings_env) -> None:
    with pytest.raises(SourceError) as error:
        resolve_source(IngestParams(source=None))
    assert "HOTEL_BOOKINGS_SOURCE" in str(error.value)
    assert "ingest.source" in str(error.value)


def test_environment_overrides_params(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", "/data/x.csv")
    monkeypatch.setenv("HOTEL_BOOKINGS_SHA256", "ab" * 32)
    source = resolve_source(IngestParams(source="https://example.org/y.csv", sha256="cd" * 32))
    assert (source.location, source.sha256, source.origin) == (
        "/data/x.csv",
        "ab" * 32,
        "HOTEL_BOOKINGS_SOURCE",
    )


def test_the_benchmarks_local_file_is_the_configured_one_else_a_fallback(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path
) -> None:
    fallback = tmp_path / "fallback.csv"
    fallback.write_text("x\n")
    missing = tmp_path / "missing.csv"
    assert local_bookings_file(missing, fallback) == fallback
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", str(csv_file))
    assert local_bookings_file(fallback) == csv_file
    monkeypatch.chdir(tmp_path)  # a relative path is the repository root's, as for ingest
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", "params.yaml")
    assert local_bookings_file(fallback) == REPO_ROOT / "params.yaml"
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", "https://example.org/hotel_bookings.csv.gz")
    assert local_bookings_file(fallback) == fallback  # a URL is not on this machine
    assert local_bookings_file(missing) is None


def test_nonexistent_local_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"does not exist \(from HOTEL_BOOKINGS_SOURCE\)"):
        fetch(Source(str(tmp_path / "nope.csv"), None, "HOTEL_BOOKINGS_SOURCE"), tmp_path / "raw.csv")


@pytest.fixture
def flaky_server(csv_file: Path) -> Iterator[tuple[str, dict]]:
    """Serves the gzip file on loopback; the first request gets a 503."""
    payload = gzip.compress(csv_file.read_bytes())
    state = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["requests"] += 1
            if state["requests"] == 1:
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hotel_bookings.csv.gz", state
    server.shutdown()


def test_download_retries_and_decompresses(tmp_path: Path, csv_file: Path, flaky_server) -> None:
    url, state = flaky_server
    result = fetch(Source(url, _sha(csv_file), "test"), tmp_path / "raw.csv", retries=2, timeout=5)
    assert result.changed
    assert state["requests"] == 2
    assert (tmp_path / "raw.csv").read_bytes() == csv_file.read_bytes()


def test_unreachable_url_explains_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="set HOTEL_BOOKINGS_SOURCE to the local file"):
        fetch(Source("http://127.0.0.1:9/none.csv", None, "test"), tmp_path / "raw.csv", retries=0, timeout=2)
