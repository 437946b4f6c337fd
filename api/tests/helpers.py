"""Helpers of the API tests: bookings, settings and the prediction log (fixtures live in
conftest.py; servers.py starts servers, traffic.py keeps them busy)."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from api.booking_schema import bookings_as_json
from api.settings import Settings
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.validate import validate
from data_science.tracking import CHAMPION, MODEL_NAME

# The prediction log's writer (api/prediction_log.py names its thread so): the one thread that
# may reach the database on behalf of answered predictions.
LOG_WRITER_THREAD = "prediction-log"


@contextmanager
def connection_attempts() -> Iterator[Counter[str]]:
    """Database connection attempts of every engine of this process while inside, by the name of
    the thread that made them. Counted before the driver is called, so attempts that fail (a
    stopped server) count too."""
    attempts: Counter[str] = Counter()

    def count(*_: object) -> None:
        attempts[threading.current_thread().name] += 1

    sa.event.listen(sa.Engine, "do_connect", count)
    try:
        yield attempts
    finally:
        sa.event.remove(sa.Engine, "do_connect", count)


def answered_without_the_database(attempts: Counter[str], ready: Callable[[], object]) -> None:
    """``attempts`` (counted while predictions were answered) came from the log's writer only; and
    ``ready()`` (a /ready, which checks the database on a request thread) is counted, so the
    counter does see request threads: it would have caught a prediction that waited for one."""
    during = Counter(attempts)
    assert set(during) <= {LOG_WRITER_THREAD}, f"requests tried the database: {dict(during)}"
    ready()
    others = {name: n for name, n in attempts.items() if name != LOG_WRITER_THREAD}
    assert others, "the /ready check was not counted: the counter sees no request thread"


def logged_counts(url: str, ids: Sequence[str | None]) -> Counter[str]:
    """How many rows of the predictions table each of these request ids has (absent: none)."""
    from api.prediction_table import predictions

    engine = sa.create_engine(url)
    found: Counter[str] = Counter()
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                query = sa.select(predictions.c.request_id).where(
                    predictions.c.request_id.in_(ids[start : start + 1000])
                )
                found.update(conn.execute(query).scalars())
    finally:
        engine.dispose()
    return found


def logged_ids(url: str, ids: Sequence[str | None]) -> set[str]:
    """Which of these request ids are in the predictions table."""
    return set(logged_counts(url, ids))


def json_bookings(raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Bookings of a text frame (as ``pd.read_csv(dtype=str)`` reads the file), validated, as a
    JSON client sends them."""
    import pyarrow as pa

    validated = validate({c: pa.array(raw[c].tolist(), pa.string()) for c in BOOKING_FIELDS}, BOOKING_FIELDS)
    return bookings_as_json(validated.columns)


def run_command(module: str, *args: str, env: dict[str, str]) -> str:
    """``python -m module args`` as ``./cli.sh`` runs it (from the repository root, with ``env``
    over this environment and no ``APP_ENV``), which must succeed; its output."""
    full = {k: v for k, v in os.environ.items() if k != "APP_ENV"} | env
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{module} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def load_bookings(url: str, source: Path, workspace: Path) -> str:
    """``./cli.sh initialize-data db`` of ``source`` into ``url`` (the pipeline's version, as a user
    runs it); its output."""
    env = {"DATABASE_URL": url, "HOTEL_BOOKINGS_SOURCE": str(source), "HOTEL_WORKSPACE": str(workspace)}
    return run_command("data_engineering.src.initialize_data", "db", env=env)


def text_dates(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(arrival, booking date) of bookings as the file's text has them (year, English month name,
    day; lead time), computed here with pandas, not with the platform's date helpers."""
    months = {name: number for number, name in enumerate(calendar.month_name) if name}
    arrival = pd.to_datetime(
        {
            "year": rows["arrival_date_year"].astype(int),
            "month": rows["arrival_date_month"].map(months),
            "day": rows["arrival_date_day_of_month"].astype(int),
        }
    )
    return arrival, arrival - pd.to_timedelta(rows["lead_time"].astype(int), unit="D")


def on_the_books(rows: pd.DataFrame, day: dt.date) -> pd.Series:
    """Which bookings of a file's text were on the books at the end of ``day``: made by then,
    arriving later, not cancelled (nor marked a no-show) on or before it."""
    arrival, booked = text_dates(rows)
    left = rows["reservation_status"].isin(["Canceled", "No-Show"]) & (
        pd.to_datetime(rows["reservation_status_date"]) <= pd.Timestamp(day)
    )
    books: pd.Series = (booked <= pd.Timestamp(day)) & (arrival > pd.Timestamp(day)) & ~left
    return books


def api_settings(log_url: str, **overrides: Any) -> Settings:
    """Explicit settings, so that a developer's API_* variables cannot change a test."""
    values: dict[str, Any] = {
        "model_uri": f"models:/{MODEL_NAME}@{CHAMPION}",
        "database_url": log_url,
        "admin_key": None,
        "reasons": 3,
        "prediction_log": True,
        "log_flush_seconds": 0.05,
        "log_retry_max_seconds": 0.5,
        "db_timeout_seconds": 2.0,
        "model_refresh_seconds": 0,  # tests that want the champion watcher say so
        "estimate_seconds": 0,  # ... and those that want the estimated ROC AUC of the answers
        "keys": None,  # /predict open: the key tests set keys themselves
        "keys_file": None,
        "require_key": False,
    }
    return Settings(**(values | overrides))
