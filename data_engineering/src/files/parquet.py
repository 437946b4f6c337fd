"""Bookings in Parquet files, read like a CSV (``RawChunk``s of text) and told by their extension."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import RawChunk, as_text
from data_engineering.src.files.source import CsvFormatError, shortened, stderr
from data_engineering.src.messages import first_line
from data_engineering.src.paths import display_path
from data_engineering.src.schema import ColumnsError, check_columns

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
        self, path: Path, *, scoring: bool = False, announce: Callable[[str], None] | None = stderr
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
                f"{self.label}: column(s) {', '.join(shortened(nested))} hold lists or records"
            )
        try:
            self.columns = check_columns(self.header, scoring=scoring)
        except ColumnsError as exc:
            raise ColumnsError(exc.missing, shortened(exc.unexpected)) from None
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
    path: Path, *, scoring: bool = False, announce: Callable[[str], None] | None = stderr
) -> RawReader | ParquetReader:
    """The reader for a bookings file: Parquet by its extension, else CSV (plain or gzip)."""
    if is_parquet(path):
        return ParquetReader(path, scoring=scoring, announce=announce)
    return RawReader(path, scoring=scoring, announce=announce)
