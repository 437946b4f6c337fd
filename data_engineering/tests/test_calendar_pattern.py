"""The published date pattern admits exactly the days ``datetime.date.fromisoformat`` reads."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from data_engineering.src.calendar_pattern import ISO_DATE

# Years around every kind of leap rule (4, 100, 400), the calendar's ends, and year 0.
YEARS = [
    *range(30),
    *range(95, 106),
    *range(395, 406),
    *range(1895, 1906),
    *range(1995, 2106),
    *range(2395, 2406),
    *range(9990, 10000),
]


def test_every_written_day_is_accepted_exactly_when_it_exists() -> None:
    pattern = re.compile(ISO_DATE)
    wrong = []
    for year, month, day in itertools.product(YEARS, range(14), range(33)):
        text = f"{year:04d}-{month:02d}-{day:02d}"
        try:
            dt.date.fromisoformat(text)
            exists = True
        except ValueError:
            exists = False
        if exists != bool(pattern.fullmatch(text)):
            wrong.append(text)
    assert wrong == []


def test_only_the_plain_form() -> None:
    pattern = re.compile(ISO_DATE)
    for text in ("20170301", "2017-3-1", "2017-03-01T00:00", "2017-W09-3", "+2017-03-01", "17-03-01"):
        assert not pattern.fullmatch(text), text
