"""``./cli.sh score-db [--env ENV]``: score the loaded bookings that have no score yet.

Reads the raw text of bookings from ``bookings_raw`` that are neither in ``booking_scores`` nor
rejected, scores them with the champion (the same validation and features as ``predict-batch``),
and appends ``booking_id, model_name, model_version, cancel_probability, will_cancel, scored_at``
to ``booking_scores``. Run daily by the Airflow DAG ``hotel_score_bookings``; idempotent (a booking
is scored once; rerunning the same day scores nothing new).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.messages import first_line, masked
from data_engineering.src.progress import progress
from data_engineering.src.run_lock import exclusive
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.settings import ENVIRONMENTS, SettingsError, database_url
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN, records_to_columns, validate
from data_science.model import CancellationModel, ModelBundleError
from data_science.tracking import NoModelError, default_model_uri, resolve

SCORES_TABLE = "booking_scores"
SCORES_COLUMNS = {
    ID_COLUMN: "int",
    "model_name": "text",
    "model_version": "text",
    "cancel_probability": "float",
    "will_cancel": "int",
    "scored_at": "text",
}
CHUNK_ROWS = 50_000


class NoBookingsError(RuntimeError):
    pass


def unscored_query(engine: sa.Engine) -> sa.Select[*tuple[Any, ...]]:
    """Raw bookings with no score yet and not rejected at load, in file order."""
    inspector = sa.inspect(engine)
    if not inspector.has_table("bookings_raw"):
        raise NoBookingsError(
            "no bookings_raw table: load bookings first with ./cli.sh initialize-data v2 db"
        )
    db.create_table_if_missing(engine, SCORES_TABLE, SCORES_COLUMNS)
    metadata = sa.MetaData()
    raw = sa.Table("bookings_raw", metadata, autoload_with=engine)
    scores = sa.Table(SCORES_TABLE, metadata, autoload_with=engine)
    fields = [raw.c[name] for name in BOOKING_FIELDS]
    query = (
        sa.select(raw.c[ID_COLUMN], *fields)
        .outerjoin(scores, scores.c[ID_COLUMN] == raw.c[ID_COLUMN])
        .where(scores.c[ID_COLUMN].is_(None))
        .order_by(raw.c[LINE_COLUMN])
    )
    if inspector.has_table("bookings_rejected"):
        rejected = sa.Table("bookings_rejected", metadata, autoload_with=engine)
        query = query.where(raw.c[ID_COLUMN].not_in(sa.select(rejected.c[ID_COLUMN])))
    return query


def run(env: str | None, model_uri: str | None) -> str:
    url = database_url(env)
    engine = db.make_engine(url)
    query = unscored_query(engine)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    if not total:
        engine.dispose()
        return f"score-db: nothing to score in {masked(url)}"
    resolved = resolve(model_uri)
    model = CancellationModel.load(resolved.local_dir)
    scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    scored = flagged = invalid = 0
    # Read in chunks (a server-side cursor on PostgreSQL), written after reading: appending to
    # booking_scores while the same query reads it would be a moving target.
    chunks = []
    with engine.connect() as conn, progress(total=total, desc="score-db", unit="rows") as bar:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            records = [row._mapping for row in rows]
            validated = validate(records_to_columns(records, BOOKING_FIELDS), BOOKING_FIELDS)
            scores = model.predict(validated.columns).probability
            decisions = model.decisions(scores)
            ids = np.array([records[i][ID_COLUMN] for i in validated.accepted], dtype=np.int64)
            chunks.append(
                pa.table(
                    {
                        ID_COLUMN: pa.array(ids, pa.int64()),
                        "model_name": pa.array([resolved.name or resolved.uri] * len(ids), pa.string()),
                        "model_version": pa.array([resolved.version or ""] * len(ids), pa.string()),
                        "cancel_probability": pa.array(scores, pa.float64()),
                        "will_cancel": pa.array(decisions, pa.int64()),
                        "scored_at": pa.array([scored_at] * len(ids), pa.string()),
                    }
                )
            )
            scored, flagged, invalid = (
                scored + len(ids),
                flagged + int(decisions.sum()),
                invalid + len(validated.rejected),
            )
            bar.update(len(rows))
    if chunks:
        db.append_rows(engine, SCORES_TABLE, pa.concat_tables(chunks), SCORES_COLUMNS)
    engine.dispose()
    return (
        f"score-db: scored {scored:,} new bookings with {resolved.name} version {resolved.version} "
        f"({flagged:,} predicted to cancel); {invalid:,} invalid"
    )


def _say_waiting() -> None:
    print("score-db: another score-db is running on this database: waiting for it to finish", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh score-db", description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS)
    parser.add_argument("--model-uri", help=f"default {default_model_uri()}")
    ns = parser.parse_args(argv)
    try:
        with exclusive(database_url(ns.env), "score-db", waiting=_say_waiting):  # one run at a time
            print(run(ns.env, ns.model_uri))
    except (NoBookingsError, NoModelError, ModelBundleError, SettingsError) as exc:
        print(f"score-db: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"score-db: database error: {first_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
