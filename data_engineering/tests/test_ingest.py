"""Ingest: local or HTTP, plain or gzip, sha256 checked, atomic, unchanged files kept."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.ingest import ingest
from data_engineering.src.ingest_source import (
    IngestParams,
    Source,
    SourceError,
    local_bookings_file,
    read_record,
    resolve_source,
)
from data_engineering.src.ingest_staging import fetch
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


def test_missing_source_names_the_variable_and_the_param(settings_env, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as error:  # no variable, no recorded source, no param
        resolve_source(IngestParams(source=None), tmp_path / "raw.csv")
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


@contextmanager
def _serving(payload: bytes, *, failures: int = 0) -> Iterator[tuple[str, dict]]:
    """Serves ``payload`` on loopback, counting the requests; the first ``failures`` get a 503."""
    state = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["requests"] += 1
            if state["requests"] <= failures:
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hotel_bookings.csv.gz", state
    finally:
        server.shutdown()


@pytest.fixture
def flaky_server(csv_file: Path) -> Iterator[tuple[str, dict]]:
    """The gzip file on loopback; the first request gets a 503."""
    with _serving(gzip.compress(csv_file.read_bytes()), failures=1) as served:
        yield served


@pytest.fixture
def counting_server(csv_file: Path) -> Iterator[tuple[str, dict]]:
    """The gzip file on loopback."""
    with _serving(gzip.compress(csv_file.read_bytes())) as served:
        yield served


def test_download_retries_and_decompresses(tmp_path: Path, csv_file: Path, flaky_server) -> None:
    url, state = flaky_server
    result = fetch(Source(url, _sha(csv_file), "test"), tmp_path / "raw.csv", retries=2, timeout=5)
    assert result.changed
    assert state["requests"] == 2
    assert (tmp_path / "raw.csv").read_bytes() == csv_file.read_bytes()


def test_unreachable_url_explains_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="set HOTEL_BOOKINGS_SOURCE to the local file"):
        fetch(Source("http://127.0.0.1:9/none.csv", None, "test"), tmp_path / "raw.csv", retries=0, timeout=2)


# ------------------------------------------------------------------------ the remembered source
def test_a_downloaded_source_is_remembered_and_not_downloaded_again(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path, *, counting_server, capsys
) -> None:
    url, state = counting_server
    dest = tmp_path / "raw" / "hotel_bookings.csv"
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", url)
    ingest(IngestParams(), dest)
    assert state["requests"] == 1
    record = read_record(dest)
    assert record is not None
    assert (record.location, record.origin, record.sha256) == (url, "HOTEL_BOOKINGS_SOURCE", _sha(csv_file))

    monkeypatch.delenv("HOTEL_BOOKINGS_SOURCE")  # a later command, without the variable
    capsys.readouterr()
    again = ingest(IngestParams(), dest)
    assert state["requests"] == 1  # not downloaded again
    assert again.reused
    assert not again.changed
    said = capsys.readouterr().out.splitlines()[0]
    assert said.startswith(f"ingest: reusing {dest} (")
    assert f"as fetched from {url} by the last ingest, not fetching it again" in said

    dest.write_bytes(dest.read_bytes() + b"\n")  # the file no longer holds what the URL gave
    ingest(IngestParams(), dest)
    assert state["requests"] == 2
    assert dest.read_bytes() == csv_file.read_bytes()


def test_params_yaml_wins_again_once_it_changes(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path
) -> None:
    dest = tmp_path / "raw" / "hotel_bookings.csv"
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", str(csv_file))
    params = IngestParams(source="https://example.org/public.csv")
    ingest(params, dest)
    monkeypatch.delenv("HOTEL_BOOKINGS_SOURCE")
    remembered = resolve_source(params, dest)
    assert (remembered.location, remembered.sha256) == (str(csv_file), None)
    assert remembered.origin.endswith("the last ingest's source, from HOTEL_BOOKINGS_SOURCE")
    edited = IngestParams(source="https://example.org/other.csv")
    assert resolve_source(edited, dest).location == "https://example.org/other.csv"


def test_a_remembered_local_file_is_read_again(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path
) -> None:
    dest = tmp_path / "raw" / "hotel_bookings.csv"
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", str(csv_file))
    ingest(IngestParams(), dest)
    monkeypatch.delenv("HOTEL_BOOKINGS_SOURCE")
    write_bookings(csv_file, 310, seed=3)  # the export, rewritten in place
    assert ingest(IngestParams(), dest).changed
    assert dest.read_bytes() == csv_file.read_bytes()
    csv_file.unlink()  # gone: the file it gave is still there, and is used
    assert ingest(IngestParams(), dest).reused


# ------------------------------------------------------------------------ nothing replaced unless good
def _state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda header: header, id="header-only"),
        pytest.param(lambda header: header + b"\n" * 5000, id="blank-lines"),
        pytest.param(lambda header: header + b"City Hotel,x,y\n" * 3, id="no-valid-row"),
        pytest.param(lambda header: header + b"City Hotel," + b"9" * 20_000 + b"\n", id="too-long-a-line"),
    ],
)
def test_the_stage_replaces_nothing_with_a_source_that_is_not_good(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path, content
) -> None:
    raw = tmp_path / "raw"
    dest = raw / "hotel_bookings.csv"
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", str(csv_file))
    ingest(IngestParams(), dest)
    before = _state(raw)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content(csv_file.read_bytes().split(b"\n", 1)[0] + b"\n"))
    monkeypatch.setenv("HOTEL_BOOKINGS_SOURCE", str(bad))
    monkeypatch.setenv("HOTEL_CSV_MAX_LINE_BYTES", "10000")
    with pytest.raises(ValueError, match=r"no booking, only a header|none of the|longer than 10,000 bytes"):
        ingest(IngestParams(), dest)
    assert _state(raw) == before  # the file, its record, no temporary file left


def test_a_gzip_bomb_source_is_refused_and_replaces_nothing(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, csv_file: Path
) -> None:
    dest = tmp_path / "raw" / "hotel_bookings.csv"
    fetch(Source(str(csv_file), None, "test"), dest)
    bomb = tmp_path / "bomb.csv.gz"
    header = csv_file.read_bytes().split(b"\n", 1)[0] + b"\n"
    bomb.write_bytes(gzip.compress(header + b"\n" * (40 << 20), compresslevel=9))
    with pytest.raises(CsvFormatError, match="refused as a gzip bomb"):
        fetch(Source(str(bomb), None, "test"), dest)
    assert dest.read_bytes() == csv_file.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        "hotel_bookings.csv",
        "hotel_bookings.source.json",
    ]
