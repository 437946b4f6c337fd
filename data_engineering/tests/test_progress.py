"""Progress: a tqdm bar on a terminal; elsewhere a line at start, at most one every N s, one at end."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest

from data_engineering.src.ingest_source import Source
from data_engineering.src.ingest_staging import fetch
from data_engineering.src.progress import SECONDS_ENV, progress
from data_engineering.src.settings import SettingsError
from data_engineering.src.synthetic import write_bookings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lines(text: str) -> list[str]:
    assert "\r" not in text, "carriage returns in a log"
    return text.splitlines()


def test_quick_work_in_a_log_is_two_lines_with_count_time_and_rate(clock: Clock) -> None:
    out = io.StringIO()
    with progress(total=2_500_000, desc="read", unit="B", unit_scale=True, stream=out, clock=clock) as bar:
        for _ in range(25):
            clock.now += 0.1
            bar.update(100_000)
    assert lines(out.getvalue()) == [
        "read: started, 2.5 MB to do",
        "read: done, 2.5 MB of 2.5 MB (100%) in 2.5 s (1 MB/s)",
    ]


def test_long_work_prints_at_most_one_line_per_interval(clock: Clock, monkeypatch) -> None:
    monkeypatch.delenv(SECONDS_ENV, raising=False)  # the default: 30 s
    out = io.StringIO()
    with progress(total=100, desc="scoring", unit="rows", stream=out, clock=clock) as bar:
        for _ in range(100):
            clock.now += 1
            bar.update()
    text = lines(out.getvalue())
    assert text[0] == "scoring: started, 100 rows to do"
    assert text[1:-1] == [
        "scoring: 30 of 100 rows (30%) after 30.0 s (1.0 rows/s)",
        "scoring: 60 of 100 rows (60%) after 60.0 s (1.0 rows/s)",
        "scoring: 90 of 100 rows (90%) after 90.0 s (1.0 rows/s)",
    ]
    assert text[-1] == "scoring: done, 100 of 100 rows (100%) in 100.0 s (1.0 rows/s)"


def test_the_interval_comes_from_the_environment(clock: Clock, monkeypatch) -> None:
    monkeypatch.setenv(SECONDS_ENV, "10")
    out = io.StringIO()
    with progress(desc="folds", unit="folds", stream=out, clock=clock) as bar:
        for _ in range(5):
            clock.now += 10
            bar.update()
    assert [line.split(" after ")[0] for line in lines(out.getvalue())[1:-1]] == [
        f"folds: {n} folds" for n in range(1, 6)
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "greater than 0"), ("-5", "greater than 0"), ("soon", "a valid number")],
)
def test_a_bad_interval_is_a_clear_error(settings_env, monkeypatch, value: str, reason: str) -> None:
    monkeypatch.setenv(SECONDS_ENV, value)
    with (
        pytest.raises(SettingsError, match=f"{SECONDS_ENV}: Input should be {reason}"),
        progress(stream=io.StringIO()),
    ):
        pass


def test_set_moves_to_an_absolute_position(clock: Clock) -> None:
    out = io.StringIO()
    with progress(total=1000, desc="read", unit="B", stream=out, clock=clock) as bar:
        bar.update(100)
        bar.set(640)
        bar.update(10)
    assert lines(out.getvalue())[-1] == "read: done, 650 of 1,000 B (65%) in 0.0 s"


def test_failed_work_says_where_it_stopped(clock: Clock) -> None:
    out = io.StringIO()

    def folds() -> None:
        with progress(total=5, desc="folds", unit="folds", stream=out, clock=clock) as bar:
            bar.update(2)
            raise RuntimeError("fold 3 failed")

    with pytest.raises(RuntimeError, match="fold 3"):
        folds()
    assert lines(out.getvalue())[-1] == "folds: stopped at 2 of 5 folds (40%) in 0.0 s"


def test_on_a_terminal_it_is_a_tqdm_bar(monkeypatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # the default stream, looked up at each call
    with progress(total=300, desc="read", unit="B") as bar:
        bar.update(100)
        bar.set(300)
    shown = terminal.getvalue()
    assert "\r" in shown
    assert "read: 100%" in shown
    assert "300/300" in shown


def test_ingest_logs_lines_not_a_bar(tmp_path: Path, capsys) -> None:
    csv_file = write_bookings(tmp_path / "bookings.csv", 300, seed=4)
    packed = tmp_path / "bookings.csv.gz"
    packed.write_bytes(gzip.compress(csv_file.read_bytes()))
    fetch(Source(str(packed), None, "test"), tmp_path / "raw.csv")
    text = lines(capsys.readouterr().err)
    assert len(text) == 2
    assert text[0].startswith("ingest: read: started, ")
    # The position is the compressed bytes read, so a whole read ends at the file's own size.
    assert text[1].startswith("ingest: read: done, ")
    assert "(100%)" in text[1]
