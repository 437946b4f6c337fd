"""``./cli.sh initialize-data [VERSION] [csv|db]``: ingest -> validate -> transform -> destination.

Always works on the *current* source: ingest re-reads it and only skips the copy when its content
hash is unchanged. The raw file is read, validated and transformed a chunk at a time (memory does
not grow with the file's size). Destinations:
- ``csv``: ``data/processed/bookings_<version>.csv``, streamed and renamed into place at the end;
- ``db``: tables ``bookings_raw``, ``bookings_rejected`` and ``bookings_<version>`` in the database
  chosen by ``--env``/``APP_ENV``/``DATABASE_URL`` (default: the embedded SQLite file), replaced
  together in one transaction (the chunks' compact Arrow tables are loaded at the end).
Rejected rows always go to ``data/rejected/hotel_bookings_rejected.csv`` and the counts to
``reports/data_validation.json``, with the values that are not in the vocabulary in use (a hotel
group's own hotel names or room codes checked against the public dataset's vocabulary, say).
When no row at all is valid the run fails and the destination is left as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.ingest import IngestParams, SourceError, ingest
from data_engineering.src.io import CsvSink, RawChunk, RawReader, as_text, write_atomic
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
from data_engineering.src.schema import ColumnsError, vocabulary_in_use
from data_engineering.src.settings import ENVIRONMENTS, SettingsError, database_url
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN, REASONS_COLUMN, validate
from data_engineering.src.vocabulary import OutsideVocabulary
from data_engineering.transformation import Transformation, UnknownVersionError, get_transformation

DESTINATIONS = ("csv", "db")
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "text": pa.string(), "date": pa.date32()}


class TransformParams(BaseModel):
    version: str = "v2"


class NoValidRowsError(ValueError):
    """Every row of the source was rejected: there is nothing to load."""


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


def _process_chunk(
    chunk: RawChunk,
    columns: tuple[str, ...],
    transformation: Transformation,
    ids: BookingIds,
    out: _Outputs,
    *,
    outside: OutsideVocabulary,
) -> Counter[str]:
    n, width = chunk.table.num_rows, len(chunk.misaligned)
    keys = ids(*_chunk_frames(chunk, columns))
    validated = validate({c: chunk.table[c] for c in columns}, columns)
    outside.add(validated.details)
    processed = transformation.transform({**validated.columns, ID_COLUMN: keys[validated.accepted]})
    kinds = transformation.output_columns(list(processed))
    out.processed(pa.table({name: pa.array(processed[name], ARROW_TYPES[kinds[name]]) for name in kinds}))

    lines = np.concatenate([chunk.lines, np.array([m.line for m in chunk.misaligned], dtype=np.int64)])
    bad = np.concatenate([validated.rejected, np.arange(n, n + width)])
    reasons = validated.reasons + [
        f"line has {m.count} fields, expected {len(m.fields)}" for m in chunk.misaligned
    ]
    order = np.argsort(lines[bad], kind="stable")
    bad, reasons = bad[order], [reasons[i] for i in order]
    out.rejected(
        pa.table(
            {
                ID_COLUMN: pa.array(keys[bad], pa.int64()),
                LINE_COLUMN: pa.array(lines[bad], pa.int64()),
                **_text_of(chunk, columns, bad),
                REASONS_COLUMN: pa.array(reasons, pa.string()),
            }
        )
    )
    if out.raw is not None:
        everyone = np.argsort(lines, kind="stable")
        out.raw(
            pa.table(
                {
                    ID_COLUMN: pa.array(keys[everyone], pa.int64()),
                    LINE_COLUMN: pa.array(lines[everyone], pa.int64()),
                    **_text_of(chunk, columns, everyone),
                }
            )
        )
    counts = Counter(validated.reason_counts)
    if width:
        counts["line has the wrong number of fields"] += width
    return counts


def _rejected_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [(ID_COLUMN, pa.int64()), (LINE_COLUMN, pa.int64())]
        + [(c, pa.string()) for c in columns]
        + [(REASONS_COLUMN, pa.string())]
    )


def _read_validate_transform(
    raw_path: Path, transformation: Transformation, destination: str, outside: OutsideVocabulary
) -> tuple[dict[str, Any], dict[str, list[pa.Table]], CsvSink | None, CsvSink, tuple[str, ...]]:
    """Stream the raw file through validation and the transformation, chunk by chunk."""
    kinds = transformation.output_columns()
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in kinds.items()])
    tables: dict[str, list[pa.Table]] = {"processed": [], "raw": [], "rejected": []}
    with RawReader(raw_path) as reader:
        columns = reader.columns
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
        blank = 0
        try:
            with progress(
                total=reader.size, desc="initialize-data: validate", unit="B", unit_scale=True
            ) as bar:
                for chunk in reader:
                    reasons.update(
                        _process_chunk(chunk, columns, transformation, ids, outputs, outside=outside)
                    )
                    blank += chunk.blank
                    bar.set(reader.position)
        except BaseException:
            rejected_sink.abort()
            if csv_sink is not None:
                csv_sink.abort()
            raise
    loaded = csv_sink.rows if csv_sink is not None else sum(t.num_rows for t in tables["processed"])
    report = {
        "source_file": display_path(raw_path),
        "rows_in": loaded + rejected_sink.rows,
        "rows_loaded": loaded,
        "rows_rejected": rejected_sink.rows,
        "rejection_reasons": dict(sorted(reasons.items())),
        "vocabulary": vocabulary_in_use(),
        "rows_outside_vocabulary": outside.rows,
        "outside_vocabulary": outside.report(),
        "exact_duplicate_rows": ids.duplicates,
        "blank_lines_skipped": blank,
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
) -> Summary:
    """The whole job. Raises on bad input; the caller turns errors into messages."""
    started = time.perf_counter()
    transformation = get_transformation(version)  # unknown version: fail before any work
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown destination '{destination}'; expected one of: csv, db")
    url = database_url(env) if destination == "db" else None
    summary = Summary(version, destination)
    if fetch:
        ingest(read_section("ingest", IngestParams), dest=raw_path)
    t = time.perf_counter()
    outside = OutsideVocabulary()
    report, tables, csv_sink, rejected_sink, columns = _read_validate_transform(
        raw_path, transformation, destination, outside
    )
    summary.rows_in, summary.rows_loaded = report["rows_in"], report["rows_loaded"]
    summary.rows_rejected, summary.report = report["rows_rejected"], report
    summary.outside_vocabulary = outside.message(summary.rows_in) if outside.rows else ""
    summary.seconds["read_validate_transform"] = time.perf_counter() - t
    if summary.rows_in and not summary.rows_loaded:
        # Nothing to load: the destination stays as it was; the rejected rows say why.
        if csv_sink is not None:
            csv_sink.abort()
        rejected_sink.commit()
        write_atomic(VALIDATION_REPORT, (json.dumps(report, indent=2) + "\n").encode())
        raise NoValidRowsError(_no_valid_rows(summary))
    t = time.perf_counter()
    if csv_sink is not None:
        csv_sink.commit()
        summary.target = display_path(processed_file(version))
    else:
        assert url is not None
        try:
            summary.target = _load_database(url, transformation, columns, tables)
        except BaseException:
            rejected_sink.abort()
            raise
    rejected_sink.commit()
    summary.seconds["write"] = time.perf_counter() - t
    write_atomic(VALIDATION_REPORT, (json.dumps(report, indent=2) + "\n").encode())
    summary.seconds["total"] = time.perf_counter() - started
    return summary


def _no_valid_rows(summary: Summary) -> str:
    reasons = summary.report["rejection_reasons"]
    top = max(reasons, key=reasons.get) if reasons else "unknown"
    because = summary.outside_vocabulary or f"the most frequent reason: {top} ({reasons.get(top, 0):,} rows)"
    return (
        f"none of the {summary.rows_in:,} rows is valid, nothing was loaded (each row's reasons: "
        f"{display_path(REJECTED_FILE)}); {because}"
    )


def _load_database(
    url: str, transformation: Transformation, columns: tuple[str, ...], tables: dict[str, list[pa.Table]]
) -> str:
    kinds = transformation.output_columns()
    raw_columns = {ID_COLUMN: "int", LINE_COLUMN: "int", **dict.fromkeys(columns, "text")}
    schemas = {
        "raw": pa.schema([(c, ARROW_TYPES[k]) for c, k in raw_columns.items()]),
        "rejected": _rejected_schema(columns),
        "processed": pa.schema([(c, ARROW_TYPES[k]) for c, k in kinds.items()]),
    }
    data = {
        key: pa.concat_tables(tables[key]) if tables[key] else schemas[key].empty_table() for key in schemas
    }
    loads = [
        db.TableLoad("bookings_raw", data["raw"], raw_columns),
        db.TableLoad("bookings_rejected", data["rejected"], {**raw_columns, REASONS_COLUMN: "text"}),
        db.TableLoad(f"bookings_{transformation.version}", data["processed"], kinds),
    ]
    engine = db.make_engine(url)
    try:
        db.replace_tables(engine, loads)
    finally:
        engine.dispose()
    return f"bookings_{transformation.version}, bookings_raw, bookings_rejected in {masked(url)}"


def print_outcome(summary: Summary, prog: str) -> None:
    """The rejected rows by reason, the summary line, and which values the vocabulary lacks."""
    reasons = summary.report.get("rejection_reasons", {})
    if reasons:
        print("rejected rows by reason:")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>7,}  {reason}")
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
        summary = run(version, ns.destination, env=ns.env)
    except UnknownVersionError as exc:
        print(f"initialize-data: error: {exc}", file=sys.stderr)
        return 2
    except ColumnsError as exc:
        print(
            f"initialize-data: error: the source is not the bookings dataset: {exc}; nothing was written",
            file=sys.stderr,
        )
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
