"""A daemon thread that does one thing every few seconds, off the request path, until stopped."""

from __future__ import annotations

import threading


class Periodic:
    """``tick`` every ``every_seconds`` on a daemon thread of its own (0 or less: never started).

    ``tick`` must not raise: a subclass decides how its failures are reported, and the thread
    must outlive them, or the work would stop for the rest of the process's life.
    """

    def __init__(self, every_seconds: float, *, name: str) -> None:
        self.every_seconds = every_seconds
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError
