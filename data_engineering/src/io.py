"""Reading and writing booking files: raw text in, typed CSV out, always atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from data_engineering.src.paths import processed_file
from data_engineering.src.schema import check_columns
from data_engineering.src.validate import FIELDS_COLUMN, LINE_COLUMN

PANDAS_TYPES = {"int": "Int64", "float": "float64", "text": "str", "date": "str"}


def read_raw(path: Path, *, scoring: bool = False) -> pd.DataFrame:
    """Every field as text, plus the row's line number and field count.

    The header is checked first, so a file with a wrong or missing column is refused before
    any row is read. A row with too few or too many fields is kept (padded or cut) and marked,
    so validation can reject it with its reason instead of the parser dropping it.
    """
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty")
        header = [name.strip() for name in header]
        check_columns(header, scoring=scoring)
        width = len(header)
        rows: list[list[str]] = []
        lines: list[int] = []
        counts: list[int] = []
        for row in reader:
            if not row:
                continue  # blank line: not a booking
            lines.append(reader.line_num)
            counts.append(len(row))
            rows.append(row if len(row) == width else (row + [""] * width)[:width])
    frame = pd.DataFrame(rows, columns=header, dtype="str")
    frame.insert(0, LINE_COLUMN, lines)
    frame[FIELDS_COLUMN] = counts
    frame.attrs["expected_fields"] = width
    return frame


def frame_to_csv_bytes(frame: pd.DataFrame, *, header: bool) -> bytes:
    """CSV bytes (nulls as empty fields) via Arrow's writer: ~10x faster than ``DataFrame.to_csv``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, quoting_style="needed"))
    return sink.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d").dt.date
        elif columns.get(name) == "int" and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
    return frame
