"""vocabulary: an input it cannot count is one clear error; a line that is no record is set aside
and named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from data_engineering.src import schema
from data_engineering.src.vocabulary import main
from data_engineering.tests.helpers import bookings_file, write_file


def _ragged(tmp_path: Path) -> Path:
    path = bookings_file(tmp_path, rows=20)
    with path.open("a") as out:
        out.write("City Hotel,0,12\n")
    return path


def _truncated_gzip(tmp_path: Path) -> Path:
    whole = bookings_file(tmp_path, "whole.csv.gz", rows=2000).read_bytes()
    return write_file(tmp_path, "x.csv.gz", whole[: len(whole) // 2])


HEADER = ",".join(schema.RAW_COLUMN_NAMES).encode() + b"\n"
BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.csv", "does not exist"),
    "a folder": (lambda d: d, "is not a file"),
    "empty file": (lambda d: write_file(d, "empty.csv", b""), "empty.csv is empty"),
    "binary data": (
        lambda d: write_file(d, "x.parquet", b"PAR1\x15\x04\xff\xfe\x00\x81"),
        "line 1 holds binary data",
    ),
    "truncated gzip": (_truncated_gzip, "a truncated or corrupt gzip file"),
    "one column": (
        lambda d: write_file(d, "x.csv", b"hotel|meal|market_segment\nCity Hotel|BB|Direct\n"),
        "Is it a CSV separated by commas, semicolons or tabs",
    ),
    "a gzip bomb": (
        lambda d: write_file(d, "bomb.csv.gz", gzip.compress(HEADER + b"\n" * (40 << 20))),
        "refused as a gzip bomb",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_clear_error(tmp_path: Path, capsys, case: str) -> None:
    make, message = BAD_INPUTS[case]
    assert main([str(make(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.splitlines()[-1]  # after the progress lines of a read that failed half-way
    assert last.startswith("vocabulary: error: ")
    assert message in last


def test_a_ragged_line_is_set_aside_and_named(tmp_path: Path, capsys) -> None:
    assert main([str(_ragged(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert (
        ": 20 bookings\n(1 line(s) set aside, not counted: line 22: line has 3 fields, expected 32)\n" in out
    )
