"""Reading and writing booking files: raw text in (streamed, bounded), CSV out, always atomically.

``RawReader`` reads a CSV (plain or gzip) a chunk at a time, so memory does not grow with the
file, and every step takes time linear in its size:

- the header first: a file with a wrong or missing column is refused before any row is read;
- what the file is, told from its bytes and said in one line: the separator (``,``, ``;`` or tab,
  the one that splits the header), a decimal comma in the numeric columns of a ``;`` file
  (``120,5`` is read as ``120.5``), the encoding (UTF-8, a BOM skipped, unless the first text
  that is not ASCII is not UTF-8: then Windows-1252, as European spreadsheets save), gzip;
- the limits of ``CsvSettings`` (columns, line and field length, how much a gzip file may expand):
  a file beyond one is refused with a one-line ``CsvFormatError`` naming it and the line;
- each chunk is parsed by pyarrow with every field as text, the next chunk on a second thread
  while the caller works on the current one. Every row keeps its line number (the header is line
  1). A line with too few or too many fields, or that is no CSV record of its own (an unbalanced
  quote, a carriage return inside it), is kept aside with its reason instead of being dropped or
  taking other lines with it; bytes that are not UTF-8 become U+FFFD; a line without any value
  (blank, or only separators) is not a booking and is counted, not returned.

Writing: every CSV the platform writes goes through ``CsvSink`` or ``write_csv``, which
neutralise text a spreadsheet would run as a formula (``neutralise_formulas``), and through
``AtomicFile``: a temporary file beside the output, locked while its writer lives, renamed into
place when complete. Temporary files an interrupted writer left are removed by the next writer of
the same output.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import gzip
import io
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data_engineering.src.messages import first_line
from data_engineering.src.paths import display_path, processed_file
from data_engineering.src.schema import COLUMNS_BY_NAME, ColumnsError, check_columns
from data_engineering.src.settings import CsvSettings, env_name
from data_engineering.src.validate import NUMBER_PATTERN

CHUNK_BYTES = 8 << 20  # ~60,000 bookings per chunk
# A chunk's lines, at most: its tables stay small however short the lines (a file of blank lines).
CHUNK_LINES = 100_000
NEWLINE = ord("\n")
# Lines of a chunk that are no record (a wrong number of fields...) beyond which, when they are
# most of it, the file is refused as no bookings CSV rather than rejected line by line.
NOT_RECORDS = 10_000
PANDAS_TYPES = {"int": "Int64", "float": "float64", "text": "str", "date": "str"}
TEXT = pa.dictionary(pa.int32(), pa.string())  # fields as text, each distinct value stored once
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
NUMERIC_KINDS = frozenset({"int", "float", "id"})
# A gzip file is judged once this much came out of it: a small file may compress very well.
BOMB_FLOOR = 32 << 20
# "120,5" -> "120.5" (digits on both sides of the comma; spaces around are the validator's business).
_DECIMAL_COMMA = r"^([ \t]*[+-]?[0-9]*),([0-9]+[ \t]*)$"
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# In a header: control characters other than tab and carriage return, DEL, bytes that are no text.
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
# What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection"), and the quote that
# neutralises it: a cell already starting with a quote gets one more, so that reading a file back
# removes exactly one (``restore_formulas``).
_FORMULA_START = r"^[=+\-@\t\r']"
_STARTED = time.time()  # temporary files last written before this process started may be stale


class CsvFormatError(ValueError):
    """The file cannot be read as a bookings CSV: beyond a limit, binary data, a broken gzip file."""


class _MostlyNotRecordsError(Exception):
    """Most lines of a chunk are no record (see ``RawReader._read_csv``)."""

    def __init__(self, record: int, fields: int) -> None:
        super().__init__(record, fields)
        self.record = record  # the first such line, as pyarrow numbers records (from 1)
        self.fields = fields


def _setting(name: str) -> str:
    return env_name(CsvSettings, name)


# ----------------------------------------------------------------------------------- raw bytes
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
                f"({_setting('max_gzip_ratio')})"
            )
        return data

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Misaligned:
    """A line that is not one record of the header's width."""

    line: int
    fields: dict[str, str]  # header name -> text, padded with "" or cut to the header's width
    count: int  # the fields the line really had
    problem: str | None = None  # why it is no record at all (an unbalanced quote...), if so

    @property
    def reason(self) -> str:
        """Why the line is rejected, as a rejected file shows it."""
        return self.problem or f"line has {self.count} fields, expected {len(self.fields)}"

    @property
    def key(self) -> str:
        """The reason without the line's own figures, for counting."""
        return self.problem or "line has the wrong number of fields"


