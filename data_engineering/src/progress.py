"""Progress of long work, readable on a terminal and in logs alike.

    from data_engineering.src.progress import progress

    with progress(total=size, desc="read", unit="B", unit_scale=True) as bar:
        bar.update(len(chunk))   # add to the position
        bar.set(stream.tell())   # or set it (e.g. the byte position in a compressed stream)

On a terminal (stderr is a TTY) this is a tqdm bar. Anywhere else (CI, Airflow, `2>&1 | tee`,
pytest) a bar would write one carriage-return line per refresh, so it prints plain lines instead:
one when the work starts, at most one every ``HOTEL_PROGRESS_SECONDS`` seconds (default 30) while
it runs, and one at the end with the count, the elapsed seconds and the rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from tqdm import tqdm

from data_engineering.src.reading_settings import ProgressSettings
from data_engineering.src.settings import env_name

SECONDS_ENV = env_name(ProgressSettings, "seconds")


def log_interval() -> float:
    """Seconds between two progress lines outside a terminal (``HOTEL_PROGRESS_SECONDS``; a bad
    value raises SettingsError naming it)."""
    return ProgressSettings().seconds


class Bar(Protocol):
    def update(self, n: int = 1) -> None: ...

    def set(self, n: int) -> None: ...


class _TerminalBar:
    def __init__(self, bar: tqdm[Any]) -> None:
        self._bar = bar

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set(self, n: int) -> None:
        self._bar.update(n - self._bar.n)  # through update, so that tqdm's refresh limit holds


_PREFIXES = ("", "k", "M", "G", "T", "P")


def _scaled(value: float, divisor: int) -> tuple[str, str]:
    """``value`` as at most three significant digits and an SI prefix: ("952", "k"), ("1.23", "M")."""
    index = 0
    while abs(value) >= 999.5 and index < len(_PREFIXES) - 1:
        value /= divisor
        index += 1
    return f"{value:.3g}", _PREFIXES[index]


@dataclass
class _LogBar:
    """Plain lines: at the start, at most one every ``interval`` seconds, at the end."""

    total: int | None
    desc: str
    unit: str
    unit_scale: bool
    unit_divisor: int
    interval: float
    stream: TextIO
    clock: Callable[[], float]
    n: int = 0

    def __post_init__(self) -> None:
        self.started = self.last_line = self.clock()

    def update(self, n: int = 1) -> None:
        self.set(self.n + n)

    def set(self, n: int) -> None:
        self.n = n
        now = self.clock()
        if now - self.last_line >= self.interval:
            self.last_line = now
            self._line(f"{self._position()} after {self._timing(now)}")

    def start(self) -> None:
        self._line("started" if self.total is None else f"started, {self._amount(self.total)} to do")

    def finish(self, failed: bool) -> None:
        self._line(
            f"{'stopped at' if failed else 'done,'} {self._position()} in {self._timing(self.clock())}"
        )

    def _position(self) -> str:
        if self.total is None:
            return self._amount(self.n)
        done = self._amount(self.n) if self.unit_scale else f"{self.n:,}"
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        return f"{done} of {self._amount(self.total)}{share}"

    def _timing(self, now: float) -> str:
        elapsed = now - self.started
        # Below a tenth of a second a rate says nothing but how fast the clock ticks.
        rate = f" ({self._amount(self.n / elapsed, per_second=True)})" if elapsed >= 0.1 else ""
        return f"{elapsed:.1f} s{rate}"

    def _amount(self, value: float, *, per_second: bool = False) -> str:
        unit = f"{self.unit}/s" if per_second else self.unit
        if not self.unit_scale:
            decimals = 1 if per_second and value < 100 else 0  # 2.5 folds/s, 262,408 rows/s
            return f"{value:,.{decimals}f} {unit}"
        number, prefix = _scaled(value, self.unit_divisor)
        # A prefix joins a unit symbol (kB, MB/s); before a word it joins the number (1.2M rows).
        return f"{number} {prefix}{unit}" if len(self.unit) <= 2 else f"{number}{prefix} {unit}"

    def _line(self, text: str) -> None:
        print(f"{self.desc}: {text}" if self.desc else text, file=self.stream, flush=True)


@contextmanager
def progress(
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    unit_scale: bool = False,
    *,
    unit_divisor: int = 1000,
    stream: TextIO | None = None,
    interval: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Bar]:
    """A progress bar on a terminal, plain lines elsewhere (see the module's docstring).

    ``stream`` defaults to the current ``sys.stderr``; ``interval`` (seconds between lines outside
    a terminal) to ``HOTEL_PROGRESS_SECONDS`` or 30; ``clock`` is for tests."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        with tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=unit_scale,
            unit_divisor=unit_divisor,
            mininterval=0.5,
            file=out,
        ) as bar:
            yield _TerminalBar(bar)
        return
    log_bar = _LogBar(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        unit_divisor=unit_divisor,
        interval=interval if interval is not None else log_interval(),
        stream=out,
        clock=clock,
    )
    log_bar.start()
    try:
        yield log_bar
    except BaseException:
        log_bar.finish(failed=True)
        raise
    log_bar.finish(failed=False)
