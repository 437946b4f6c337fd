"""Whole lines of a bookings CSV parsed into columns of text; the lines that are no record set aside.

pyarrow parses a block of lines, every field as text. A line with too few or too many fields, or
that is no CSV record of its own (an unbalanced quote, a carriage return inside it), is kept aside
with its reason (``Misaligned``) instead of being dropped or taking other lines with it. Fields
beyond the limit are refused; decimal commas in the numeric columns of a ``;`` file are read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data_engineering.src.files.source import CsvFormatError, setting, shortened
from data_engineering.src.reading_settings import CsvSettings
from data_engineering.src.schema import COLUMNS_BY_NAME

TEXT = pa.dictionary(pa.int32(), pa.string())  # fields as text, each distinct value stored once
NUMERIC_KINDS = frozenset({"int", "float", "id"})
# Lines of a chunk that are no record (a wrong number of fields...) beyond which, when they are
# most of it, the file is refused as no bookings CSV rather than rejected line by line.
NOT_RECORDS = 10_000
# "120,5" -> "120.5" (digits on both sides of the comma; spaces around are the validator's business).
_DECIMAL_COMMA = r"^([ \t]*[+-]?[0-9]*),([0-9]+[ \t]*)$"


class MostlyNotRecordsError(Exception):
    """Most lines of a chunk are no record (see ``ChunkParser._read_csv``)."""

    def __init__(self, record: int, fields: int) -> None:
        super().__init__(record, fields)
        self.record = record  # the first such line, as pyarrow numbers records (from 1)
        self.fields = fields


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


def as_text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column of a ``RawChunk`` as plain text (for writing it back out)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values


class ChunkParser:
    """Parses blocks of whole lines of one file whose header and separator are known."""

    def __init__(self, header: list[str], separator: str, *, label: str, limits: CsvSettings) -> None:
        self.header = header
        self.separator = separator
        self.label = label
        self.limits = limits
        self.decimal_comma = separator == ";"
        self._numeric = [
            name for name in header if name in COLUMNS_BY_NAME and COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS
        ]

    def _read_csv(self, data: bytes) -> tuple[pa.Table, list[tuple[int, str, int]]]:
        """The records of ``data`` and the lines set aside (record number, text, fields).

        Raises ``MostlyNotRecordsError`` when more than ``NOT_RECORDS`` lines, and most of those read,
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
                raise MostlyNotRecordsError(invalid[0][0], invalid[0][2]) from None
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

    def parse(self, data: bytes, base: int) -> RawChunk:
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
        except MostlyNotRecordsError as most:
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
        except MostlyNotRecordsError as most:  # numbered among the kept lines: renumber it
            raise MostlyNotRecordsError(int(kept[most.record - 1]) + 1, most.fields) from None
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
            f"{self.label}: line {line:,}, column {shortened([name])[0]}: a field longer than "
            f"{self.limits.max_field_bytes:,} bytes ({setting('max_field_bytes')})"
        )