@dataclass
class RawChunk:
    table: pa.Table  # the well-formed rows, every column as text
    lines: np.ndarray  # their line numbers
    misaligned: list[Misaligned] = field(default_factory=list)
    blank: int = 0  # lines without any value


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _shortened(names: list[str], most: int = 10, width: int = 40) -> list[str]:
    """Column names fit for a one-line message (a hostile header may hold thousands)."""
    shown = [name if len(name) <= width else name[:width] + "…" for name in names[:most]]
    return shown + ([f"… and {len(names) - most:,} more"] if len(names) > most else [])


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
        announce: Callable[[str], None] | None = _stderr,
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
                    f"{self.limits.max_columns:,} ({_setting('max_columns')}): is it a bookings CSV?"
                )
            try:
                self.columns = (columns_of or (lambda h: check_columns(h, scoring=scoring)))(self.header)
            except ColumnsError as exc:
                raise ColumnsError(exc.missing, _shortened(exc.unexpected)) from None
            self._first: bytes | None = self._take_lines()
            if self._first is not None:
                self._first = self._as_utf8(self._first, 0, announce=False)
        except BaseException:
            self.close()
            raise
        self.decimal_comma = self.separator == ";"
        self._numeric = [
            name
            for name in self.header
            if name in COLUMNS_BY_NAME and COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS
        ]
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
            f"({_setting('max_line_bytes')}): is it a bookings CSV?"
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
                return self._parse(data, base)
            self.blank_lines += data.count(b"\n") + (not data.endswith(b"\n"))

    # ------------------------------------------------------------------------------- parsing
    def _read_csv(self, data: bytes) -> tuple[pa.Table, list[tuple[int, str, int]]]:
        """The records of ``data`` and the lines set aside (record number, text, fields).

        Raises ``_MostlyNotRecordsError`` when more than ``NOT_RECORDS`` lines, and most of those read,
        are no record: such a file is not bookings, and collecting its lines would take memory
        for nothing."""
        invalid: list[tuple[int, str, int]] = []

        def keep_aside(row: pacsv.InvalidRow) -> str:
            invalid.append((row.number, row.text, row.actual_columns))
            return "error" if len(invalid) > NOT_RECORDS and 2 * len(invalid) > row.number else "skip"

        if not data:
            return pa.table({name: pa.array([], TEXT) for name in self.header}), invalid
        try:
            table = self._arrow_csv(data, keep_aside)
        except pa.ArrowInvalid:
            if len(invalid) > NOT_RECORDS:
                raise _MostlyNotRecordsError(invalid[0][0], invalid[0][2]) from None
            raise
        return table, invalid

    def _arrow_csv(self, data: bytes, keep_aside: Callable[[pacsv.InvalidRow], str]) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            # One block, one thread: pyarrow then numbers the rows it sets aside.
            read_options=pacsv.ReadOptions(
                column_names=self.header, block_size=len(data) + 1, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.separator, invalid_row_handler=keep_aside, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.header, TEXT),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _fields(self, text: str) -> list[str]:
        try:
            return next(csv.reader([text], delimiter=self.separator), [])
        except csv.Error:  # a NUL byte, a field beyond csv's own limit: split as it stands
            return text.split(self.separator)

    def _misaligned(self, line: int, text: str, problem: str | None = None) -> Misaligned:
        width = len(self.header)
        values = self._fields(text)
        return Misaligned(
            line,
            dict(zip(self.header, (values + [""] * width)[:width], strict=True)),
            len(values),
            problem,
        )

    def _parse(self, data: bytes, base: int) -> RawChunk:
        """Parse whole lines; ``base`` lines came before them (the header not counted)."""
        n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
        records = np.arange(n_lines)  # record r of pyarrow's -> the line (in ``data``) it is
        set_aside: list[Misaligned] = []
        try:
            try:
                table, invalid = self._read_csv(data)
                whole = table.num_rows + len(invalid) == n_lines
            except pa.ArrowInvalid:
                whole = False
            if not whole:
                # A quote that opens a field and is never closed on its line, or a carriage return
                # inside a line, makes pyarrow join or split lines: each such line is set aside.
                table, invalid, records, set_aside = self._without_broken_lines(data, base)
        except _MostlyNotRecordsError as most:
            line = base + 2 + int(records[most.record - 1]) if most.record <= len(records) else base + 2
            raise CsvFormatError(
                f"{self.label}: more than {NOT_RECORDS:,} lines from line {line:,} on are no records of "
                f"the header's {len(self.header)} fields (line {line:,} has {most.fields}): is it a "
                "bookings CSV, separated like its header?"
            ) from None
        numbers = records + base + 2  # the header is line 1
        rejected = np.array([number - 1 for number, _, _ in invalid], dtype=np.int64)
        misaligned = [
            self._misaligned(int(numbers[number - 1]), text) for number, text, _ in invalid
        ] + set_aside
        misaligned.sort(key=lambda m: m.line)
        lines = np.delete(numbers, rejected)
        table = self._checked(table, lines, misaligned)
        empty = None
        for name in table.column_names:
            is_empty = pc.equal(table[name], "")
            empty = is_empty if empty is None else pc.and_(empty, is_empty)
        blank_mask = pc.fill_null(empty, False).to_numpy(zero_copy_only=False) if empty is not None else None
        blank = int(blank_mask.sum()) if blank_mask is not None else 0
        if blank:
            assert blank_mask is not None  # blank > 0 only when there were columns to look at
            keep = ~blank_mask
            table = table.filter(pa.array(keep))
            lines = lines[keep]
        self.blank_lines += blank
        return RawChunk(table, lines, misaligned, blank)

    def _without_broken_lines(
        self, data: bytes, base: int
    ) -> tuple[pa.Table, list[tuple[int, str, int]], np.ndarray, list[Misaligned]]:
        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(raw == 10)
        starts = np.concatenate([[0], ends + 1])[: data.count(b"\n") + (not data.endswith(b"\n"))]
        stops = np.concatenate([ends, [len(data)]])[: len(starts)]
        quotes = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 34)), minlength=len(starts))
        carriage = np.flatnonzero(raw == 13)
        lone = carriage[(carriage + 1 >= len(raw)) | (raw[np.minimum(carriage + 1, len(raw) - 1)] != 10)]
        stray = np.bincount(np.searchsorted(ends, lone), minlength=len(starts)) > 0
        broken = (quotes[: len(starts)] % 2 == 1) | stray[: len(starts)]
        kept = np.flatnonzero(~broken)
        set_aside = [
            self._misaligned(
                base + 2 + int(i),
                data[starts[i] : stops[i]].decode().rstrip("\r"),
                "a carriage return inside the line" if stray[i] else 'an unbalanced quote (")',
            )
            for i in np.flatnonzero(broken)
        ]
        good = b"".join(data[starts[i] : stops[i]] + b"\n" for i in kept)
        try:
            table, invalid = self._read_csv(good)
        except _MostlyNotRecordsError as most:  # numbered among the kept lines: renumber it
            raise _MostlyNotRecordsError(int(kept[most.record - 1]) + 1, most.fields) from None
        except pa.ArrowInvalid as exc:
            raise CsvFormatError(
                f"{self.label}: lines {base + 2:,}–{base + 1 + len(starts):,}: {exc}"
            ) from None
        if table.num_rows + len(invalid) != len(kept):
            raise CsvFormatError(
                f"{self.label}: lines {base + 2:,}–{base + 1 + len(starts):,} cannot be told apart "
                "as records (quotes spanning lines?)"
            )
        return table, invalid, kept, set_aside

    def _checked(self, table: pa.Table, lines: np.ndarray, misaligned: list[Misaligned]) -> pa.Table:
        """Refuse a field beyond the limit; read decimal commas in numeric columns."""
        limit = self.limits.max_field_bytes
        for name in table.column_names:
            values = table[name].combine_chunks()
            sizes = pc.binary_length(values.dictionary)
            if len(sizes) and pc.max(sizes).as_py() > limit:
                codes = pa.array(
                    np.flatnonzero(pc.greater(sizes, limit).to_numpy(zero_copy_only=False)),
                    values.indices.type,
                )
                row = int(pc.index(pc.is_in(values.indices, codes), True).as_py())
                self._field_too_long(int(lines[row]), name)
        for m in misaligned:
            for name, text in m.fields.items():
                if len(text) > limit // 4 and len(text.encode()) > limit:
                    self._field_too_long(m.line, name)
        if self.decimal_comma:
            for name in self._numeric:
                values = table[name].combine_chunks()
                read = pc.replace_substring_regex(values.dictionary, _DECIMAL_COMMA, r"\1.\2")
                if not read.equals(values.dictionary):
                    decoded = pa.DictionaryArray.from_arrays(values.indices, read).dictionary_decode()
                    table = table.set_column(
                        table.column_names.index(name), name, pc.dictionary_encode(decoded)
                    )
        return table

    def _field_too_long(self, line: int, name: str) -> None:
        raise CsvFormatError(
            f"{self.label}: line {line:,}, column {_shortened([name])[0]}: a field longer than "
            f"{self.limits.max_field_bytes:,} bytes ({_setting('max_field_bytes')})"
        )


