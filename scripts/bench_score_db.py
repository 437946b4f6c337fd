"""``./cli.sh bench-score-db [--rows N] [--env ENV]``: the nightly re-scoring against the bare work.

Loads ``--rows`` bookings still on the books (default one million: generated, each with a
reservation id and no outcome, arriving within the year after the as-of day) into a schema of
its own in the environment's PostgreSQL with ``initialize-data db``, then measures in one run:

  ours   ``python -m data_science.score_db --as-of DAY`` as a user runs it (a subprocess): every
         booking read from the database, validated, transformed, scored as of the day by the
         champion and appended to ``booking_scores``; its wall time and peak resident memory;
  bare   the same rows' text copied out of PostgreSQL into Arrow (``COPY ... TO STDOUT``), the
         champion booster's ``inplace_predict`` of a float32 matrix of their shape, and one
         result row per booking copied back in (``COPY ... FROM STDIN``): nothing validated,
         transformed or calibrated.

and prints rows/s, peak RSS and ours/bare. Targets (issue 17): <= 120 s for a million bookings,
with memory that does not grow with them (<= 1,200 MB). The schema is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_engineering.src.environment import child_environment  # noqa: E402
from scripts.measure import run_measured  # noqa: E402

DAY = pd.Timestamp("2018-01-01")  # the as-of day: every generated booking is on the books then


def on_the_books(rows: int) -> pd.DataFrame:
    """``rows`` bookings made by ``DAY``, arriving in the year after it, with no outcome yet."""
    from data_engineering.src.schema import NON_BOOKING_COLUMNS
    from data_engineering.src.synthetic import make_bookings

    start = (DAY + pd.Timedelta(days=1)).date()
    frame = make_bookings(rows, seed=5, start=start, end=(DAY + pd.Timedelta(days=365)).date())
    arrival = pd.to_datetime(
        frame["arrival_date_year"]
        + "-"
        + frame["arrival_date_month"]
        + "-"
        + frame["arrival_date_day_of_month"],
        format="%Y-%B-%d",
    )
    # Booked at least a day before DAY: lead time = days from DAY to arrival + the drawn lead time.
    frame["lead_time"] = (
        ((arrival - DAY).dt.days + frame["lead_time"].astype(int)).clip(upper=1000).astype(str)
    )
    frame = frame.drop(columns=list(NON_BOOKING_COLUMNS))
    frame.insert(0, "booking_id", [f"B{i:08d}" for i in range(rows)])
    return frame


def bare_work(url: str, booster: object, width: int) -> dict[str, float]:
    """COPY the rows out into Arrow, predict a matrix of their shape, COPY one row each back in."""
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sqlalchemy.engine import make_url

    from data_engineering.src.schema import BOOKING_FIELDS

    parsed = make_url(url).set(drivername="postgresql")
    dsn = parsed.render_as_string(hide_password=False)
    columns = ", ".join(f'"{c}"' for c in ("booking_id", *BOOKING_FIELDS))
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        buffer = io.BytesIO()
        with conn.cursor().copy(
            f"COPY (SELECT {columns} FROM bookings_raw) TO STDOUT (FORMAT csv, HEADER)"
        ) as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        read = time.perf_counter() - started
        matrix = np.random.default_rng(0).random((table.num_rows, width), dtype=np.float32)
        started = time.perf_counter()
        probability = booster.inplace_predict(matrix, validate_features=False)  # type: ignore[attr-defined]
        predict = time.perf_counter() - started
        started = time.perf_counter()
        result = pa.table(
            {
                "booking_id": table["booking_id"],
                "as_of": pa.array([DAY.date()] * table.num_rows, pa.date32()),
                "cancel_probability": pa.array(probability, pa.float64()),
            }
        )
        sink = io.BytesIO()
        pacsv.write_csv(result, sink, pacsv.WriteOptions(include_header=False))
        conn.execute(
            "CREATE TEMPORARY TABLE bare_scores (booking_id text, as_of date, cancel_probability float8)"
        )
        with conn.cursor().copy("COPY bare_scores FROM STDIN (FORMAT csv)") as copy:
            copy.write(sink.getvalue())
        write = time.perf_counter() - started
    return {
        "rows": table.num_rows,
        "copy_out_seconds": read,
        "inplace_predict_seconds": predict,
        "copy_in_seconds": write,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh bench-score-db", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="bookings on the books (default 1,000,000)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ns = parser.parse_args(argv)

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from data_engineering.src.settings import database_url
    from data_engineering.src.synthetic import write_frame
    from data_science.model import CancellationModel
    from data_science.tracking import default_model_uri, resolve

    url = database_url(None)
    if make_url(url).get_backend_name() != "postgresql":
        print(
            "bench-score-db: needs PostgreSQL: run ./cli.sh setup-db test and pass --env test",
            file=sys.stderr,
        )
        return 1
    import tempfile

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    env = child_environment(DATABASE_URL=scoped, HOTEL_PROGRESS_SECONDS="600")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-score-db-") as tmp:
            work = Path(tmp)
            resolved = resolve(default_model_uri(), dst=work / "champion")
            model = CancellationModel.load(resolved.local_dir)
            started = time.perf_counter()
            source = write_frame(work / "on_the_books.csv", on_the_books(ns.rows))
            env["HOTEL_BOOKINGS_SOURCE"] = str(source)
            run_measured(
                [sys.executable, "-m", "data_engineering.src.initialize_data", "db"], cwd=ROOT, env=env
            )
            print(
                f"bench-score-db: {ns.rows:,} bookings on the books at the end of {DAY.date()} generated and loaded in "
                f"{time.perf_counter() - started:.0f}s; model {resolved.uri} version {resolved.version}"
            )
            bare = bare_work(scoped, model.booster, len(model.feature_names))
            bare_seconds = (
                bare["copy_out_seconds"] + bare["inplace_predict_seconds"] + bare["copy_in_seconds"]
            )
            print(
                f"bare:  COPY out {bare['copy_out_seconds']:.2f}s + inplace_predict {bare['inplace_predict_seconds']:.2f}s"
                f" + COPY in {bare['copy_in_seconds']:.2f}s = {bare_seconds:.2f}s"
            )
            mine = run_measured(
                [sys.executable, "-m", "data_science.score_db", "--as-of", str(DAY.date())], cwd=ROOT, env=env
            )
            print(mine.stdout.strip())
            ratio = mine.seconds / bare_seconds
            print(
                f"ours:  score-db {mine.seconds:.1f}s ({ns.rows / mine.seconds:,.0f} rows/s), peak RSS "
                f"{mine.peak_rss_mb:,.0f} MB -> {ratio:.2f}x the bare work (targets: <= 120 s, <= 1,200 MB)"
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    report = {
        "rows": ns.rows,
        "bare": bare,
        "seconds": mine.seconds,
        "peak_rss_mb": mine.peak_rss_mb,
        "ratio": ratio,
    }
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if mine.seconds <= 120 and mine.peak_rss_mb <= 1200 else 1


if __name__ == "__main__":
    sys.exit(main())
