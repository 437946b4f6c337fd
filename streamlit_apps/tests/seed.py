"""Test data for the dashboards: bookings loaded by the real ``initialize-data``, and logged
predictions as the API writes them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from api import prediction_log
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def raw_booking(row: pd.Series, variant: int) -> dict[str, Any]:
    """A dataset row as an API client sends it: ids as numbers or null, and, in some variants,
    the raw spellings v1 cleans (meal 'Undefined', country 'CN', children or week missing)."""
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
        booking["arrival_date_week_number"] = None
    return booking


def make_predictions(bookings: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """65 logged predictions: 40 of dataset bookings, then 25 of bookings made 900 days ahead
    (the dataset has none). The first 60 spread over the last 20 hours, the last 5 ten days ago."""
    rng = np.random.default_rng(seed)
    known = bookings.sample(40, random_state=seed)
    rows = []
    for i, (_, row) in enumerate(known.iterrows()):
        rows.append(raw_booking(row, i))
    for i, (_, row) in enumerate(bookings.sample(25, random_state=seed + 1).iterrows()):
        booking = raw_booking(row, i)
        booking["lead_time"] = 900
        rows.append(booking)
    count = len(rows)
    probability = np.round(rng.uniform(0.02, 0.98, count), 4)
    recent = NOW - pd.to_timedelta(np.linspace(0, 20 * 3600, 60).astype(int), unit="s")
    old = [NOW - dt.timedelta(days=10, hours=h) for h in range(5)]
    return pd.DataFrame(
        {
            "request_id": [f"req-{i:03d}" for i in range(count)],
            "created_at": [*recent.to_pydatetime(), *old],
            "model_name": "hotel-cancellation",
            "model_version": "1",
            "booking": rows,
            "cancel_probability": probability,
            "will_cancel": probability >= 0.4,
            "threshold": 0.4,
            "latency_ms": np.round(rng.uniform(2, 60, count), 2),
        }
    )


def insert_predictions(url: str, frame: pd.DataFrame) -> None:
    engine = sa.create_engine(url)
    # The API's own table definition: the dashboards read exactly what the API writes.
    metadata, table = prediction_log.metadata, prediction_log.predictions
    # Plain Python values: the driver does not adapt numpy's bool.
    records = [
        {k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(table.insert(), records)
    engine.dispose()


def load_bookings(url: str, workspace: Path, source: Path) -> pd.DataFrame:
    """``initialize-data v2 db`` as users run it, then the loaded table (the tests' oracle)."""
    env = {
        **os.environ,
        "HOTEL_WORKSPACE": str(workspace),
        "HOTEL_BOOKINGS_SOURCE": str(source),
        "DATABASE_URL": url,
    }
    env.pop("APP_ENV", None)
    result = subprocess.run(
        [sys.executable, "-m", "data_engineering.src.initialize_data", "v2", "db"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"initialize-data failed:\n{result.stdout}\n{result.stderr}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql_query(sa.text("SELECT * FROM bookings_v2"), conn)
    engine.dispose()
    return frame
