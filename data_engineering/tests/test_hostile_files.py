"""Files that are no bookings CSV: refused with the line that shows it, or the lines that are no
record set aside and the rest read."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from data_engineering.src.files import records, source
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.synthetic import make_bookings
from data_engineering.tests.helpers import bookings_lines


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


def test_a_file_of_lines_that_are_mostly_no_records_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "NOT_RECORDS", 50)
    path, lines = bookings_lines(tmp_path / "trailing.csv", 30)
    path.write_bytes(b"\n".join([lines[0], *(line + b"," for line in lines[1:])]) + b"\n")
    with RawReader(path, announce=None) as reader:  # 30 such lines: each set aside, with its reason
        assert {m.reason for c in reader for m in c.misaligned} == {"line has 33 fields, expected 32"}
    path, lines = bookings_lines(path, 200)
    path.write_bytes(b"\n".join([lines[0], *lines[1:5], *(line + b"," for line in lines[5:])]) + b"\n")
    _refused(
        path,
        r"more than 50 lines from line 6 on are no records of the header's 32 fields \(line 6 has 33\): "
        "is it a bookings CSV, separated like its header\\?",
    )
