"""``./cli.sh initialize-data [VERSION] [csv|db]``: ingest -> validate -> transform -> destination.

Always works on the *current* source: ingest re-reads it and only skips the copy when its content
hash is unchanged. The raw file is read, validated and transformed a chunk at a time (memory does
not grow with the file's size). Destinations:
- ``csv``: ``data/processed/bookings_<version>.csv``, streamed and renamed into place at the end;
- ``db``: tables ``bookings_raw``, ``bookings_rejected`` and ``bookings_<version>`` in the database
  chosen by ``--env``/``APP_ENV``/``DATABASE_URL`` (default: the embedded SQLite file), replaced
  together in one transaction (the chunks' compact Arrow tables are loaded at the end).
Rejected rows go to ``data/rejected/hotel_bookings_rejected.csv`` and the counts to
``reports/data_validation.json``, with the values that are not in the vocabulary in use (a hotel
group's own hotel names or room codes checked against the public dataset's vocabulary, say).

A load never loses data. The source is staged beside ``data/raw`` and read from there; every
output is written under a temporary name; only when the whole file was read, at least one row is
valid and the load does not shrink the current data by more than ``HOTEL_MAX_SHRINK`` (unless
``--allow-shrink``) are the tables swapped in and ``data/raw``, the processed and rejected files
and the report put in place. Any failure before that (a source that does not parse, holds no
valid row, or only a header) leaves every table and file as it was: the rejected file and the
report describe the data that is loaded, so they are not rewritten by a load that is refused
(the reasons are printed instead).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import RawChunk, as_text
from data_engineering.src.files.writing import CsvSink, csv_rows
from data_engineering.src.ingest import (
    IngestParams,
    NoValidRowsError,
    SourceError,
    print_reasons,
    report_vocabulary,
    resolve_source,
    stage,
)
from data_engineering.src.messages import first_line, masked
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import (
    RAW_FILE,
    REJECTED_FILE,
    VALIDATION_REPORT,
    display_path,
    processed_file,
)
from data_engineering.src.progress import progress
from data_engineering.src.schema import BOOKING_ID, BOOKING_ID_PATTERN, ColumnsError, vocabulary_in_use
from data_engineering.src.settings import ENVIRONMENTS, IngestSettings, SettingsError, database_url, env_name
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN, REASONS_COLUMN, validate
from data_engineering.src.vocabulary import OutsideVocabulary
from data_engineering.transformation import Transformation, UnknownVersionError, get_transformation

DESTINATIONS = ("csv", "db")
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "text": pa.string(), "date": pa.date32()}


class TransformParams(BaseModel):
    version: str = "v2"


SHRINK_ENV = env_name(IngestSettings, "max_shrink")


class ShrinkError(ValueError):
    """The load would replace the current rows with far fewer: it needs ``--allow-shrink``."""


@dataclass
class Summary:
    version: str
    destination: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    target: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)  # what reports/data_validation.json holds
    outside_vocabulary: str = ""  # which values the vocabulary lacks, and what to do (or "")

    def line(self) -> str:
        return (
            f"initialize-data {self.version} -> {self.destination}: {self.rows_in:,} rows in, "
            f"{self.rows_loaded:,} loaded, {self.rows_rejected:,} rejected -> {self.target} "
            f"({self.seconds.get('total', 0):.2f}s)"
        )


class BookingIds:
    """A stable 63-bit key per row: the hash of the row's text and its rank among identical rows.

    The dataset has no booking number. Hashing the content gives a booking the same id in the
    103,505-row extract and in the full 119,390-row file; the rank keeps exact duplicates apart.
    Ranks carry over from chunk to chunk, so the ids do not depend on how the file is cut.
    """

    def __init__(self) -> None:
        self._seen: Counter[int] = Counter()
        self.duplicates = 0

    def __call__(self, *texts: pd.DataFrame) -> np.ndarray:
        """Ids of the rows of ``texts`` (frames of the rows' text), in order."""
        hashes = np.concatenate([pd.util.hash_pandas_object(t, index=False).to_numpy() for t in texts])
        codes, uniques = pd.factorize(hashes)
        rank = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy().copy()
        rank += np.array([self._seen[u] for u in uniques], dtype=np.int64)[codes]
        self._seen.update(dict(zip(uniques.tolist(), np.bincount(codes).tolist(), strict=True)))
        self.duplicates += int((rank > 0).sum())
        keyed = pd.DataFrame({"hash": hashes, "rank": rank})
        combined = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
        return (combined >> np.uint64(1)).astype(np.int64)


@dataclass
class _Outputs:
    """Where each chunk's rows go: the processed rows, the rejected ones, every row as received."""

    processed: Callable[[pa.Table], None]
    rejected: Callable[[pa.Table], None]
    raw: Callable[[pa.Table], None] | None


def _text_of(chunk: RawChunk, columns: tuple[str, ...], rows: np.ndarray) -> dict[str, pa.Array]:
    """The raw text of some rows, in the order given: positions < n are well-formed rows, the
    others the chunk's misaligned lines."""
    n = chunk.table.num_rows
    formed = rows < n
    where = np.empty(len(rows), dtype=np.int64)  # each row's place in [well-formed..., misaligned...]
    where[formed] = np.arange(formed.sum())
    where[~formed] = formed.sum() + np.arange((~formed).sum())
    out = {}
    for name in columns:
        taken = as_text(chunk.table[name]).take(pa.array(rows[formed], pa.int64()))
        if formed.all():
            out[name] = taken
            continue
        extra = pa.array([chunk.misaligned[i].fields[name] for i in rows[~formed] - n], pa.string())
        out[name] = pa.concat_arrays([taken, extra]).take(pa.array(where, pa.int64()))
    return out


def _chunk_frames(chunk: RawChunk, columns: tuple[str, ...]) -> tuple[pd.DataFrame, ...]:
    """Every row's text as frames, in row order: the well-formed rows, then the misaligned lines.

    Dictionary-encoded text becomes pandas categoricals, hashed once per distinct value.
    """
    formed = chunk.table.select(list(columns)).to_pandas()
    if not chunk.misaligned:
        return (formed,)
    aside = pd.DataFrame([[m.fields[c] for c in columns] for m in chunk.misaligned], columns=list(columns))
    return formed, aside.astype("str")


def _keys(chunk: RawChunk, columns: tuple[str, ...], ids: BookingIds) -> np.ndarray:
    """Each row's key (text): the hotel's reservation id where the file gives a valid one, else
    the row's content hash (``BookingIds``), both unique per booking."""
    keys = ids(*_chunk_frames(chunk, columns)).astype(str).astype(object)
    if BOOKING_ID not in columns:
        return keys
    given = _text_of(chunk, (BOOKING_ID,), np.arange(chunk.table.num_rows + len(chunk.misaligned)))[
        BOOKING_ID
    ]
    texts = pc.utf8_trim(given, " \t")
    valid = pc.fill_null(pc.match_substring_regex(texts, BOOKING_ID_PATTERN), False).to_numpy(
        zero_copy_only=False
    )
    keys[valid] = np.asarray(texts.to_pylist(), dtype=object)[valid]
    return keys


def _process_chunk(
    chunk: RawChunk,
    columns: tuple[str, ...],
    transformation: Transformation,
    ids: BookingIds,
    out: _Outputs,
    *,
    kinds: Mapping[str, str],
    outside: OutsideVocabulary,
) -> Counter[str]:
    n, width = chunk.table.num_rows, len(chunk.misaligned)
    keys = _keys(chunk, columns, ids)
    validated = validate({c: chunk.table[c] for c in columns}, columns)
    outside.add(validated.details)
    processed = transformation.transform({**validated.columns, ID_COLUMN: keys[validated.accepted]})
    out.processed(
        pa.table(
            {name: pa.array(processed[name], ARROW_TYPES[kinds[name]], from_pandas=True) for name in kinds}
        )
    )

    lines = np.concatenate([chunk.lines, np.array([m.line for m in chunk.misaligned], dtype=np.int64)])
    bad = np.concatenate([validated.rejected, np.arange(n, n + width)])
    reasons = validated.reasons + [m.reason for m in chunk.misaligned]
    order = np.argsort(lines[bad], kind="stable")
    bad, reasons = bad[order], [reasons[i] for i in order]
    # The key last: a file's own booking_id column holds the same text where it is valid.
    out.rejected(
        pa.table(
            {
                LINE_COLUMN: pa.array(lines[bad], pa.int64()),
                **_text_of(chunk, columns, bad),
                REASONS_COLUMN: pa.array(reasons, pa.string()),
                ID_COLUMN: pa.array(keys[bad], pa.string()),
            }
        ).select(list(_rejected_schema(columns).names))
    )
    if out.raw is not None:
        everyone = np.argsort(lines, kind="stable")
        out.raw(
            pa.table(
                {
                    LINE_COLUMN: pa.array(lines[everyone], pa.int64()),
                    **_text_of(chunk, columns, everyone),
                    ID_COLUMN: pa.array(keys[everyone], pa.string()),
                }
            ).select([ID_COLUMN, LINE_COLUMN, *(c for c in columns if c != ID_COLUMN)])
        )
    counts = Counter(validated.reason_counts)
    counts.update(m.key for m in chunk.misaligned)
    return counts


def _rejected_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [(ID_COLUMN, pa.string()), (LINE_COLUMN, pa.int64())]
        + [(c, pa.string()) for c in columns if c != ID_COLUMN]
        + [(REASONS_COLUMN, pa.string())]
    )


