"""The writers: cells a spreadsheet would run neutralised, outputs that appear whole or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from data_engineering.src.files import writing
from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.writing import CsvSink, restore_formulas, write_csv


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