def as_text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column of a ``RawChunk`` as plain text (for writing it back out)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values


# ----------------------------------------------------------------------------------- writing
def _neutralised(text: pa.Array) -> pa.Array:
    risky = pc.and_(
        pc.match_substring_regex(text, _FORMULA_START),
        pc.invert(pc.match_substring_regex(text, NUMBER_PATTERN)),  # -2 is a number, not a formula
    )
    risky = pc.fill_null(risky, False)
    if not pc.any(risky).as_py():
        return text
    quoted = pc.binary_join_element_wise(pa.scalar("'", text.type), text, pa.scalar("", text.type))
    return pc.if_else(risky, quoted, text)


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Text cells a spreadsheet would run as a formula, made inert as OWASP advises.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'`` (shown by no spreadsheet, which then takes the cell as text), unless it is a plain
    number such as ``-2`` or ``+1.5``; a cell that already starts with ``'`` gets one more, so
    ``restore_formulas`` gives back exactly what was written. Numeric and date columns are data
    and are left alone.
    """
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        values = column.combine_chunks()
        if pa.types.is_dictionary(values.type):
            safe = pa.DictionaryArray.from_arrays(values.indices, _neutralised(values.dictionary))
        else:
            safe = _neutralised(values)
        table = table.set_column(i, name, safe)
    return table


def restore_formulas(values: pd.Series) -> pd.Series:
    """A text column read back from a file ``neutralise_formulas`` wrote, as it was."""
    if not values.str.startswith("'").any():
        return values
    return values.str.removeprefix("'")


def frame_to_csv_bytes(frame: pd.DataFrame, *, header: bool) -> bytes:
    """CSV bytes (nulls as empty fields) via Arrow's writer: ~10x faster than ``DataFrame.to_csv``."""
    table = neutralise_formulas(pa.Table.from_pandas(frame, preserve_index=False))
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, quoting_style="needed"))
    return sink.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    with AtomicFile(path) as out:
        out.write(data)