def _read_validate_transform(
    read_from: Path,
    transformation: Transformation,
    destination: str,
    outside: OutsideVocabulary,
    *,
    label: str,
    source_file: Path,
) -> tuple[dict[str, Any], dict[str, list[pa.Table]], CsvSink | None, CsvSink, tuple[str, ...]]:
    """Stream the raw file (or the staged source) through validation and the transformation."""
    tables: dict[str, list[pa.Table]] = {"processed": [], "raw": [], "rejected": []}
    with RawReader(read_from, label=label) as reader:
        columns = reader.columns
        # The file's optional columns (outcomes, ids) are carried through when it has them.
        kinds = transformation.output_columns([ID_COLUMN, *columns])
        schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in kinds.items()])
        rejected_sink = CsvSink(REJECTED_FILE, _rejected_schema(columns))
        csv_sink = CsvSink(processed_file(transformation.version), schema) if destination == "csv" else None
        in_db = destination == "db"

        def reject(table: pa.Table) -> None:
            rejected_sink.write(table)
            if in_db:
                tables["rejected"].append(table)

        outputs = _Outputs(
            processed=csv_sink.write if csv_sink is not None else tables["processed"].append,
            rejected=reject,
            raw=tables["raw"].append if in_db else None,
        )
        ids = BookingIds()
        reasons: Counter[str] = Counter()
        try:
            with progress(
                total=reader.size, desc="initialize-data: validate", unit="B", unit_scale=True
            ) as bar:
                for chunk in reader:
                    reasons.update(
                        _process_chunk(
                            chunk, columns, transformation, ids, outputs, kinds=kinds, outside=outside
                        )
                    )
                    bar.set(reader.position)
        except BaseException:
            rejected_sink.abort()
            if csv_sink is not None:
                csv_sink.abort()
            raise
    loaded = csv_sink.rows if csv_sink is not None else sum(t.num_rows for t in tables["processed"])
    report = {
        "source_file": display_path(source_file),
        "rows_in": loaded + rejected_sink.rows,
        "rows_loaded": loaded,
        "rows_rejected": rejected_sink.rows,
        "rejection_reasons": dict(sorted(reasons.items())),
        "vocabulary": vocabulary_in_use(),
        "rows_outside_vocabulary": outside.rows,
        "outside_vocabulary": outside.report(),
        "exact_duplicate_rows": ids.duplicates,
        "blank_lines_skipped": reader.blank_lines,
        "duplicate_policy": "kept (see data_engineering/README.md#duplicates)",
    }
    return report, tables, csv_sink, rejected_sink, columns


