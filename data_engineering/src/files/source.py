"""A booking file's bytes: gunzipped when it is gzip, refused when it expands like a bomb."""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from data_engineering.src.paths import display_path
from data_engineering.src.reading_settings import CsvSettings
from data_engineering.src.settings import env_name

# A gzip file is judged once this much came out of it: a small file may compress very well.
BOMB_FLOOR = 32 << 20


class CsvFormatError(ValueError):
    """The file cannot be read as a bookings CSV: beyond a limit, binary data, a broken gzip file."""


def setting(name: str) -> str:
    """The environment variable behind a ``CsvSettings`` field, for messages."""
    return env_name(CsvSettings, name)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)


def shortened(names: list[str], most: int = 10, width: int = 40) -> list[str]:
    """Column names fit for a one-line message (a hostile header may hold thousands)."""
    shown = [name if len(name) <= width else name[:width] + "…" for name in names[:most]]
    return shown + ([f"… and {len(names) - most:,} more"] if len(names) > most else [])


class ByteSource:
    """A file's bytes, decompressed when it is gzip (told by its first bytes, not its name).

    A gzip bomb is refused: once more than ``BOMB_FLOOR`` bytes came out, the output may be at
    most ``HOTEL_CSV_MAX_GZIP_RATIO`` times the compressed bytes read so far.
    """

    def __init__(self, path: Path, *, max_ratio: float | None = None, label: str | None = None) -> None:
        self.path = path
        self.label = label or display_path(path)
        self._raw = path.open("rb")
        self.compressed = self._raw.read(2) == b"\x1f\x8b"
        self._raw.seek(0)
        self._stream: io.BufferedIOBase = gzip.GzipFile(fileobj=self._raw) if self.compressed else self._raw
        self._max_ratio = CsvSettings().max_gzip_ratio if max_ratio is None else max_ratio
        self.produced = 0  # bytes handed out (decompressed)

    @property
    def position(self) -> int:
        """Bytes of the file itself (compressed, if it is) read so far: for progress."""
        return self._raw.tell()

    def read(self, size: int) -> bytes:
        return self._counted(lambda: self._stream.read(size))

    def readline(self, limit: int) -> bytes:
        return self._counted(lambda: self._stream.readline(limit))

    def _counted(self, read: Callable[[], bytes]) -> bytes:
        try:
            data = read()
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise CsvFormatError(f"{self.label}: a truncated or corrupt gzip file ({exc})") from None
        self.produced += len(data)
        if self.compressed and self.produced > BOMB_FLOOR and self.produced > self._max_ratio * self.position:
            raise CsvFormatError(
                f"{self.label}: a gzip file that expands more than {self._max_ratio:g} times "
                f"({self.position:,} bytes gave {self.produced:,} so far), refused as a gzip bomb "
                f"({setting('max_gzip_ratio')})"
            )
        return data

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