def remove_stale_temporaries(path: Path) -> int:
    """Remove the temporary files that interrupted writers of ``path`` left beside it; say so.

    A writer holds an exclusive lock on its temporary file as long as it lives, and the kernel
    drops the lock when the process ends, even by kill -9. So a file nobody holds, last written
    before this process started, is stale; a live writer's file (in this process or another run
    at the same time) is never touched. Returns how many were removed.
    """
    removed = size = 0
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile: another run cleaned it
        try:
            status = os.fstat(fd)
            if status.st_mtime >= _STARTED:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's
            candidate.unlink(missing_ok=True)
            removed += 1
            size += status.st_size
        finally:
            os.close(fd)
    if removed:
        print(
            f"note: removed {removed} stale temporary file(s) ({size:,} bytes) beside "
            f"{display_path(path)}, left by an interrupted run",
            file=sys.stderr,
        )
    return removed


class AtomicFile:
    """A file written under a temporary name beside ``path``, renamed on success, deleted on failure.

    The temporary file is locked while its writer lives (see ``remove_stale_temporaries``, which
    runs first: the stale files of an interrupted run go as the next run starts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None

    @property
    def temporary(self) -> Path:
        """Where the content is while it is written (for reading it back before ``commit``)."""
        assert self._tmp is not None, "the file is not open"
        return self._tmp

    def __enter__(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        while True:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:
                break
            os.close(fd)  # a cleaner removed it between its creation and the lock: take another
        self._tmp = Path(tmp)
        self._file = out = os.fdopen(fd, "wb")
        return out

    def commit(self) -> None:
        assert self._file is not None, "the file is not open"
        assert self._tmp is not None
        self._file.flush()
        self._tmp.replace(self.path)  # renamed while still locked: no cleaner can take it first
        self._file.close()
        self._file = self._tmp = None

    def discard(self) -> None:
        """Delete the temporary file (nothing, when it was committed or never opened)."""
        if self._file is not None and self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._file.close()
        self._file = self._tmp = None

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class _TableWriter(Protocol):
    def write_table(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _TableSink:
    """Tables appended to one file, written atomically (``commit`` renames it into place)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file = AtomicFile(path)
        self._writer = self._open(self._file.__enter__(), schema)
        self.rows = 0

    def _open(self, out: BinaryIO, schema: pa.Schema) -> _TableWriter:
        raise NotImplementedError

    def _prepared(self, table: pa.Table) -> pa.Table:
        return table

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(self._prepared(table))
        self.rows += table.num_rows

    def commit(self) -> None:
        self._writer.close()
        self._file.commit()

    def abort(self) -> None:
        self._writer.close()
        self._file.discard()


