"""A bookings CSV (plain or gzip) read a chunk at a time, so memory does not grow with the file.

The header first: a file with a wrong or missing column is refused before any row is read. Then
what the file is, told from its bytes and said in one line: the separator (the one that splits the
header), a decimal comma (``;`` files), the encoding (UTF-8, a BOM skipped, unless the first text
that is not ASCII is not UTF-8: then Windows-1252, as European spreadsheets save), gzip. Lines are
taken a block at a time (at most ``CHUNK_LINES``), each block parsed by ``records.ChunkParser`` on
a second thread while the caller works on the previous one; every row keeps its line number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from data_engineering.src.files.records import ChunkParser, RawChunk
from data_engineering.src.files.source import ByteSource, CsvFormatError, setting, shortened, stderr
from data_engineering.src.paths import display_path
from data_engineering.src.reading_settings import CsvSettings
from data_engineering.src.schema import ColumnsError, check_columns

CHUNK_BYTES = 8 << 20  # ~60,000 bookings per chunk
# A chunk's lines, at most: its tables stay small however short the lines (a file of blank lines).
CHUNK_LINES = 100_000
NEWLINE = ord("\n")
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# In a header: control characters other than tab and carriage return, DEL, bytes that are no text.
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


class RawReader:
    """Iterate a bookings CSV as ``RawChunk``s; ``header`` and ``columns`` are known at once.

    ``columns_of`` checks the header and returns the columns to validate (default: the dataset's,
    ``schema.check_columns``); ``label`` names the file in messages; ``announce`` receives the
    line saying what the file was found to be (default: stderr).
    """

    def __init__(
        self,
        path: Path,
        *,
        scoring: bool = False,
        chunk_bytes: int = CHUNK_BYTES,
        columns_of: Callable[[list[str]], tuple[str, ...]] | None = None,
        label: str | None = None,
        announce: Callable[[str], None] | None = stderr,
    ) -> None:
        self.path = path
        self.label = label or display_path(path)
        self.size = path.stat().st_size
        self.limits = CsvSettings()
        self._announce = announce
        self._chunk_bytes = chunk_bytes
        self._source = ByteSource(path, max_ratio=self.limits.max_gzip_ratio, label=self.label)
        self._pending = bytearray()  # bytes read, not parsed yet: lines, then the start of one
        self._pending_lines = 0  # the newlines in it
        self._lines_taken = 0  # lines handed to parsing so far, without the header
        self._eof = False
        self.blank_lines = 0  # lines without any value, skipped: so far, and in all at the end
        self.encoding: str | None = None  # "utf-8" or "cp1252" once text that is not ASCII was seen
        try:
            self.separator, self.header = self._read_header()
            if len(self.header) > self.limits.max_columns:
                raise CsvFormatError(
                    f"{self.label}: the header has {len(self.header):,} columns, more than "
                    f"{self.limits.max_columns:,} ({setting('max_columns')}): is it a bookings CSV?"
                )
            try:
                self.columns = (columns_of or (lambda h: check_columns(h, scoring=scoring)))(self.header)
            except ColumnsError as exc:
                raise ColumnsError(exc.missing, shortened(exc.unexpected)) from None
            self._first: bytes | None = self._take_lines()
            if self._first is not None:
                self._first = self._as_utf8(self._first, 0, announce=False)
        except BaseException:
            self.close()
            raise
        self._parser = ChunkParser(self.header, self.separator, label=self.label, limits=self.limits)
        self.decimal_comma = self._parser.decimal_comma
        if announce is not None:
            announce(f"reading {self.label}: {self.description}")

    @property
    def description(self) -> str:
        """What the file was found to be, e.g. "semicolon-separated, decimal comma, Windows-1252"."""
        parts = [f"{SEPARATORS[self.separator]}-separated"]
        parts += ["decimal comma"] * self.decimal_comma
        parts.append("Windows-1252" if self.encoding == "cp1252" else "UTF-8")
        parts += ["gzip"] * self._source.compressed
        return ", ".join(parts)

    @property
    def position(self) -> int:
        """Bytes of the file (compressed, if it is) read so far: for progress."""
        return self._source.position

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> RawReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[RawChunk]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-reader") as pool:
            future = pool.submit(self._next_chunk)
            while (chunk := future.result()) is not None:
                future = pool.submit(self._next_chunk)  # parsed while the caller works on this one
                yield chunk

    # ------------------------------------------------------------------------------- header
    def _read_header(self) -> tuple[str, list[str]]:
        limit = self.limits.max_line_bytes
        first = self._source.readline(limit + 1)
        if not first.strip():
            raise CsvFormatError(f"{self.label} is empty")
        if first.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise CsvFormatError(f"{self.label}: UTF-16 text; save it as a CSV in UTF-8 or Windows-1252")
        try:
            text = first.decode("utf-8-sig")
            if not first.isascii():
                self.encoding = "utf-8"
        except UnicodeDecodeError:  # a column of the hotel's own named in Windows-1252 ("Réf")
            text = first.decode("cp1252", errors="replace")
            self.encoding = "cp1252"
        text = text.rstrip("\r\n")
        if odd := _BINARY.search(text):
            raise CsvFormatError(
                f"{self.label}: line 1 holds binary data ({odd.group()!r} at position {odd.start() + 1}), "
                "not a CSV header"
            )
        if "\r" in text:
            raise CsvFormatError(
                f"{self.label}: its lines end with a carriage return alone (an old Mac format); "
                "save it with LF or CR LF line ends"
            )
        if len(first) > limit and not first.endswith(b"\n"):
            raise self._too_long(1)
        separator = max(SEPARATORS, key=text.count) if any(s in text for s in SEPARATORS) else ","
        try:
            names = next(csv.reader([text], delimiter=separator), [])
        except csv.Error as exc:
            raise CsvFormatError(f"{self.label}: line 1 is not a CSV header ({exc})") from None
        return separator, [name.strip() for name in names]

    def _too_long(self, line: int) -> CsvFormatError:
        return CsvFormatError(
            f"{self.label}: line {line:,} is longer than {self.limits.max_line_bytes:,} bytes "
            f"({setting('max_line_bytes')}): is it a bookings CSV?"
        )

    # ------------------------------------------------------------------------------- lines
    def _take_lines(self) -> bytes | None:
        """The next whole lines: a block's worth, at most ``CHUNK_LINES``; None at the end.

        Holds at most a block and one line more: a line longer than the limit is refused as soon
        as it is, and the start of a line grows one buffer, never re-copied per block."""
        limit = self.limits.max_line_bytes
        while True:
            if not self._eof and self._pending_lines < CHUNK_LINES:
                block = self._source.read(self._chunk_bytes)
                if not block:
                    self._eof = True
                else:
                    self._pending += block
                    self._pending_lines += block.count(b"\n")
                    if b"\n" not in block:
                        if len(self._pending) - (self._pending.rfind(b"\n") + 1) > limit:
                            raise self._too_long(self._lines_taken + 2 + self._pending_lines)
                        continue
            cut = self._cut()
            if not cut:
                if self._eof:
                    return None
                continue
            data = bytes(self._pending[:cut])
            del self._pending[:cut]  # from the front of a bytearray: no copy of the rest
            self._pending_lines -= data.count(b"\n")
            if len(data) > limit:
                self._check_line_lengths(data)
            self._lines_taken += data.count(b"\n") + (not data.endswith(b"\n"))
            return data

    def _cut(self) -> int:
        """Where the lines to take now end in the buffer: after its last newline (its end, at the
        end of the file), or after the ``CHUNK_LINES``-th newline; 0 when no line is whole yet."""
        pending = self._pending
        if self._pending_lines <= CHUNK_LINES:
            return len(pending) if self._eof else pending.rfind(b"\n") + 1
        # The shortest prefix holding CHUNK_LINES newlines: bracketed by doubling from the
        # shortest it can be, then bisected counting only the part between the bounds, so the
        # search reads a few times what it returns.
        high = CHUNK_LINES
        while pending.count(b"\n", 0, high) < CHUNK_LINES:
            high *= 2
        low = high // 2
        below = pending.count(b"\n", 0, low)  # newlines before ``low``: fewer than CHUNK_LINES
        high = min(high, len(pending))
        while low < high:
            middle = (low + high) // 2
            newlines = below + pending.count(b"\n", low, middle)
            if newlines < CHUNK_LINES:
                low, below = middle + 1, newlines + (pending[middle] == NEWLINE)
            else:
                high = middle
        return low

    def _check_line_lengths(self, data: bytes) -> None:
        """Refuse a line longer than the limit, without a per-line array: a line longer than
        ``limit`` covers a whole aligned stretch of ``limit // 2`` bytes without a newline, so
        only such stretches (none, in a bookings file) are looked at closely."""
        limit = self.limits.max_line_bytes
        step = max(limit // 2, 1)
        for start in range(0, len(data), step):
            if data.find(b"\n", start, start + step) >= 0:
                continue
            begin = data.rfind(b"\n", 0, start) + 1
            end = data.find(b"\n", start)
            if (len(data) if end < 0 else end) - begin > limit:
                raise self._too_long(self._lines_taken + 2 + data.count(b"\n", 0, begin))

    def _as_utf8(self, data: bytes, first_line: int, *, announce: bool = True) -> bytes:
        """``data`` as UTF-8: decided at the first text that is not ASCII (see the module's doc)."""
        if data.isascii():
            return data
        if self.encoding == "cp1252":
            return data.decode("cp1252", errors="replace").encode()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            if self.encoding is None and not _UTF8_MULTIBYTE.search(data):
                self.encoding = "cp1252"
                if announce and self._announce is not None:
                    at = _NON_ASCII.search(data)
                    line = first_line + 2 + data.count(b"\n", 0, at.start() if at else 0)
                    self._announce(
                        f"reading {self.label}: text from line {line:,} on is not UTF-8: read as Windows-1252"
                    )
                return data.decode("cp1252", errors="replace").encode()
            self.encoding = "utf-8"
            return data.decode("utf-8", errors="replace").encode()  # bad bytes become U+FFFD
        self.encoding = "utf-8"
        return data

    def _next_chunk(self) -> RawChunk | None:
        while True:
            if self._first is not None:
                data, self._first = self._first, None
                base = 0
            else:
                before = self._lines_taken
                taken = self._take_lines()
                if taken is None:
                    return None
                base, data = before, self._as_utf8(taken, before)
            if data.strip():
                chunk = self._parser.parse(data, base)
                self.blank_lines += chunk.blank
                return chunk
            self.blank_lines += data.count(b"\n") + (not data.endswith(b"\n"))
