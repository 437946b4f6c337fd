"""``./cli.sh forecast [IN.csv] OUT.csv --as-of DATE``: cancellations per hotel and night, to overbook on.

The bookings on the books at the end of the as-of day — those of IN.csv, or without it the
loaded bookings of the database — are scored as of that day by the champion, and summed per
hotel and stay night over the next ``--horizon-days`` nights: rooms on the books, expected
cancellations with their 80% interval, rooms expected to stay, revenue at risk, and, where the
capacity file gives the hotel's rooms, how many to overbook (``data_science.nightly`` and
``data_science.forecast``). Rows of IN.csv that are not on the books that day (booked later,
arrived, cancelled on or before it) or invalid go to ``OUT.csv.rejected.csv`` with their reasons.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src.engine import make_engine
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.writing import CsvSink, write_csv
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.messages import first_line
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.progress import progress
from data_engineering.src.schema import ColumnsError
from data_engineering.src.settings import ENVIRONMENTS, SettingsError, database_url
from data_engineering.src.validate import LINE_COLUMN, REASONS_COLUMN
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.answers import Answers
from data_science.batch_outputs import answer_chunk, rejected_path, rejected_rows
from data_science.hotels import HotelsFileError, capacity_file, load_hotels
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.nightly import forecast, no_stays, stays
from data_science.predict_batch import as_of_date
from data_science.score_db import NoBookingsError, stays_on_the_books
from data_science.tracking import NoModelError, default_model_uri, resolve


def _stays_of(answers: Answers) -> pd.DataFrame:
    return stays(answers.features, answers.probability)


def from_file(
    model: CancellationModel, path: Path, day: np.datetime64, rejected: Path, outside: OutsideVocabulary
) -> tuple[pd.DataFrame, int, int]:
    """The stays of the bookings in ``path`` on the books at the end of ``day``; the others go to
    ``rejected`` with their reasons. Returns (stays, rows in, rows refused)."""
    parts, refused = [], 0
    with RawReader(path, scoring=True) as reader:
        columns = list(reader.header)
        text = [(name, pa.string()) for name in columns]
        sink = CsvSink(rejected, pa.schema([(LINE_COLUMN, pa.int64()), *text, (REASONS_COLUMN, pa.string())]))
        try:
            with progress(total=reader.size, desc="forecast", unit="B", unit_scale=True) as bar:
                for chunk in reader:
                    answers = answer_chunk(chunk, model, day)
                    outside.add(answers.problems)
                    parts.append(_stays_of(answers))
                    sink.write(rejected_rows(chunk, columns, answers))
                    bar.set(reader.position)
        except BaseException:
            sink.abort()
            raise
    refused = sink.rows
    if refused:
        sink.commit()
    else:
        sink.abort()
        rejected.unlink(missing_ok=True)
    frame = pd.concat(parts, ignore_index=True) if parts else no_stays()
    return frame, len(frame) + refused, refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./cli.sh forecast",
        description="Cancellations per hotel and night among the bookings on the books, with overbooking advice.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="[IN.csv] OUT.csv")
    parser.add_argument("--as-of", type=as_of_date, required=True, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--horizon-days", type=int, default=90, help="nights after the as-of day (default 90)"
    )
    parser.add_argument(
        "--env", choices=ENVIRONMENTS, help="without IN.csv: the database set up by setup-db ENV"
    )
    parser.add_argument("--model-uri", help=f"default {default_model_uri()}")
    ns = parser.parse_args(argv)
    if len(ns.files) > 2:
        parser.error("at most two files: [IN.csv] OUT.csv")
    if ns.horizon_days < 1:
        parser.error("--horizon-days must be at least 1")
    source, output = (ns.files[0], ns.files[1]) if len(ns.files) == 2 else (None, ns.files[0])
    if source is not None and source.resolve() == output.resolve():
        parser.error("OUT.csv must differ from IN.csv")
    day = ns.as_of.astype(dt.date)
    first, last = (
        pd.Timestamp(day) + pd.Timedelta(days=1),
        pd.Timestamp(day) + pd.Timedelta(days=ns.horizon_days),
    )
    try:
        hotels = load_hotels()  # a bad capacity file stops here, before any work
        resolved = resolve(ns.model_uri)
        model = CancellationModel.load(resolved.local_dir)
        outside = OutsideVocabulary()
        if source is not None:
            if not source.is_file():
                raise ValueError(f"{source} does not exist")
            bookings, rows_in, refused = from_file(model, source, ns.as_of, rejected_path(output), outside)
        else:
            engine = make_engine(database_url(ns.env))
            try:
                version = read_section("transform", TransformParams).version
                bookings = stays_on_the_books(model, engine, day, version)
            finally:
                engine.dispose()
            rows_in, refused = len(bookings), 0
        nights = forecast(bookings, first_night=first, last_night=last, hotels=hotels)
    except (
        NoModelError,
        ModelBundleError,
        HotelsFileError,
        NoBookingsError,
        SettingsError,
        ParamsError,
    ) as exc:
        print(f"forecast: error: {exc}", file=sys.stderr)
        return 1
    except (ColumnsError, ValueError) as exc:
        print(f"forecast: error: {exc}; nothing was written", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"forecast: database error: {first_line(exc)}", file=sys.stderr)
        return 1
    write_csv(nights, output)
    print(
        f"forecast: {len(bookings):,} bookings on the books at the end of {day} (of {rows_in:,}; {refused:,} not on "
        f"the books or invalid" + (f" -> {rejected_path(output)}" if refused else "") + f"), scored with "
        f"{resolved.name} version {resolved.version}: {nights['expected_cancellations'].sum():,.1f} cancellations "
        f"expected over {ns.horizon_days} nights and {nights['hotel'].nunique()} hotel(s) -> {output}"
    )
    for note in sorted(set(nights["note"].dropna())):
        print(f"forecast: note: {note} (capacities: {capacity_file()})")
    if outside.rows:
        print(f"forecast: warning: {outside.message(rows_in)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