class CsvSink(_TableSink):
    """Tables appended to one CSV file, formula-safe (``neutralise_formulas``), written atomically."""

    def _open(self, out: BinaryIO, schema: pa.Schema) -> _TableWriter:
        writer: _TableWriter = pacsv.CSVWriter(
            out, schema, write_options=pacsv.WriteOptions(quoting_style="needed")
        )
        return writer

    def _prepared(self, table: pa.Table) -> pa.Table:
        return neutralise_formulas(table)


def csv_rows(path: Path) -> int:
    """Rows of a CSV file the platform wrote (one line each, after the header), counted in one pass."""
    lines = 0
    with path.open("rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, frame_to_csv_bytes(frame, header=True))


def read_processed(version: str, path: Path | None = None) -> pd.DataFrame:
    """Read ``bookings_<version>.csv`` back with the column types its version declares."""
    from data_engineering.transformation import get_transformation

    path = path or processed_file(version)
    columns = get_transformation(version).columns
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {name: PANDAS_TYPES[columns[name]] for name in header if name in columns}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    for name in header:
        if columns.get(name) == "date":
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d")
        elif columns.get(name) == "int" and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
        elif columns.get(name) == "text":
            frame[name] = restore_formulas(frame[name])
    return frame


# ----------------------------------------------------------------------------------- Parquet
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_BATCH_ROWS = 65_536


def is_parquet(path: Path) -> bool:
    """Whether bookings at ``path`` are read and written as Parquet (told by the extension)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


class ParquetReader:
    """A bookings Parquet file as ``RawChunk``s, like ``RawReader`` a CSV: the header checked
    first, a row group's batch at a time, every field as text (numbers and dates written as a CSV
    would hold them, a null as missing). A row's "line" is its number in the file, from 1."""

    def __init__(
        self, path: Path, *, scoring: bool = False, announce: Callable[[str], None] | None = _stderr
    ) -> None:
        import pyarrow.parquet as pq

        self.label, self.size = display_path(path), path.stat().st_size
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CsvFormatError(f"{self.label}: not a Parquet file ({first_line(exc)})") from None
        schema = self._file.schema_arrow
        self.header = list(schema.names)
        nested = [f.name for f in schema if pa.types.is_nested(f.type)]
        if nested:
            raise CsvFormatError(
                f"{self.label}: column(s) {', '.join(_shortened(nested))} hold lists or records"
            )
        try:
            self.columns = check_columns(self.header, scoring=scoring)
        except ColumnsError as exc:
            raise ColumnsError(exc.missing, _shortened(exc.unexpected)) from None
        self._rows_read = 0
        self.description = f"Parquet, {self._file.metadata.num_rows:,} rows"
        if announce is not None:
            announce(f"reading {self.label}: {self.description}")

    @property
    def position(self) -> int:
        """Bytes of the file read so far, in proportion to its rows: for progress."""
        total = self._file.metadata.num_rows
        return self.size if not total else self.size * self._rows_read // total

    def __iter__(self) -> Iterator[RawChunk]:
        for batch in self._file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            text = pa.table({name: _parquet_text(table[name]) for name in self.header})
            lines = np.arange(self._rows_read + 1, self._rows_read + 1 + table.num_rows, dtype=np.int64)
            self._rows_read += table.num_rows
            yield RawChunk(text, lines)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ParquetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parquet_text(values: pa.ChunkedArray) -> pa.Array:
    """A Parquet column as the text a CSV would hold (dates as YYYY-MM-DD, numbers plainly)."""
    values = as_text(values)
    if pa.types.is_timestamp(values.type):
        values = values.cast(pa.date32())  # a day stored as a timestamp: its date is the field
    return values if pa.types.is_string(values.type) else values.cast(pa.string())


def open_bookings(
    path: Path, *, scoring: bool = False, announce: Callable[[str], None] | None = _stderr
) -> RawReader | ParquetReader:
    """The reader for a bookings file: Parquet by its extension, else CSV (plain or gzip)."""
    if is_parquet(path):
        return ParquetReader(path, scoring=scoring, announce=announce)
    return RawReader(path, scoring=scoring, announce=announce)


class ParquetSink(_TableSink):
    """Tables appended to one Parquet file, written atomically, values as they are (no
    spreadsheet runs a Parquet cell)."""

    def _open(self, out: BinaryIO, schema: pa.Schema) -> _TableWriter:
        import pyarrow.parquet as pq

        writer: _TableWriter = pq.ParquetWriter(out, schema)
        return writer


def open_sink(path: Path, schema: pa.Schema) -> CsvSink | ParquetSink:
    """The writer for an output file: Parquet by its extension, else CSV."""
    return ParquetSink(path, schema) if is_parquet(path) else CsvSink(path, schema)
