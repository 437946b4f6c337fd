"""Test data for the dashboards: bookings loaded by the real ``initialize-data``, and logged
predictions as the API writes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from api import prediction_table
from api.tests.helpers import load_bookings as initialize_data
from api.tests.helpers import run_command
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, COLUMNS_BY_NAME
from data_engineering.src.synthetic import with_booking_ids, write_frame
from data_engineering.src.validate import records_to_columns, validate
from data_engineering.transformation import get_transformation
from streamlit_apps.lib.sql import BOOKINGS

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ID_SENT, REPRICED, NOT_LOADED = 15, 5, 3  # predictions sent with an id (see make_predictions)
# The days score-db re-scores the bookings on the books as of (the generated arrivals run from
# July 2015 to August 2017): the Forecast page's newest day and one to replay.
SCORED_DAYS = (dt.date(2017, 3, 1), dt.date(2017, 4, 1))


def raw_booking(row: pd.Series, variant: int) -> dict[str, Any]:
    """A dataset row as an API client sends it: ids as numbers or null, and, in some variants,
    the raw spellings v1 cleans (meal 'Undefined', country 'CN', children missing, an id as text)."""
    booking: dict[str, Any] = {}
    for name in BOOKING_FIELDS:
        value, kind = row[name], COLUMNS_BY_NAME[name].kind
        if name in ("agent", "company"):
            booking[name] = None if value == "none" else int(value)
        elif kind == "int":
            booking[name] = int(value)
        elif kind == "float":
            booking[name] = float(value)
        else:
            booking[name] = str(value)
    if booking["meal"] == "SC" and variant % 2 == 0:
        booking["meal"] = "Undefined"
    if booking["country"] == "CHN" and variant % 2 == 1:
        booking["country"] = "CN"
    if booking["country"] == "UNK":
        booking["country"] = None
    if booking["children"] == 0 and variant % 3 == 0:
        booking["children"] = None
    if variant % 5 == 0:
        booking["agent"] = (
            None if booking["agent"] is None else f"{booking['agent']}.0"
        )  # text, as a CSV has it
    return booking


def logged_form(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bookings as the API logs them: through the one validator and the cleaning, with the
    booking_id sent (or null) and the day each was judged as of (its booking date)."""
    names = [*BOOKING_FIELDS, BOOKING_ID]
    validated = validate(records_to_columns(raw, names), names)
    assert not len(validated.rejected), validated.reasons[:3]
    features = get_transformation("v2").transform(validated.columns)
    columns = [features[name].tolist() for name in BOOKING_FIELDS]
    ids = validated.columns[BOOKING_ID].tolist()
    days = np.datetime_as_string(features["booking_date"], unit="D").tolist()
    return [
        {**dict(zip(BOOKING_FIELDS, row, strict=True)), BOOKING_ID: ids[k], AS_OF: days[k]}
        for k, row in enumerate(zip(*columns, strict=True))
    ]


def make_predictions(bookings: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """65 logged predictions: 40 of dataset bookings, then 25 of bookings made 900 days ahead
    (the dataset has none). The first 60 spread over the last 20 hours, the last 5 ten days ago;
    predictions 50-59 came in one /predict/batch call (one call id, the call's latency).

    Predictions 0-14 were sent with their booking's id (0-4 with a rate the hotel changed since:
    their 27 fields no longer match it, their id does); 15-17 with ids of bookings not loaded
    (their fields match one, but an id is what they are matched by); the others with no id.
    Probabilities are drawn at random; the second of every four copies the first (ties)."""
    rng = np.random.default_rng(seed)
    known = bookings.sample(40, random_state=seed)
    rows = []
    for i, (_, row) in enumerate(known.iterrows()):
        booking = raw_booking(row, i)
        if i < ID_SENT:
            booking[BOOKING_ID] = row[BOOKING_ID]
        if i < REPRICED:
            booking["adr"] = round(booking["adr"] + 7.5, 2)
        if ID_SENT <= i < ID_SENT + NOT_LOADED:
            booking[BOOKING_ID] = f"NOT-LOADED-{i}"
        rows.append(booking)
    for i, (_, row) in enumerate(bookings.sample(25, random_state=seed + 1).iterrows()):
        booking = raw_booking(row, i)
        booking["lead_time"] = 900
        rows.append(booking)
    count = len(rows)
    probability = np.round(rng.uniform(0.02, 0.98, count), 4)
    probability[1::4] = probability[::4][: len(probability[1::4])]  # ties: ranks the ROC AUC must share
    recent = NOW - pd.to_timedelta(np.linspace(0, 20 * 3600, 60).astype(int), unit="s")
    old = [NOW - dt.timedelta(days=10, hours=h) for h in range(5)]
    created = [*recent.to_pydatetime(), *old]
    latency = np.round(rng.uniform(2, 60, count), 2)
    request_ids = [f"req-{i:03d}" for i in range(count)]
    calls, sizes = list(request_ids), [1] * count
    batch = range(50, 60)
    for i in batch:
        created[i], latency[i], calls[i], sizes[i] = created[50], 480.0, "batch-1", len(batch)
    return pd.DataFrame(
        {
            "request_id": request_ids,
            "created_at": created,
            "model_name": "hotel-cancellation",
            "model_version": "1",
            "booking": logged_form(rows),
            "cancel_probability": probability,
            "will_cancel": probability >= 0.4,
            "threshold": 0.4,
            "latency_ms": latency,
            "call_id": calls,
            "batch_size": sizes,
        }
    )


def insert_predictions(url: str, frame: pd.DataFrame) -> None:
    engine = sa.create_engine(url)
    # The API's own table definition: the dashboards read exactly what the API writes.
    metadata, table = prediction_table.metadata, prediction_table.predictions
    # Plain Python values: the driver does not adapt numpy's bool.
    records = [
        {str(k): v.item() if isinstance(v, np.generic) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(table.insert(), records)
    engine.dispose()


def export_with_ids(source: Path, workspace: Path) -> Path:
    """The generated bookings as a hotel's system exports them: each with its reservation id."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    return write_frame(workspace / "export.csv", with_booking_ids(frame))


def score_days(url: str, workspace: Path, tracking_uri: str, days: tuple[dt.date, ...]) -> None:
    """``./cli.sh score-db --as-of DAY`` for each day, with the trained champion."""
    env = {"HOTEL_WORKSPACE": str(workspace), "DATABASE_URL": url, "MLFLOW_TRACKING_URI": tracking_uri}
    for day in days:
        run_command("data_science.score_db", "--as-of", day.isoformat(), env=env)


def load_bookings(url: str, workspace: Path, source: Path) -> pd.DataFrame:
    """``initialize-data db`` as users run it (the pipeline's version, the table the dashboards
    read), then the loaded table (the tests' oracle)."""
    initialize_data(url, source, workspace)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql_query(sa.text(f"SELECT * FROM {BOOKINGS}"), conn)
    engine.dispose()
    return frame
