"""Fault-suite cases of the data loads (``./cli.sh test fault``): hostile files and interrupted loads.

Each case runs the real command in a subprocess, as a user would, and records what went in, what
was kept and what was lost (the ``fault_case`` fixture). Time and memory bounds are measured on
the child process: its peak resident memory is its high-water mark in ``/proc/PID/status``
(VmHWM), read every 5 ms while it runs. (Not ``wait4``'s ``ru_maxrss``: Linux carries the
parent's high-water mark over fork and exec, so it would report the size of this test process.)
"""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.schema import RAW_COLUMN_NAMES
from data_engineering.src.synthetic import write_bookings
from data_engineering.tests.helpers import workspace_files

pytestmark = pytest.mark.fault

MODULE = "data_engineering.src.initialize_data"
HEADER = ",".join(RAW_COLUMN_NAMES).encode() + b"\n"
SECONDS = 10  # each hostile file is refused within this...
MEMORY = 1 << 30  # ...and under this much resident memory


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int  # the child's peak resident memory

    @property
    def error(self) -> str:
        return self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""


def _vm_hwm(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def run_measured(*args: str, env: dict[str, str], timeout: float = 120) -> Measured:
    """Run ``python -m args`` from the repository root; time it and take its peak memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO_ROOT, env={**os.environ, **env}, stdout=out, stderr=err
        )
        peak = 0
        while True:
            peak = max(peak, _vm_hwm(child.pid))
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                child.kill()
            time.sleep(0.005)
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Measured(
            child.returncode,
            out.read().decode(),
            err.read().decode(),
            seconds,
            peak,
        )


@pytest.fixture
def loaded(workspace: Path, tmp_path: Path) -> tuple[dict[str, bytes], int]:
    """A workspace where a good load ran (CSV and the embedded SQLite): its files and rows."""
    source = write_bookings(tmp_path / "good" / "bookings.csv", 2000, seed=21)
    for destination in ("csv", "db"):
        result = run_measured(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(source)})
        assert result.returncode == 0, result.stderr
    return workspace_files(workspace), 2000


def _gzip_bomb(path: Path, expanded: int) -> Path:
    """The dataset's header, then ``expanded`` bytes of blank lines, compressed about a thousand times."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: the gzip format
    block = b"\n" * (64 << 20)
    with path.open("wb") as out:
        out.write(packer.compress(HEADER))
        for _ in range(expanded // len(block)):
            out.write(packer.compress(block))
        out.write(packer.flush())
    return path


def _two_gb_line(path: Path) -> Path:
    """The header, then one line of 2 GiB (a sparse file: its bytes read as NUL, taking no disk)."""
    with path.open("wb") as out:
        out.write(HEADER + b"City Hotel,")
        out.seek(2 << 30, os.SEEK_CUR)
        out.write(b"\n")
    return path


def _wide_header(path: Path) -> Path:
    path.write_bytes(b",".join(b"c%d" % i for i in range(100_000)) + b"\n" + b"1,2,3\n")
    return path


def _garbage(path: Path, header: bytes = b"") -> Path:
    path.write_bytes(header + random.Random(20).randbytes(64 << 20))  # seeded: the same every run
    return path


def _blank_lines(path: Path) -> Path:
    """Blank lines are counted, not parsed: they take neither memory nor much time. The one
    booking is invalid (a hotel not in the vocabulary), so that the load is refused."""
    with path.open("wb") as out:
        out.write(HEADER)
        for _ in range(32):
            out.write(b"\n" * (8 << 20))
        out.write(b"Nowhere Inn" + b",0" * 31 + b"\n")
    return path


def _fails_late(path: Path) -> Path:
    """70,000 good bookings (beyond the first chunks the source is checked with before it is
    copied), then a line of 2 MiB: the load fails when most of the file is read."""
    write_bookings(path, 70_000, seed=24)
    with path.open("ab") as out:
        out.write(b"City Hotel," + b"9" * (2 << 20) + b"\n")
    return path


def _written(content: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


SOURCES = {
    "a gzip bomb (2 MB expanding to 2 GiB)": (lambda p: _gzip_bomb(p, 2 << 30), "refused as a gzip bomb"),
    "a 100,000-column header": (_wide_header, "the header has 100,000 columns, more than 1,000"),
    "a 2 GiB line": (_two_gb_line, "line 2 is longer than 1,048,576 bytes (HOTEL_CSV_MAX_LINE_BYTES)"),
    "64 MB of binary garbage": (_garbage, "line 1 holds binary data"),
    "the dataset's header, then 64 MB of binary garbage": (
        lambda p: _garbage(p, header=HEADER),
        "more than 10,000 lines from line 2 on are no records of the header's 32 fields",
    ),
    "the header, then 256 MiB of blank lines and one booking (a plain file)": (
        _blank_lines,
        "none of the 1 rows is valid",
    ),
    "a header-only source": (_written(HEADER), "the source holds no booking, only a header"),
    "an unparseable source (a gzip file cut short)": (
        _written(gzip.compress(HEADER + b"City Hotel,0,342\n" * 20_000)[:-100]),
        "a truncated or corrupt gzip file",
    ),
    "a source that stops parsing after 70,000 good rows (a 2 MiB line)": (
        _fails_late,
        "line 70,002 is longer than 1,048,576 bytes",
    ),
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_a_hostile_empty_or_unparseable_source_is_refused_and_changes_nothing(
    loaded: tuple[dict[str, bytes], int], workspace: Path, tmp_path: Path, fault_case, case: str
) -> None:
    """Refused in one line, within SECONDS and MEMORY, with every table and file as it was."""
    before, rows = loaded
    make, message = SOURCES[case]
    source = make(tmp_path / "source.csv")
    results = [
        run_measured(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(source)})
        for destination in ("db", "csv")
    ]
    changed = workspace_files(workspace) != before
    slowest = max(results, key=lambda r: r.seconds)
    fault_case(
        case=f"initialize-data given {case}",
        sent=rows,
        kept=0 if changed else rows,
        lost=rows if changed else 0,
        detail=f"refused in {slowest.seconds:.1f} s at most, peak memory "
        f"{max(r.peak_bytes for r in results) / 2**20:.0f} MiB at most, exit {slowest.returncode}: "
        f"{slowest.error}",
    )
    for result in results:
        assert result.returncode == 1
        assert result.error.startswith("initialize-data: error: "), result.stderr
        assert message in result.error
        assert "Traceback" not in result.stderr
        assert result.seconds < SECONDS
        assert result.peak_bytes < MEMORY
    assert not changed  # the loaded rows, data/raw, every file: as they were


def _progress(stderr: Path) -> int:
    """The share of the file validated so far, from the progress lines (0 before the first)."""
    shares = re.findall(r"initialize-data: validate: .*\((\d+)%\)", stderr.read_text())
    return int(shares[-1]) if shares else 0


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                for table in ("bookings_v2", "bookings_raw", "bookings_rejected")
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_kill_9_halfway_keeps_the_previous_tables_and_the_rerun_loads_everything(
    workspace: Path, tmp_path: Path, pg_url: str, fault_case
) -> None:
    env = {"DATABASE_URL": pg_url, "HOTEL_PROGRESS_SECONDS": "0.2"}
    small = write_bookings(tmp_path / "source" / "small.csv", 1000, seed=22)
    first = run_measured(  # the shared test database may hold a bigger load of another test
        MODULE, "v2", "db", "--allow-shrink", env={**env, "HOTEL_BOOKINGS_SOURCE": str(small)}
    )
    assert first.returncode == 0, first.stderr
    previous = _counts(pg_url)

    # 300,000 bookings: a few seconds of reading, long enough to be killed halfway.
    part = write_bookings(tmp_path / "source" / "part.csv", 100_000, seed=23).read_bytes()
    body = part.split(b"\n", 1)[1]
    big = tmp_path / "source" / "big.csv"
    big.write_bytes(part + body + body)
    sent = 300_000
    log = tmp_path / "killed.err"
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", MODULE, "v2", "db"],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "HOTEL_BOOKINGS_SOURCE": str(big)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = time.monotonic() + 120
        while _progress(log) < 40 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        at = _progress(log)
        child.send_signal(signal.SIGKILL)
        child.wait()
    kept_after_kill = _counts(pg_url)
    leftovers = sorted(p.name for p in (workspace / "data").rglob(".*.tmp"))

    rerun = run_measured(MODULE, "v2", "db", env={**env, "HOTEL_BOOKINGS_SOURCE": str(big)})
    assert rerun.returncode == 0, rerun.stderr
    loaded = _counts(pg_url)
    fault_case(
        case="kill -9 of initialize-data halfway, then a rerun",
        sent=sent,
        kept=loaded["bookings_raw"],
        lost=sent - loaded["bookings_raw"],
        detail=f"killed at {at}% read: the previous {previous['bookings_raw']:,} rows stayed whole "
        f"({kept_after_kill == previous}); {len(leftovers)} temporary file(s) left, removed by the rerun; "
        f"rerun {loaded['bookings_v2']:,} loaded + {loaded['bookings_rejected']:,} rejected "
        f"in {rerun.seconds:.1f} s",
    )
    assert 0 < at < 100, "the load was not killed halfway"
    assert child.returncode == -signal.SIGKILL
    assert kept_after_kill == previous  # the complete tables of the first load, untouched
    assert leftovers  # the interrupted run's temporary files (the staged source, the rejected file)...
    assert "note: removed" in rerun.stderr  # ...are removed by the rerun, which says so
    assert sorted(p.name for p in (workspace / "data").rglob(".*.tmp")) == []
    assert loaded["bookings_raw"] == sent
    assert loaded["bookings_v2"] + loaded["bookings_rejected"] == sent
