"""``./cli.sh score-db [--env ENV] [--as-of DATE] [--model-uri URI]``: re-score the bookings on the books.

Every booking on the books at the end of the day (default: today, UTC; ``--as-of`` replays
another day) — made by then, arriving after it, not cancelled on or before it — is scored as of
that day with the champion, from the raw text in ``bookings_raw`` (the same validation, features
and answer as ``predict-batch``), and appended to ``booking_scores``:
``booking_id, as_of, model_name, model_version, cancel_probability, will_cancel, scored_at``.

``booking_scores`` keeps the history, one row per booking, as-of day and model version: a booking
made months ahead is re-scored every day as its arrival approaches, and a cancellation recorded by
a later load (``initialize-data`` updates a booking by its id) takes it off the books from then
on. Rerunning the same day adds nothing; two runs at once add each row once. Run daily by the
Airflow DAG ``hotel_score_bookings``. Rows are read, scored and written a chunk at a time, so
memory does not grow with the number of bookings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.engine import make_engine
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.messages import first_line, masked
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.progress import progress
from data_engineering.src.run_lock import exclusive
from data_engineering.src.settings import ENVIRONMENTS, SettingsError, database_url
from data_science.answers import Answers
from data_science.booking_scores import (
    SCORES_KEY,
    SCORES_TABLE,
    Outcome,
    ScoresRun,
    chunks_of,
    count_rows,
    on_the_books_query,
    scores_table,
)

# Re-exported (PEP 484's `X as X`): the forecast route catches score-db's refusal by this name.
from data_science.booking_scores import NoBookingsError as NoBookingsError  # noqa: PLC0414
from data_science.engines import (
    SparkUnavailableError,
    add_engine_arguments,
    check_engine_arguments,
    check_spark,
    spark_session,
)
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.nightly import no_stays, stays
from data_science.predict_batch import as_of_date
from data_science.tracking import NoModelError, default_model_uri, resolve


def answers_on_the_books(
    model: CancellationModel, engine: sa.Engine, day: dt.date, version: str, *, desc: str
) -> Iterator[Answers]:
    """The model's answers for the loaded bookings on the books at the end of ``day``, as of it,
    a chunk at a time (with progress)."""
    query = on_the_books_query(engine, day, version)
    with progress(total=count_rows(engine, query), desc=desc, unit="rows") as bar:
        for columns in chunks_of(engine, query):
            answers = model.answer(columns, as_of=np.datetime64(day, "D"))
            bar.update(answers.rows_in)
            yield answers


def stays_on_the_books(
    model: CancellationModel, engine: sa.Engine, day: dt.date, version: str | None = None
) -> pd.DataFrame:
    """The nightly forecast's input (``nightly.stays``) for the loaded bookings on the books at the
    end of ``day``, scored as of it (``bookings_<version>``: default the model's)."""
    parts = [
        stays(answers.features, answers.probability)
        for answers in answers_on_the_books(
            model, engine, day, version or model.transformation, desc="forecast"
        )
    ]
    return pd.concat(parts, ignore_index=True) if parts else no_stays()


def spark_scores(job: ScoresRun, model: CancellationModel, bundle: Path, master: str | None) -> Outcome:
    """``--engine spark``: the same scores, appended by Spark's tasks (``spark_batch``)."""
    from data_science import spark_batch  # pyspark: an optional dependency

    with spark_session(master, "score-db") as spark:
        return spark_batch.score_on_the_books(spark, job, model, spark_batch.pyfunc_root(bundle))


def run(
    env: str | None,
    model_uri: str | None,
    day: dt.date,
    *,
    scoring_engine: str = "python",
    master: str | None = None,
) -> tuple[Outcome, str]:
    if scoring_engine == "spark":
        check_spark(master)  # before anything slow: pyspark, Java, the master
    url = database_url(env)
    version = read_section("transform", TransformParams).version
    engine = make_engine(url)
    try:
        query = on_the_books_query(engine, day, version)
        total = count_rows(engine, query)
        outcome = Outcome(on_the_books=total)
        if not total:
            return outcome, f"score-db: no booking on the books at the end of {day} in {masked(url)}"
        resolved = resolve(model_uri)
        model = CancellationModel.load(resolved.local_dir)
        table = scores_table(engine)
        job = ScoresRun(
            url,
            day,
            version,
            (resolved.name or resolved.uri, resolved.version or ""),
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if scoring_engine == "spark":
            done = spark_scores(job, model, resolved.local_dir, master)
            outcome.scored, outcome.added = done.scored, done.added
            outcome.flagged, outcome.probability_sum = done.flagged, done.probability_sum
            outcome.invalid = total - done.scored
        else:
            # SQLite locks the whole file: a write cannot commit while the read's cursor is open on
            # another connection ("database is locked"), so there the scores (7 columns) are
            # written once every booking has been read; PostgreSQL writes each chunk as it comes.
            held: list[pa.Table] | None = [] if engine.dialect.name == "sqlite" else None
            for answers in answers_on_the_books(model, engine, day, version, desc="score-db"):
                chunk = job.rows(answers.booking_id, answers.probability, answers.will_cancel)
                if held is None:
                    outcome.added += db.insert_missing(engine, table, chunk, SCORES_KEY)
                else:
                    held.append(chunk)
                outcome.scored += len(answers.accepted)
                outcome.flagged += int(answers.will_cancel.sum())
                outcome.invalid += len(answers.rejected)
                outcome.probability_sum += float(answers.probability.sum())
            for chunk in held or []:
                outcome.added += db.insert_missing(engine, table, chunk, SCORES_KEY)
    finally:
        engine.dispose()
    expected = outcome.probability_sum
    text = (
        f"score-db: {outcome.scored:,} bookings on the books at the end of {day} scored with {resolved.name} "
        f"version {resolved.version}: {outcome.added:,} new rows in {SCORES_TABLE} of {masked(url)}"
        + (" (this day was scored already)" if outcome.scored and not outcome.added else "")
        + f"; {expected:,.1f} expected to cancel, {outcome.flagged:,} predicted to; {outcome.invalid:,} invalid"
    )
    return outcome, text


def _say_waiting() -> None:
    print("score-db: another score-db is running on this database: waiting for it to finish", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh score-db", description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS)
    parser.add_argument(
        "--as-of",
        type=as_of_date,
        metavar="YYYY-MM-DD",
        help="score the bookings on the books at the end of this day (default: today, UTC)",
    )
    parser.add_argument("--model-uri", help=f"default {default_model_uri()}")
    add_engine_arguments(parser)
    ns = parser.parse_args(argv)
    check_engine_arguments(parser, ns)
    day = ns.as_of.astype(dt.date) if ns.as_of is not None else dt.datetime.now(dt.UTC).date()
    try:
        with exclusive(database_url(ns.env), "score-db", waiting=_say_waiting):  # one run at a time
            _, text = run(ns.env, ns.model_uri, day, scoring_engine=ns.engine, master=ns.spark_master)
    except (
        NoBookingsError,
        NoModelError,
        ModelBundleError,
        SettingsError,
        ParamsError,
        SparkUnavailableError,
    ) as exc:
        print(f"score-db: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"score-db: database error: {first_line(exc)}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
