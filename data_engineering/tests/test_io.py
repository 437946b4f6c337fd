"""The streamed CSV reader: every line accounted for, whatever the chunk size."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_engineering.src.initialize_data import BookingIds, _chunk_frames
from data_engineering.src.io import RawReader, as_text
from data_engineering.src.synthetic import make_bookings


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
            ids.update(zip(order, keys(*_chunk_frames(chunk, reader.columns)).tolist(), strict=True))
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


def test_undecodable_bytes_become_replacement_characters(tmp_path: Path) -> None:
    frame = make_bookings(5, seed=2)
    path = tmp_path / "latin.csv"
    frame.to_csv(path, index=False)
    data = path.read_bytes().replace(b"Resort Hotel", b"R\xe9sort Hotel", 1)
    path.write_bytes(data)
    with RawReader(path) as reader:
        hotels = [v for chunk in reader for v in as_text(chunk.table["hotel"]).to_pylist()]
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
