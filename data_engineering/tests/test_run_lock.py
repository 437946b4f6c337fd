"""One run at a time per database: the second waits for the first, then runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from data_engineering.src.run_lock import exclusive


def _second_waits_for_the_first(url: str) -> list[str]:
    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with exclusive(url, "score-db", waiting=lambda: events.append("first waited")):
            events.append("first in")
            held.set()
            time.sleep(1.0)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(30)
    with exclusive(url, "score-db", waiting=lambda: events.append("second waits")):
        events.append("second in")
    thread.join()
    return events


def test_sqlite_runs_one_at_a_time(tmp_path: Path) -> None:
    events = _second_waits_for_the_first(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert events == ["first in", "second waits", "first out", "second in"]


@pytest.mark.postgres
def test_postgresql_runs_one_at_a_time(pg_url: str) -> None:
    events = _second_waits_for_the_first(pg_url)
    assert events == ["first in", "second waits", "first out", "second in"]
