"""``./cli.sh initialize-data [VERSION] [csv|db]``: ingest -> validate -> transform -> destination.

Always works on the *current* source: ingest re-reads it and only skips the copy when its content
hash is unchanged. Destinations:
- ``csv``: ``data/processed/bookings_<version>.csv`` (written atomically);
- ``db``: tables ``bookings_raw``, ``bookings_rejected`` and ``bookings_<version>`` in the database
  chosen by ``--env``/``APP_ENV``/``DATABASE_URL`` (default: the embedded SQLite file), replaced
  together in one transaction.
Rejected rows always go to ``data/rejected/hotel_bookings_rejected.csv`` and the counts to
``reports/data_validation.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.ingest import IngestParams, SourceError, ingest
from data_engineering.src.io import read_raw, write_atomic, write_csv
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import (
    RAW_FILE,
    REJECTED_FILE,
    VALIDATION_REPORT,
    display_path,
    processed_file,
)
from data_engineering.src.schema import ColumnsError
from data_engineering.src.settings import ENVIRONMENTS, DatabaseConfigError, database_url
from data_engineering.src.validate import (
    FIELDS_COLUMN,
    ID_COLUMN,
    LINE_COLUMN,
    ValidationResult,
    validate_raw,
)
from data_engineering.transformation import UnknownVersionError, get_transformation

DESTINATIONS = ("csv", "db")


class TransformParams(BaseModel):
    version: str = "v2"


@dataclass
class Summary:
    version: str
    destination: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    target: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"initialize-data {self.version} -> {self.destination}: {self.rows_in:,} rows in, "
            f"{self.rows_loaded:,} loaded, {self.rows_rejected:,} rejected -> {self.target} "
            f"({self.seconds.get('total', 0):.2f}s)"
        )


def validate_file(raw_path: Path = RAW_FILE) -> tuple[pd.DataFrame, ValidationResult]:
    """Read and validate the raw file; write the rejected rows and the validation report."""
    raw = read_raw(raw_path)
    result = validate_raw(raw)
    report = {"source_file": display_path(raw_path), **result.report()}
    write_csv(result.rejected, REJECTED_FILE)
    write_atomic(VALIDATION_REPORT, (json.dumps(report, indent=2) + "\n").encode())
    return raw, result


def _raw_table(raw: pd.DataFrame, result: ValidationResult) -> db.TableLoad:
    """Every row as received (valid or not), keyed like the other tables."""
    ids = pd.concat(
        [
            result.valid[[LINE_COLUMN, ID_COLUMN]],
            result.rejected[[LINE_COLUMN, ID_COLUMN]],
        ]
    ).set_index(LINE_COLUMN)[ID_COLUMN]
    frame = raw.drop(columns=[FIELDS_COLUMN], errors="ignore").copy()
    frame.insert(0, ID_COLUMN, frame[LINE_COLUMN].map(ids).astype("int64"))
    columns = {ID_COLUMN: "int", LINE_COLUMN: "int", **dict.fromkeys(result.columns, "text")}
    return db.TableLoad("bookings_raw", frame, columns)


def _rejected_table(result: ValidationResult) -> db.TableLoad:
    columns = {
        ID_COLUMN: "int",
        LINE_COLUMN: "int",
        **dict.fromkeys(result.columns, "text"),
        "rejection_reasons": "text",
    }
    return db.TableLoad("bookings_rejected", result.rejected, columns)


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
    raw, result = validate_file(raw_path)
    summary.seconds["read_validate"] = time.perf_counter() - t
    t = time.perf_counter()
    processed = transformation.transform_frame(result.valid)
    summary.seconds["transform"] = time.perf_counter() - t
    summary.rows_in, summary.rows_loaded = result.rows_in, len(result.valid)
    summary.rows_rejected = len(result.rejected)

    if destination == "csv":
        t = time.perf_counter()
        path = processed_file(version)
        write_csv(processed, path)
        summary.seconds["write"] = time.perf_counter() - t
        summary.target = display_path(path)
    else:
        assert url is not None
        engine = db.make_engine(url)
        columns = transformation.output_columns(list(processed.columns))
        loads = [
            _raw_table(raw, result),
            _rejected_table(result),
            db.TableLoad(f"bookings_{version}", processed, columns),
        ]
        summary.seconds["write"] = db.replace_tables(engine, loads)
        engine.dispose()
        target = make_url(url).render_as_string(hide_password=True)
        summary.target = f"bookings_{version}, bookings_raw, bookings_rejected in {target}"
    summary.seconds["total"] = time.perf_counter() - started
    return summary


def _print_validation(result_report: dict) -> None:
    reasons = result_report.get("rejection_reasons", {})
    if reasons:
        print("rejected rows by reason:")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>7,}  {reason}")


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
    parser.add_argument("--timings-json", type=Path, help="also write the step timings to this JSON file")
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
    except (SourceError, ParamsError, DatabaseConfigError, ValueError) as exc:
        print(f"initialize-data: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(
            f"initialize-data: database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    report = json.loads(VALIDATION_REPORT.read_text())
    _print_validation(report)
    print("timings: " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in summary.seconds.items()))
    if ns.timings_json:
        write_atomic(ns.timings_json, json.dumps(summary.seconds).encode())
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
