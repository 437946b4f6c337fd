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
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.ingest import NoValidRowsError, print_reasons, report_vocabulary
from data_engineering.src.ingest_source import IngestParams, SourceError, resolve_source
from data_engineering.src.ingest_staging import stage
from data_engineering.src.load_chunks import read_validate_transform
from data_engineering.src.load_targets import SHRINK_ENV, load_database, refuse_shrink
from data_engineering.src.messages import first_line
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import (
    RAW_FILE,
    VALIDATION_REPORT,
    display_path,
    processed_file,
)
from data_engineering.src.schema import BOOKING_ID, ColumnsError
from data_engineering.src.settings import ENVIRONMENTS, SettingsError, database_url
from data_engineering.src.vocabulary import OutsideVocabulary
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
    report: dict[str, Any] = field(default_factory=dict)  # what reports/data_validation.json holds
    outside_vocabulary: str = ""  # which values the vocabulary lacks, and what to do (or "")

    def line(self) -> str:
        return (
            f"initialize-data {self.version} -> {self.destination}: {self.rows_in:,} rows in, "
            f"{self.rows_loaded:,} loaded, {self.rows_rejected:,} rejected -> {self.target} "
            f"({self.seconds.get('total', 0):.2f}s)"
        )


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
        report, tables, csv_sink, rejected_sink, columns = read_validate_transform(
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
                refuse_shrink(version, url, summary.rows_loaded)
            # The point of no return: the tables, then every file, each put in place at once.
            if url is not None:
                summary.target = load_database(url, transformation, columns, tables)
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
