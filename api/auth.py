"""The API keys of ``/predict``: ``API_KEYS`` and the lines of ``API_KEYS_FILE``, header ``X-API-Key``.

The file is re-read when it changes (checked at most once a second, per process), so an operator
rotates keys by editing it: add the new key, move the clients, remove the old one; no restart.
A file that disappears keeps the keys last read (a rename in progress must not lock everyone
out); one that exists and holds no key admits nobody but ``API_KEYS``'s holders.

Keys are compared as SHA-256 digests with ``hmac.compare_digest``, every key every time, so the
time an answer takes says nothing about how much of a guess was right, nor which key matched.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from data_engineering.src.settings import PLACEHOLDER_SECRETS, SettingsError

HEADER = "X-API-Key"
MIN_KEY_LENGTH = 16  # outside development: a short key is guessed
RECHECK_SECONDS = 1.0

log = logging.getLogger("api.auth")


def parse_keys(text: str) -> list[str]:
    """Keys of a comma-separated setting or of a file (one per line, ``#`` comments): no blanks."""
    keys = []
    for line in text.replace(",", "\n").splitlines():
        key = line.split("#", 1)[0].strip()
        if key:
            keys.append(key)
    return keys


def check_strength(keys: Iterable[str], name: str) -> None:
    """Raise SettingsError naming ``name`` for a placeholder or a key too short to be secret."""
    for key in parse_keys(",".join(keys)):
        if key.lower() in PLACEHOLDER_SECRETS:
            raise SettingsError(f"{name} holds a placeholder key (such as change-me): set real keys")
        if len(key) < MIN_KEY_LENGTH:
            raise SettingsError(f"{name}: every key needs at least {MIN_KEY_LENGTH} characters")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """The keys a process accepts now. ``enforced`` is False when none is configured (open API)."""

    def __init__(self, keys: str | None, keys_file: Path | None, *, check_file_keys: bool = False) -> None:
        self._static = [_digest(k) for k in parse_keys(keys or "")]
        self._file = keys_file
        self._check_file_keys = check_file_keys  # the strength rules of API_KEYS, outside development
        self._from_file: list[bytes] = []
        self._seen: tuple[int, ...] | None = None  # (): the file was missing last time
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.enforced = keys is not None or keys_file is not None
        if keys_file is not None:
            self._reload(force=True)

    def _reload(self, *, force: bool = False) -> None:
        """Read the file again if it changed. At start (``force``) a problem is a SettingsError;
        later it is logged once and the keys read before stay."""
        assert self._file is not None
        name = f"API_KEYS_FILE={self._file}"
        try:
            stat = self._file.stat()
        except OSError as exc:
            if force:
                raise SettingsError(f"{name}: {exc.strerror}") from None
            if self._seen != ():
                log.warning("%s: %s; keeping the keys read before", name, exc.strerror)
                self._seen = ()  # said once, until it is back
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._seen:
            return
        self._seen = signature  # a refused version is not read again until it changes
        try:
            keys = parse_keys(self._file.read_text())
            if self._check_file_keys:
                check_strength(keys, name)
        except (OSError, UnicodeDecodeError, SettingsError) as exc:
            problem = exc if isinstance(exc, SettingsError) else SettingsError(f"{name}: {exc}")
            if force:
                raise problem from None
            log.warning("%s; keeping the keys read before", problem)
            return
        if not force:
            log.info("%s changed: %d key(s) now accepted from it", name, len(keys))
        self._from_file = [_digest(k) for k in keys]

    def _current(self) -> list[bytes]:
        if self._file is not None:
            now = time.monotonic()
            if now - self._checked_at >= RECHECK_SECONDS:
                with self._lock:
                    if now - self._checked_at >= RECHECK_SECONDS:
                        self._checked_at = now
                        self._reload()
        return self._static + self._from_file

    def allows(self, presented: str | None) -> bool:
        """Is ``presented`` one of the current keys? Always True when no key is configured."""
        if not self.enforced:
            return True
        if not presented:
            return False
        digest = _digest(presented)
        matched = False
        for key in self._current():  # no early exit: every key is compared every time
            matched |= hmac.compare_digest(digest, key)
        return matched