def run(
    version: str,
    destination: str = "csv",
    *,
    env: str | None = None,
    fetch: bool = True,
    raw_path: Path = RAW_FILE,
    allow_shrink: bool = False,
) -> Summary:
    """The whole job. Raises on bad input; the caller turns errors into messages."""
    started = time.perf_counter()
    transformation = get_transformation(version)  # unknown version: fail before any work
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown destination '{destination}'; expected one of: csv, db")
    url = database_url(env) if destination == "db" else None
    summary = Summary(version, destination)
    with ExitStack() as stack:
        staged, params = None, None
        if fetch:
            params = read_section("ingest", IngestParams)
            source = resolve_source(params, raw_path)
            staged = stack.enter_context(
                stage(source, raw_path, retries=params.retries, timeout=params.timeout_seconds)
            )
        t = time.perf_counter()
        outside = OutsideVocabulary()
        report, tables, csv_sink, rejected_sink, columns = _read_validate_transform(
            staged.path if staged else raw_path,
            transformation,
            destination,
            outside,
            label=staged.source.location if staged else display_path(raw_path),
            source_file=raw_path,
        )
        summary.rows_in, summary.rows_loaded = report["rows_in"], report["rows_loaded"]
        summary.rows_rejected, summary.report = report["rows_rejected"], report
        summary.outside_vocabulary = outside.message(summary.rows_in) if outside.rows else ""
        summary.seconds["read_validate_transform"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            if not summary.rows_loaded:
                raise NoValidRowsError(
                    summary.rows_in,
                    report["rejection_reasons"],
                    summary.outside_vocabulary,
                    report["blank_lines_skipped"],
                )
            merging = url is not None and BOOKING_ID in columns  # a merge by id never removes a booking
            if not allow_shrink and not merging:
                _refuse_shrink(version, url, summary.rows_loaded)
            # The point of no return: the tables, then every file, each put in place at once.
            if url is not None:
                summary.target = _load_database(url, transformation, columns, tables)
        except BaseException:
            rejected_sink.abort()
            if csv_sink is not None:
                csv_sink.abort()
            raise
        if csv_sink is not None:
            csv_sink.commit()
            summary.target = display_path(processed_file(version))
        if staged is not None:
            assert params is not None  # read with the source
            staged.commit(params)
            print(staged.line())
        rejected_sink.commit()
        write_atomic(VALIDATION_REPORT, (json.dumps(report, indent=2) + "\n").encode())
    if fetch:
        report_vocabulary(raw_path)
    summary.seconds["write"] = time.perf_counter() - t
    summary.seconds["total"] = time.perf_counter() - started
    return summary


def _current_rows(version: str, url: str | None) -> tuple[int, str] | None:
    """How many rows the destination holds now, and where (None: nothing loaded yet)."""
    if url is None:
        path = processed_file(version)
        return (csv_rows(path), display_path(path)) if path.exists() else None
    engine = db.make_engine(url)
    try:
        rows = db.table_rows(engine, f"bookings_{version}")
    finally:
        engine.dispose()
    return None if rows is None else (rows, f"table bookings_{version}")


def _refuse_shrink(version: str, url: str | None, new: int) -> None:
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


def _load_database(
    url: str, transformation: Transformation, columns: tuple[str, ...], tables: dict[str, list[pa.Table]]
) -> str:
    """Replace the tables with this file's bookings; or, when the file carries the hotel's booking
    ids, merge them in: a booking id already loaded is updated (its status may have changed since
    the last export), a new one added, and bookings the file does not list are kept."""
    kinds = transformation.output_columns([ID_COLUMN, *columns])
    raw_columns = {ID_COLUMN: "text", LINE_COLUMN: "int", **{c: "text" for c in columns if c != ID_COLUMN}}
    schemas = {
        "raw": pa.schema([(c, ARROW_TYPES[k]) for c, k in raw_columns.items()]),
        "rejected": _rejected_schema(columns),
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
    engine = db.make_engine(url)
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


def print_outcome(summary: Summary, prog: str) -> None:
    """The rejected rows by reason, the summary line, and which values the vocabulary lacks."""
    print_reasons(summary.report.get("rejection_reasons", {}))
    print(summary.line())
    if summary.outside_vocabulary:
        print(f"{prog}: warning: {summary.outside_vocabulary}", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./cli.sh initialize-data",
        description="Ingest, validate and transform the raw bookings into a CSV file or a database.",
    )
    parser.add_argument(
        "args", nargs="*", metavar="VERSION|csv|db", help="transformation version and/or destination"
    )
    parser.add_argument(
        "--env", choices=ENVIRONMENTS, help="database environment set up by ./cli.sh setup-db ENV"
    )
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        help=f"replace the loaded rows even with far fewer (beyond {SHRINK_ENV})",
    )
    # The step timings for ./cli.sh bench-db-load, not a user's option: left out of --help.
    parser.add_argument("--timings-json", type=Path, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    ns.version, ns.destination = None, "csv"
    for value in ns.args:
        if value in DESTINATIONS:
            ns.destination = value
        elif ns.version is None:
            ns.version = value
        else:
            parser.error(f"unexpected argument '{value}'")
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    try:
        version = ns.version or read_section("transform", TransformParams).version
        summary = run(version, ns.destination, env=ns.env, allow_shrink=ns.allow_shrink)
    except UnknownVersionError as exc:
        print(f"initialize-data: error: {exc}", file=sys.stderr)
        return 2
    except ColumnsError as exc:
        print(
            f"initialize-data: error: the source is not the bookings dataset: {exc}; nothing was written",
            file=sys.stderr,
        )
        return 1
    except NoValidRowsError as exc:
        print_reasons(exc.reasons, sys.stderr)
        print(f"initialize-data: error: {exc}", file=sys.stderr)
        return 1
    except (SourceError, ParamsError, SettingsError, ValueError) as exc:
        print(f"initialize-data: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(
            f"initialize-data: database error: {exc.__class__.__name__}: {first_line(exc)}",
            file=sys.stderr,
        )
        return 1
    print("timings: " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in summary.seconds.items()))
    if ns.timings_json:
        write_atomic(ns.timings_json, json.dumps(summary.seconds).encode())
    print_outcome(summary, "initialize-data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
