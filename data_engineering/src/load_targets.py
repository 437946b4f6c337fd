"""Where a load goes: refused when it would shrink the data far (``--allow-shrink``); the database's
tables replaced at once, or merged by the hotel's booking id."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engineering.src import db
from data_engineering.src.engine import make_engine
from data_engineering.src.files.writing import csv_rows
from data_engineering.src.load_chunks import ARROW_TYPES, rejected_schema
from data_engineering.src.messages import masked
from data_engineering.src.paths import (
    display_path,
    processed_file,
)
from data_engineering.src.reading_settings import IngestSettings
from data_engineering.src.schema import BOOKING_ID
from data_engineering.src.settings import env_name
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN, REASONS_COLUMN
from data_engineering.transformation import Transformation

SHRINK_ENV = env_name(IngestSettings, "max_shrink")


class ShrinkError(ValueError):
    """The load would replace the current rows with far fewer: it needs ``--allow-shrink``."""


def _current_rows(version: str, url: str | None) -> tuple[int, str] | None:
    """How many rows the destination holds now, and where (None: nothing loaded yet)."""
    if url is None:
        path = processed_file(version)
        return (csv_rows(path), display_path(path)) if path.exists() else None
    engine = make_engine(url)
    try:
        rows = db.table_rows(engine, f"bookings_{version}")
    finally:
        engine.dispose()
    return None if rows is None else (rows, f"table bookings_{version}")


def refuse_shrink(version: str, url: str | None, new: int) -> None:
    """Raise ShrinkError when ``new`` rows would replace far more (``HOTEL_MAX_SHRINK``)."""
    current = _current_rows(version, url)
    if current is None:
        return
    rows, where = current
    allowed = IngestSettings().max_shrink
    if rows and new < rows * (1 - allowed):
        raise ShrinkError(
            f"this load would replace the {rows:,} rows of {where} with {new:,} ({1 - new / rows:.0%} "
            f"fewer; {SHRINK_ENV}={allowed:g} allows {allowed:.0%}): nothing was changed; pass "
            "--allow-shrink to load it anyway"
        )


def _last_per_key(table: pa.Table) -> pa.Table:
    """One row per booking id, the last of the file (a re-export listing a booking twice)."""
    keys = table[ID_COLUMN].to_numpy(zero_copy_only=False)
    _, first_from_end = np.unique(keys[::-1], return_index=True)
    keep = np.sort(len(keys) - 1 - first_from_end)
    return table.take(pa.array(keep, pa.int64()))


def load_database(
    url: str, transformation: Transformation, columns: tuple[str, ...], tables: dict[str, list[pa.Table]]
) -> str:
    """Replace the tables with this file's bookings; or, when the file carries the hotel's booking
    ids, merge them in: a booking id already loaded is updated (its status may have changed since
    the last export), a new one added, and bookings the file does not list are kept."""
    kinds = transformation.output_columns([ID_COLUMN, *columns])
    raw_columns = {ID_COLUMN: "text", LINE_COLUMN: "int", **{c: "text" for c in columns if c != ID_COLUMN}}
    schemas = {
        "raw": pa.schema([(c, ARROW_TYPES[k]) for c, k in raw_columns.items()]),
        "rejected": rejected_schema(columns),
        "processed": pa.schema([(c, ARROW_TYPES[k]) for c, k in kinds.items()]),
    }
    data = {
        key: pa.concat_tables(tables[key]) if tables[key] else schemas[key].empty_table() for key in schemas
    }
    merge = BOOKING_ID in columns
    if merge:
        data = {key: _last_per_key(table) for key, table in data.items()}
        # Only the valid rows update bookings_raw: a rejected re-export must not replace the text
        # of the booking's last valid version (bookings_rejected says why it was refused).
        valid_ids = pc.is_in(data["raw"][ID_COLUMN], value_set=data["processed"][ID_COLUMN])
        data["raw"] = data["raw"].filter(valid_ids)
    loads = [
        db.TableLoad("bookings_raw", data["raw"], raw_columns),
        db.TableLoad("bookings_rejected", data["rejected"], {**raw_columns, REASONS_COLUMN: "text"}),
        db.TableLoad(f"bookings_{transformation.version}", data["processed"], kinds),
    ]
    engine = make_engine(url)
    names = f"bookings_{transformation.version}, bookings_raw, bookings_rejected in {masked(url)}"
    try:
        if not merge:
            db.replace_tables(engine, loads)
            return names
        # A booking valid now is no longer a rejected one, and one rejected now keeps its last
        # valid version (said in bookings_rejected) rather than losing it.
        valid = data["processed"][ID_COLUMN]
        counts = db.merge_tables(
            engine, [loads[0], loads[2], loads[1]], delete=[("bookings_rejected", valid)]
        )
    finally:
        engine.dispose()
    new, updated = counts[f"bookings_{transformation.version}"]
    return f"{names} (merged by booking_id: {new:,} new, {updated:,} updated)"
