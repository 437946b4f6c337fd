"""Synthetic raw bookings for tests and CI: the real file's 32 columns, formats and quirks.

The real dataset may not be committed, so tests generate their data here. Cancellations follow
a known logistic rule (non-refundable deposits, long lead times and earlier cancellations raise
the risk; special requests and parking lower it), which lets the model tests check that a
trained model learned real structure, not noise.

The bookings use the public dataset's categories (its vocabulary) unless ``renamed`` gives other
names for them: ``OTHER_HOTEL_GROUP`` is a hotel group of its own, whose hotels, room types,
meal plans, segments, channels, deposit and customer types share no value with the public
dataset's. Renaming changes the names only, not the rule: a prepaid booking of the Harbour Inn
is as risky as a non-refundable one of the City Hotel.

    python -m data_engineering.src.synthetic OUT.csv [--rows N] [--seed S] [--other-hotel-group]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from data_engineering.src.schema import RAW_COLUMN_NAMES, VOCABULARIES, Month

_COUNTRIES = ["PRT", "GBR", "FRA", "ESP", "DEU", "ITA", "IRL", "BEL", "BRA", "NLD", "USA", "CHE", "CN"]
_COUNTRY_P = [0.40, 0.10, 0.09, 0.07, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02, 0.02, 0.08]
_SEGMENTS = ["Online TA", "Offline TA/TO", "Groups", "Direct", "Corporate", "Complementary", "Aviation"]
_SEGMENT_P = [0.47, 0.20, 0.16, 0.10, 0.045, 0.02, 0.005]
_CHANNEL = {
    "Online TA": "TA/TO",
    "Offline TA/TO": "TA/TO",
    "Groups": "TA/TO",
    "Direct": "Direct",
    "Corporate": "Corporate",
    "Complementary": "Direct",
    "Aviation": "Corporate",
}
_ROOMS = ["A", "D", "E", "F", "G", "B", "C", "H"]
_ROOM_P = [0.72, 0.16, 0.05, 0.025, 0.02, 0.01, 0.01, 0.005]
_MONTHS = [m.value for m in Month]
# What a booking still on the books has no value for yet: a hotel's export leaves these empty.
OUTCOME_COLUMNS = [
    "is_canceled",
    "reservation_status",
    "reservation_status_date",
    "assigned_room_type",
    "booking_changes",
]

# Vocabulary -> {the public dataset's value: this hotel group's}, for every value generated here.
OTHER_HOTEL_GROUP: dict[str, dict[str, str]] = {
    "hotel": {"City Hotel": "Harbour Inn", "Resort Hotel": "Alpine Lodge"},
    "meal": {
        "BB": "Breakfast",
        "HB": "Half Board",
        "FB": "Full Board",
        "SC": "Room Only",
        "Undefined": "Not Set",
    },
    "market_segment": {
        "Online TA": "OTA",
        "Offline TA/TO": "Tour Operator",
        "Groups": "Group Series",
        "Direct": "Walk-in",
        "Corporate": "Business Travel",
        "Complementary": "House Use",
        "Aviation": "Airline Crew",
    },
    "distribution_channel": {"TA/TO": "Agency", "Direct": "Website", "Corporate": "Corporate Desk"},
    "room_type": {
        "A": "S1",
        "B": "S2",
        "C": "S3",
        "D": "DLX",
        "E": "FAM",
        "F": "TWN",
        "G": "STE",
        "H": "PH",
    },
    "deposit_type": {"No Deposit": "Pay at Hotel", "Non Refund": "Prepaid", "Refundable": "Flexible"},
    "customer_type": {
        "Transient": "Individual",
        "Transient-Party": "Individual Linked",
        "Contract": "Allotment",
        "Group": "Tour Group",
    },
}


def make_bookings(
    rows: int = 2000,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2015, 7, 1),
    end: dt.date = dt.date(2017, 8, 31),
    renamed: Mapping[str, Mapping[str, str]] | None = None,
    reverse_risk: bool = False,
) -> pd.DataFrame:
    """A frame of text columns, exactly like ``pd.read_csv(path, dtype=str)`` of the real file.

    ``renamed`` maps a vocabulary (``schema.VOCABULARIES``: ``room_type`` covers both room
    columns) to new names for its values, e.g. ``OTHER_HOTEL_GROUP``. ``reverse_risk`` draws the
    outcomes from the opposite of the usual risk: a market that changed, where a model of
    earlier bookings ranks cancellations backwards (concept drift, for retraining tests)."""
    unknown = sorted(set(renamed or {}) - set(VOCABULARIES))
    if unknown:
        raise ValueError(f"unknown vocabularies {', '.join(unknown)}; known: {', '.join(VOCABULARIES)}")
    rng = np.random.default_rng(seed)
    span = (end - start).days
    arrival = pd.to_datetime(start) + pd.to_timedelta(rng.integers(0, span + 1, rows), unit="D")
    hotel = rng.choice(["City Hotel", "Resort Hotel"], rows, p=[0.66, 0.34])
    lead = np.minimum(rng.gamma(1.2, 80, rows).astype(int), 700)
    weekend = rng.poisson(0.9, rows)
    week = rng.poisson(2.4, rows)
    adults = rng.choice([1, 2, 3, 0], rows, p=[0.19, 0.75, 0.055, 0.005])
    children = rng.choice([0, 1, 2], rows, p=[0.93, 0.04, 0.03])
    babies = rng.choice([0, 1], rows, p=[0.99, 0.01])
    segment = rng.choice(_SEGMENTS, rows, p=_SEGMENT_P)
    deposit = np.where(
        (segment == "Groups") & (rng.random(rows) < 0.6),
        "Non Refund",
        rng.choice(["No Deposit", "Non Refund", "Refundable"], rows, p=[0.90, 0.085, 0.015]),
    )
    repeated = (rng.random(rows) < 0.03).astype(int)
    prev_cancel = np.where(rng.random(rows) < 0.05, rng.integers(1, 5, rows), 0)
    prev_ok = np.where(repeated == 1, rng.integers(1, 10, rows), 0)
    requests = rng.choice([0, 1, 2, 3], rows, p=[0.55, 0.28, 0.13, 0.04])
    parking = (rng.random(rows) < 0.06).astype(int)
    waiting = np.where(rng.random(rows) < 0.03, rng.integers(1, 120, rows), 0)
    customer = rng.choice(
        ["Transient", "Transient-Party", "Contract", "Group"], rows, p=[0.75, 0.21, 0.035, 0.005]
    )
    country = rng.choice(_COUNTRIES, rows, p=_COUNTRY_P)
    season = np.cos((arrival.day_of_year.to_numpy() - 200) / 365 * 2 * np.pi)
    adr = np.round(
        np.maximum(0, 95 + 35 * season + rng.normal(0, 25, rows) + 10 * (hotel == "City Hotel")), 2
    )

    logit = (
        -1.1
        + 3.0 * (deposit == "Non Refund")
        + 0.004 * lead
        + 1.2 * np.minimum(prev_cancel, 3)
        - 0.7 * requests
        - 3.0 * parking
        - 0.8 * repeated
        + 0.5 * (country == "PRT")
        + 0.3 * (segment == "Online TA")
        - 0.5 * (segment == "Corporate")
    )
    if reverse_risk:
        logit = -logit
    canceled = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    no_show = (canceled == 1) & (rng.random(rows) < 0.03)
    status = np.where(canceled == 0, "Check-Out", np.where(no_show, "No-Show", "Canceled"))
    stay_end = arrival + pd.to_timedelta(weekend + week, unit="D")
    cancel_day = arrival - pd.to_timedelta((rng.random(rows) * np.maximum(lead, 1)).astype(int), unit="D")
    status_date = np.where(canceled == 1, cancel_day.strftime("%Y-%m-%d"), stay_end.strftime("%Y-%m-%d"))
    room = rng.choice(_ROOMS, rows, p=_ROOM_P)
    assigned = np.where(rng.random(rows) < 0.12, rng.choice(_ROOMS, rows), room)
    agent = np.where(rng.random(rows) < 0.14, "NULL", rng.choice(["9", "240", "1", "14", "7", "6"], rows))
    company = np.where(rng.random(rows) < 0.94, "NULL", rng.choice(["40", "223", "67", "45"], rows))

    frame = pd.DataFrame(
        {
            "hotel": hotel,
            "is_canceled": canceled,
            "lead_time": lead,
            "arrival_date_year": arrival.year,
            "arrival_date_month": np.array(_MONTHS)[arrival.month - 1],
            "arrival_date_week_number": arrival.isocalendar().week.to_numpy(),
            "arrival_date_day_of_month": arrival.day,
            "stays_in_weekend_nights": weekend,
            "stays_in_week_nights": week,
            "adults": adults,
            "children": np.where(rng.random(rows) < 0.001, "NA", children.astype(str)),
            "babies": babies,
            "meal": rng.choice(["BB", "HB", "SC", "Undefined", "FB"], rows, p=[0.77, 0.12, 0.09, 0.01, 0.01]),
            "country": np.where(rng.random(rows) < 0.004, "NULL", country),
            "market_segment": segment,
            "distribution_channel": [_CHANNEL[s] for s in segment],
            "is_repeated_guest": repeated,
            "previous_cancellations": prev_cancel,
            "previous_bookings_not_canceled": prev_ok,
            "reserved_room_type": room,
            "assigned_room_type": assigned,
            "booking_changes": rng.choice([0, 1, 2], rows, p=[0.85, 0.11, 0.04]),
            "deposit_type": deposit,
            "agent": agent,
            "company": company,
            "days_in_waiting_list": waiting,
            "customer_type": customer,
            "adr": adr,
            "required_car_parking_spaces": parking,
            "total_of_special_requests": requests,
            "reservation_status": status,
            "reservation_status_date": status_date,
        }
    )
    assert tuple(frame.columns) == RAW_COLUMN_NAMES
    frame = frame.astype("str")
    for name, names in (renamed or {}).items():
        for column in VOCABULARIES[name]:
            frame[column] = frame[column].replace(dict(names))
    return frame


def arrival_dates(frame: pd.DataFrame) -> pd.Series:
    """The arrival date of each booking of a frame of text columns (year, month name, day)."""
    text = (
        frame["arrival_date_year"]
        + "-"
        + frame["arrival_date_month"]
        + "-"
        + frame["arrival_date_day_of_month"]
    )
    return pd.to_datetime(text, format="%Y-%B-%d")


def booking_dates(frame: pd.DataFrame) -> pd.Series:
    """The day each booking of a frame of text columns was made: arrival minus lead time."""
    return arrival_dates(frame) - pd.to_timedelta(frame["lead_time"].astype(int), unit="D")


def write_bookings(
    path: Path, rows: int = 2000, *, seed: int = 0, renamed: Mapping[str, Mapping[str, str]] | None = None
) -> Path:
    """``make_bookings(rows, seed=seed, renamed=renamed)`` written by ``write_frame``."""
    return write_frame(path, make_bookings(rows, seed=seed, renamed=renamed))


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    """Bookings as the public file stores them: CSV, gzip-compressed for a ``.gz`` path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as out:
            frame.to_csv(out, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def with_booking_ids(frame: pd.DataFrame, prefix: str = "RES") -> pd.DataFrame:
    """The bookings as a hotel's system exports them: each with its reservation id (``booking_id``,
    ``RES-000000``, ...) as the first column."""
    ids = [f"{prefix}-{i:06d}" for i in range(len(frame))]
    return frame.assign(booking_id=ids)[["booking_id", *frame.columns]]


def write_european(path: Path, frame: pd.DataFrame, *, encoding: str = "utf-8") -> Path:
    """Bookings as a European spreadsheet saves them: separated by ``;``, the rate (``adr``, the one
    column with decimals) with a decimal comma, in ``encoding`` (``cp1252``: Windows-1252)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    european = frame.assign(adr=frame["adr"].str.replace(".", ",", regex=False))
    european.to_csv(path, index=False, sep=";", encoding=encoding)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="CSV file to write (.gz compresses)")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--other-hotel-group",
        action="store_true",
        help="hotels, room types and other categories of a group of its own, none of the public dataset's",
    )
    ns = parser.parse_args(argv)
    write_bookings(
        ns.output, ns.rows, seed=ns.seed, renamed=OTHER_HOTEL_GROUP if ns.other_hotel_group else None
    )
    print(f"wrote {ns.rows:,} synthetic bookings to {ns.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
