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

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from data_engineering.src import db
from data_engineering.src.settings import ENVIRONMENTS, DatabaseConfigError, database_url
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN
from data_science.model import CancellationModel
from data_science.predict_batch import score
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


class NoBookingsError(RuntimeError):
    pass


def unscored(engine: sa.Engine) -> pd.DataFrame:
    inspector = sa.inspect(engine)
    if not inspector.has_table("bookings_raw"):
        raise NoBookingsError(
            "no bookings_raw table: load bookings first with ./cli.sh initialize-data v2 db"
        )
    db.create_table_if_missing(engine, SCORES_TABLE, SCORES_COLUMNS)
    rejected = (
        "AND r.booking_id NOT IN (SELECT booking_id FROM bookings_rejected)"
        if inspector.has_table("bookings_rejected")
        else ""
    )
    query = f"""
        SELECT r.* FROM bookings_raw r
        LEFT JOIN {SCORES_TABLE} s ON s.booking_id = r.booking_id
        WHERE s.booking_id IS NULL {rejected}
        ORDER BY r.{LINE_COLUMN}
    """
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(query), conn, dtype="str")


def run(env: str | None, model_uri: str | None) -> str:
    url = database_url(env)
    engine = db.make_engine(url)
    raw = unscored(engine)
    if raw.empty:
        return f"score-db: nothing to score in {make_url(url).render_as_string(hide_password=True)}"
    resolved = resolve(model_uri)
    model = CancellationModel.load(resolved.local_dir)
    raw[LINE_COLUMN] = raw[LINE_COLUMN].astype("int64")
    ids = raw.set_index(LINE_COLUMN)[ID_COLUMN].astype("int64")
    result = score(raw.drop(columns=[ID_COLUMN]), model)
    scores = pd.DataFrame(
        {
            ID_COLUMN: ids.loc[result.scored[LINE_COLUMN]].to_numpy(),
            "model_name": resolved.name or resolved.uri,
            "model_version": resolved.version or "",
            "cancel_probability": result.scored["cancel_probability"].to_numpy(),
            "will_cancel": result.scored["will_cancel"].to_numpy(),
            "scored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    db.append_rows(engine, SCORES_TABLE, scores, SCORES_COLUMNS)
    engine.dispose()
    return (
        f"score-db: scored {len(scores):,} new bookings with {resolved.name} version {resolved.version} "
        f"({int(scores['will_cancel'].sum()):,} predicted to cancel); {len(result.rejected):,} invalid"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh score-db", description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS)
    parser.add_argument("--model-uri", help=f"default {default_model_uri()}")
    ns = parser.parse_args(argv)
    try:
        print(run(ns.env, ns.model_uri))
    except (NoBookingsError, NoModelError, DatabaseConfigError) as exc:
        print(f"score-db: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"score-db: database error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
