"""The streamed CSV reader: every line accounted for, whatever the chunk size."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_engineering.src.files import parquet, records, source, writing
from data_engineering.src.files import reader as reader_module
from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import as_text
from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.files.writing import CsvSink, restore_formulas, write_csv
from data_engineering.src.load_chunks import BookingIds, chunk_frames
from data_engineering.src.schema import ColumnsError
from data_engineering.src.synthetic import make_bookings, write_european


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """300 bookings with a blank line, two misaligned lines and a line of separators."""
    frame = make_bookings(300, seed=4)
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[10] += ",surplus"  # line 11
    lines[20] = ",".join(lines[20].split(",")[:-2])  # line 21
    lines.insert(31, "")  # line 32: blank
    lines.insert(41, "," * 31)  # line 42: only separators
    return _write(path, lines)


def _read(path: Path, chunk_bytes: int, scoring: bool = False):
    misaligned: list[tuple[int, int]] = []
    lines, blank, hotels = [], 0, []
    ids: dict[int, int] = {}  # line -> booking id
    keys = BookingIds()
    with RawReader(path, scoring=scoring, chunk_bytes=chunk_bytes) as reader:
        for chunk in reader:
            lines.extend(chunk.lines.tolist())
            misaligned.extend((m.line, m.count) for m in chunk.misaligned)
            blank += chunk.blank
            hotels.extend(as_text(chunk.table["hotel"]).to_pylist())
            order = [*chunk.lines.tolist(), *(m.line for m in chunk.misaligned)]
            ids.update(zip(order, keys(*chunk_frames(chunk, reader.columns)).tolist(), strict=True))
    return lines, misaligned, blank, hotels, ids


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 4096, 700])
def test_every_line_is_numbered_across_chunks(messy: Path, chunk_bytes: int) -> None:
    lines, misaligned, blank, hotels, _ = _read(messy, chunk_bytes)
    assert misaligned == [(11, 33), (21, 30)]
    assert blank == 2
    expected = [n for n in range(2, 304) if n not in (11, 21, 32, 42)]  # 300 rows + 2 inserted
    assert lines == expected
    assert len(hotels) == len(expected)


def test_ids_do_not_depend_on_the_chunk_size(messy: Path) -> None:
    *_, whole = _read(messy, 1 << 20)
    *_, small = _read(messy, 700)
    assert whole == small
    assert len(set(whole.values())) == len(whole) == 300  # duplicates get ranks, keys stay unique


def test_gzip_and_a_bom_are_read_alike(tmp_path: Path) -> None:
    frame = make_bookings(50, seed=2)
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    packed = tmp_path / "packed.csv.gz"
    with gzip.open(packed, "wt", encoding="utf-8-sig") as out:
        frame.to_csv(out, index=False)
    assert _read(plain, 1 << 20)[:4] == _read(packed, 1 << 20)[:4]


def test_a_windows_1252_file_is_detected_and_decoded(tmp_path: Path) -> None:
    frame = make_bookings(5, seed=2)
    frame.loc[2, "country"] = "Côte d’Ivoire"  # ’ is 0x92 in Windows-1252, undefined in Latin-1
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    said: list[str] = []
    with RawReader(path, announce=said.append) as reader:
        countries = [v for chunk in reader for v in as_text(chunk.table["country"]).to_pylist()]
    assert said == [f"reading {path}: comma-separated, Windows-1252"]
    assert countries[2] == "Côte d’Ivoire"


def test_a_windows_1252_header_decides_the_encoding(tmp_path: Path) -> None:
    frame = make_bookings(5, seed=2)
    frame.insert(0, "Réf", ["A1", "A2", "A3", "A4", "A5"])  # a column of the hotel's own
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    with RawReader(path, scoring=True, announce=None) as reader:
        assert reader.header[0] == "Réf"
        assert reader.encoding == "cp1252"


def test_undecodable_bytes_in_a_utf8_file_become_replacement_characters(tmp_path: Path) -> None:
    frame = make_bookings(5, seed=2)
    frame.loc[1, "country"] = "Türkiye"  # UTF-8: the file is UTF-8...
    path = tmp_path / "broken.csv"
    frame.to_csv(path, index=False)
    data = path.read_bytes().replace(b"Resort Hotel", b"R\xe9sort Hotel", 1)  # ...with one bad byte
    path.write_bytes(data)
    with RawReader(path, announce=None) as reader:
        hotels = [v for chunk in reader for v in as_text(chunk.table["hotel"]).to_pylist()]
        assert reader.encoding == "utf-8"
    assert len(hotels) == 5
    assert "R\ufffdsort Hotel" in hotels


def test_a_wrong_header_is_refused_before_any_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "other.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(ValueError, match="missing column"):
        RawReader(path)
    with pytest.raises(ValueError, match="is empty"):
        RawReader(_write(tmp_path / "empty.csv", [""]))


def test_lines_arrive_in_order_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    make_bookings(3000, seed=9).to_csv(path, index=False)
    lines, *_ = _read(path, 16_384)
    assert np.array_equal(lines, np.arange(2, 3002))


# ------------------------------------------------------------------------ files from real systems
def test_a_semicolon_file_with_decimal_commas_is_read_as_text_with_points(tmp_path: Path) -> None:
    frame = make_bookings(40, seed=3)
    path = write_european(tmp_path / "european.csv", frame)
    assert b"," in path.read_bytes().splitlines()[1]  # "120,5"
    said: list[str] = []
    with RawReader(path, announce=said.append) as reader:
        chunks = list(reader)
    assert said == [f"reading {path}: semicolon-separated, decimal comma, UTF-8"]
    adr = [v for chunk in chunks for v in as_text(chunk.table["adr"]).to_pylist()]
    assert adr == frame["adr"].tolist()  # "120,5" is read as "120.5"
    hotels = [v for chunk in chunks for v in as_text(chunk.table["hotel"]).to_pylist()]
    assert hotels == frame["hotel"].tolist()  # text columns keep what they hold


def test_a_tab_separated_gzip_file_is_read(tmp_path: Path) -> None:
    frame = make_bookings(30, seed=5)
    path = tmp_path / "export.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        frame.to_csv(out, index=False, sep="\t")
    said: list[str] = []
    with RawReader(path, announce=said.append) as reader:
        lead = [v for chunk in reader for v in as_text(chunk.table["lead_time"]).to_pylist()]
    assert said == [f"reading {path}: tab-separated, UTF-8, gzip"]
    assert lead == frame["lead_time"].tolist()


# ------------------------------------------------------------------------ lines that are no record
def test_a_line_that_is_no_record_is_set_aside_and_the_rest_read(tmp_path: Path) -> None:
    frame = make_bookings(20, seed=6)
    frame.loc[0, "country"] = "Türkiye"  # the file is UTF-8...
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    lines = path.read_bytes().split(b"\n")
    lines[3] = (
        lines[3].replace(b"City Hotel", b'"City Hotel', 1).replace(b"Resort Hotel", b'"Resort Hotel', 1)
    )
    lines[6] = lines[6][:20] + b"\r" + lines[6][20:]  # a carriage return inside line 7
    lines[9] = b"R\xe9sort," + lines[9].split(b",", 2)[2][:30]  # ...but not line 10, which is short
    path.write_bytes(b"\n".join(lines))
    with RawReader(path, announce=None, chunk_bytes=1 << 20) as reader:
        chunks = list(reader)
    aside = {m.line: m.reason for chunk in chunks for m in chunk.misaligned}
    assert aside[4] == 'an unbalanced quote (")'
    assert aside[7] == "a carriage return inside the line"
    assert aside[10].startswith("line has ")
    hotel = next(m.fields["hotel"] for chunk in chunks for m in chunk.misaligned if m.line == 10)
    assert hotel == "R\ufffdsort"  # the bad byte shown as U+FFFD, the line set aside, the rest read
    read = [int(n) for chunk in chunks for n in chunk.lines]
    assert read == [n for n in range(2, 22) if n not in (4, 7, 10)]  # every other line, in order


# ------------------------------------------------------------------------ hostile files
def _read_all(path: Path) -> None:
    with RawReader(path, announce=None) as reader:
        for _ in reader:
            pass


def _refused(path: Path, match: str, **limits: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in limits.items():
            patch.setenv(name, value)
        with pytest.raises(CsvFormatError, match=match) as refused:
            _read_all(path)
    assert "\n" not in str(refused.value)


def test_a_header_of_many_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n1,2\n")
    _refused(path, r"the header has 100,000 columns, more than 1,000 \(HOTEL_CSV_MAX_COLUMNS\)")


def test_an_overlong_line_is_refused_with_its_number(tmp_path: Path) -> None:
    frame = make_bookings(10, seed=7)
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    with path.open("ab") as out:
        out.write(b"x" * 5000)  # line 12, without an end
    _refused(
        path,
        r"line 12 is longer than 4,096 bytes \(HOTEL_CSV_MAX_LINE_BYTES\)",
        HOTEL_CSV_MAX_LINE_BYTES="4096",
    )
    header = tmp_path / "long_header.csv"
    header.write_bytes(b"a" * 10_000)
    _refused(header, "line 1 is longer than 4,096 bytes", HOTEL_CSV_MAX_LINE_BYTES="4096")


def test_an_overlong_field_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    frame = make_bookings(10, seed=7)
    frame.loc[4, "country"] = "X" * 500
    path = tmp_path / "field.csv"
    frame.to_csv(path, index=False)
    _refused(
        path,
        r"line 6, column country: a field longer than 100 bytes \(HOTEL_CSV_MAX_FIELD_BYTES\)",
        HOTEL_CSV_MAX_FIELD_BYTES="100",
    )


def test_binary_garbage_and_utf16_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 64)
    _refused(garbage, r"line 1 holds binary data .* not a CSV header")
    utf16 = tmp_path / "excel_unicode.csv"
    make_bookings(3).to_csv(utf16, index=False, sep="\t", encoding="utf-16")
    _refused(utf16, "UTF-16 text; save it as a CSV in UTF-8 or Windows-1252")
    mac = tmp_path / "mac.csv"
    mac.write_bytes(make_bookings(3).to_csv(index=False, lineterminator="\r").encode())
    _refused(mac, "lines end with a carriage return alone")


def test_a_gzip_bomb_is_refused_before_it_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = ",".join(make_bookings(1).columns).encode() + b"\n"
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(header + b"\n" * (8 << 20), compresslevel=9))
    monkeypatch.setattr(source, "BOMB_FLOOR", 1 << 20)  # the real floor is 32 MiB
    _refused(bomb, r"a gzip file that expands more than 100 times .* refused as a gzip bomb")


def test_a_truncated_gzip_file_is_refused(tmp_path: Path) -> None:
    frame = make_bookings(200, seed=8)
    packed = gzip.compress(frame.to_csv(index=False).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    _refused(path, "a truncated or corrupt gzip file")


# ------------------------------------------------------------------------ writing
def test_cells_a_spreadsheet_would_run_are_neutralised_and_read_back(tmp_path: Path) -> None:
    text = ['=HYPERLINK("http://x")', "-2", "+1.5", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "'quoted", "ok", ""]
    table = pa.table({"note": pa.array(text), "adr": pa.array([-2.0] * len(text))})
    path = tmp_path / "out.csv"
    sink = CsvSink(path, table.schema)
    sink.write(table)
    sink.commit()
    written = pd.read_csv(path, dtype={"note": str}, keep_default_na=False)
    assert written["note"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "-2",  # numbers are data, not formulas (OWASP)
        "+1.5",
        "'-2+3",
        "'@SUM(A1)",
        "'\tTab",
        "'\rCR",
        "''quoted",  # one more quote, so that reading back takes exactly one away
        "ok",
        "",
    ]
    assert written["adr"].tolist() == [-2.0] * len(text)  # numeric columns are left alone
    assert restore_formulas(written["note"]).tolist() == text
    frame_path = tmp_path / "frame.csv"
    write_csv(pd.DataFrame({"note": text}), frame_path)  # the other writer: the same cells
    assert (
        pd.read_csv(frame_path, dtype=str, keep_default_na=False)["note"].tolist() == written["note"].tolist()
    )


def _temporary(beside: Path, name: str, age_seconds: float) -> Path:
    path = beside.parent / f".{beside.name}.{name}.tmp"
    path.write_bytes(b"x" * 1000)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_a_writer_removes_stale_temporaries_but_not_a_live_writers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    stale = _temporary(out, "stale", 3600)
    live = _temporary(out, "live", 3600)
    other = _temporary(tmp_path / "other.csv", "stale", 3600)  # another output's
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        write_atomic(out, b"a,b\n")
    finally:
        holder.kill()
        holder.wait()
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
    assert out.read_bytes() == b"a,b\n"
    assert capsys.readouterr().err.strip() == (
        f"note: removed 1 stale temporary file(s) (1,000 bytes) beside {out}, left by an interrupted run"
    )
    write_atomic(out, b"a,b\n")  # the writer that held it is gone: its file is stale now
    assert not live.exists()


# A writer in another process: holds the lock on its temporary file until killed.
HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def _bookings_lines(path: Path, rows: int) -> tuple[Path, list[bytes]]:
    """``rows`` bookings written to ``path``, and its lines (without their ends) to rearrange."""
    make_bookings(rows, seed=9).to_csv(path, index=False)
    return path, path.read_bytes().splitlines()


def test_a_chunk_holds_at_most_chunk_lines_lines_however_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_module, "CHUNK_LINES", 1000)
    path, lines = _bookings_lines(tmp_path / "blank.csv", 3)
    path.write_bytes(
        b"\n".join([lines[0], lines[1], b"\n" * 25_000 + lines[2], b"\n" * 3 + b",,,\n" * 2500 + lines[3]])
    )
    with RawReader(path, announce=None) as reader:
        chunks = list(reader)
        blank = reader.blank_lines
    assert max(c.table.num_rows + c.blank + len(c.misaligned) for c in chunks) <= 1000
    assert [int(n) for c in chunks for n in c.lines] == [2, 25_003, 27_507]  # numbered as in the file
    assert blank == 25_003  # the blank lines, counted
    assert [m.line for c in chunks for m in c.misaligned][:2] == [25_007, 25_008]  # 4 fields, not 32


def test_a_file_of_lines_that_are_mostly_no_records_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "NOT_RECORDS", 50)
    path, lines = _bookings_lines(tmp_path / "trailing.csv", 30)
    path.write_bytes(b"\n".join([lines[0], *(line + b"," for line in lines[1:])]) + b"\n")
    with RawReader(path, announce=None) as reader:  # 30 such lines: each set aside, with its reason
        assert {m.reason for c in reader for m in c.misaligned} == {"line has 33 fields, expected 32"}
    path, lines = _bookings_lines(path, 200)
    path.write_bytes(b"\n".join([lines[0], *lines[1:5], *(line + b"," for line in lines[5:])]) + b"\n")
    _refused(
        path,
        r"more than 50 lines from line 6 on are no records of the header's 32 fields \(line 6 has 33\): "
        "is it a bookings CSV, separated like its header\\?",
    )


# ----------------------------------------------------------------------------------- Parquet
def test_a_parquet_file_reads_as_the_text_a_csv_holds(tmp_path: Path) -> None:
    import datetime as dt

    frame = make_bookings(3, seed=4)
    frame["lead_time"] = [7, 0, 120]  # numbers stored as numbers
    frame["adr"] = [75.5, 0.0, 120.25]
    frame["country"] = ["PRT", None, "FRA"]
    frame["as_of"] = [dt.date(2016, 3, 1), None, dt.date(2016, 3, 2)]
    path = tmp_path / "in.parquet"
    frame.to_parquet(path, index=False)
    announced: list[str] = []
    with parquet.open_bookings(path, scoring=True, announce=announced.append) as reader:
        chunks = list(reader)
    assert announced == [f"reading {path}: Parquet, 3 rows"]
    table = chunks[0].table
    assert chunks[0].lines.tolist() == [1, 2, 3]  # a row's number in the file
    assert table["lead_time"].to_pylist() == ["7", "0", "120"]
    assert table["adr"].to_pylist() == ["75.5", "0", "120.25"]
    assert table["country"].to_pylist() == ["PRT", None, "FRA"]  # null: missing, as an empty CSV field
    assert table["as_of"].to_pylist() == ["2016-03-01", None, "2016-03-02"]


def test_a_parquet_file_without_a_column_or_with_nested_values_is_refused(tmp_path: Path) -> None:
    frame = make_bookings(2, seed=4)
    frame.drop(columns=["hotel"]).to_parquet(tmp_path / "short.parquet", index=False)
    with pytest.raises(ColumnsError, match="missing column"):
        parquet.open_bookings(tmp_path / "short.parquet", scoring=True, announce=None)
    nested = pa.Table.from_pandas(frame, preserve_index=False)
    nested = nested.append_column("extras", pa.array([[1, 2], [3]], pa.list_(pa.int64())))
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(CsvFormatError, match="column\\(s\\) extras hold lists or records"):
        parquet.open_bookings(tmp_path / "nested.parquet", scoring=True, announce=None)
    (tmp_path / "not.parquet").write_text("hotel,lead_time\n")
    with pytest.raises(CsvFormatError, match="not a Parquet file"):
        parquet.open_bookings(tmp_path / "not.parquet", scoring=True, announce=None)


def test_a_parquet_output_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    schema = pa.schema([("booking_id", pa.string()), ("cancel_probability", pa.float64())])
    sink = writing.open_sink(tmp_path / "out.parquet", schema)
    sink.write(pa.table({"booking_id": ["A", "=B"], "cancel_probability": [0.25, 0.5]}, schema=schema))
    assert not (tmp_path / "out.parquet").exists()  # not before the commit
    sink.commit()
    assert pd.read_parquet(tmp_path / "out.parquet")["booking_id"].tolist() == [
        "A",
        "=B",
    ]  # values as they are
    failed = writing.open_sink(tmp_path / "other.parquet", schema)
    failed.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
