"""The streamed CSV reader: every line accounted for, whatever the chunk size."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_engineering.src.files import reader as reader_module
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import as_text
from data_engineering.src.load_chunks import BookingIds, chunk_frames
from data_engineering.src.synthetic import make_bookings, write_european
from data_engineering.tests.helpers import bookings_lines


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


def test_a_chunk_holds_at_most_chunk_lines_lines_however_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_module, "CHUNK_LINES", 1000)
    path, lines = bookings_lines(tmp_path / "blank.csv", 3)
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
