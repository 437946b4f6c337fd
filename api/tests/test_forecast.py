"""``GET /forecast``: cancellations per hotel and night among the bookings on the books.

The database is PostgreSQL loaded by ``initialize-data db`` from a hotel's export with
reservation ids. The oracle is computed here from the export's own text: which bookings are on
the books at the end of a day (made by then, arriving later, not cancelled by then), which nights
each one holds, and its probability as ``POST /predict/batch`` answers it for that day — another
way into the model than the forecast's (bookings read back from the database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from api.tests.helpers import api_settings, on_the_books, text_dates
from data_engineering.src.schema import BOOKING_FIELDS

DAY = dt.date(2017, 3, 1)
CAPACITY = 20  # City Hotel's rooms in the capacity file; Resort Hotel has none
CAPACITY_FILE = f"walk_cost: 300\nempty_room_cost: 100\nhotels:\n  City Hotel:\n    capacity: {CAPACITY}\n"
HOTELS = ["City Hotel", "Resort Hotel"]


@pytest.fixture(scope="module")
def client(served_workspace, loaded_pg_url, tmp_path_factory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    capacities = tmp_path_factory.mktemp("hotels") / "hotels.yaml"
    capacities.write_text(CAPACITY_FILE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOTEL_CAPACITY_FILE", str(capacities))  # read once, at start-up
        with TestClient(create_app(api_settings(loaded_pg_url))) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def export(hotel_export, loaded_pg_url) -> pd.DataFrame:
    """The export's rows that were loaded, with their dates and nights as a hotel reads them."""
    _, frame = hotel_export
    engine = sa.create_engine(loaded_pg_url)
    with engine.connect() as conn:
        loaded = set(conn.execute(sa.text("SELECT booking_id FROM bookings_raw")).scalars())
    engine.dispose()
    rows = frame[frame["booking_id"].isin(loaded)].copy()
    assert len(rows) > 2900
    arrival, _ = text_dates(rows)
    rows["arrival"] = arrival.dt.date
    rows["nights"] = rows["stays_in_weekend_nights"].astype(int) + rows["stays_in_week_nights"].astype(int)
    return rows


def on_the_books_at(export: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return export[on_the_books(export, day)]


def per_night(books: pd.DataFrame, probability: pd.Series, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Rooms and expected cancellations per hotel and night (a day use holds its arrival night)."""
    rows = []
    start = books["arrival"].to_numpy()
    end = np.array([a + dt.timedelta(days=max(n, 1)) for a, n in zip(start, books["nights"], strict=True)])
    for hotel in HOTELS:
        night = first
        while night <= last:
            holds = (books["hotel"].to_numpy() == hotel) & (start <= night) & (night < end)
            rows.append(
                {
                    "hotel": hotel,
                    "night": night.isoformat(),
                    "rooms": int(holds.sum()),
                    "expected": float(probability.to_numpy()[holds].sum()),
                    "at_risk": float((probability * books["adr"].astype(float)).to_numpy()[holds].sum()),
                }
            )
            night += dt.timedelta(days=1)
    return pd.DataFrame(rows)


def probabilities(client, books: pd.DataFrame, day: dt.date) -> pd.Series:
    """Each booking's answer from POST /predict/batch as of ``day`` (its text, as the file has it)."""
    bookings = [
        {**{f: row[f] for f in BOOKING_FIELDS}, "as_of": day.isoformat()} for _, row in books.iterrows()
    ]
    response = client.post("/predict/batch", json={"bookings": bookings})
    assert response.status_code == 200, response.text[:500]
    return pd.Series([p["cancel_probability"] for p in response.json()["predictions"]], index=books.index)


@pytest.mark.postgres
def test_every_hotel_and_night_from_the_bookings_on_the_books(client, export) -> None:
    first, last = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=30)
    response = client.get("/forecast", params={"as_of": str(DAY), "from": str(first), "to": str(last)})
    assert response.status_code == 200, response.text
    body = response.json()
    books = on_the_books_at(export, DAY)
    assert (body["as_of"], body["model_version"], body["bookings_on_the_books"]) == (
        str(DAY),
        "1",
        len(books),
    )

    nights = pd.DataFrame(body["nights"])
    expected = per_night(books, probabilities(client, books, DAY), first, last)
    assert nights[["hotel", "night"]].values.tolist() == expected[["hotel", "night"]].values.tolist()
    assert nights["rooms_on_books"].tolist() == expected["rooms"].tolist()
    assert nights["rooms_on_books"].sum() > 150  # a real load to forecast, not empty nights
    assert nights["expected_cancellations"].to_numpy() == pytest.approx(
        expected["expected"].to_numpy(), abs=1e-9
    )
    assert nights["revenue_at_risk"].to_numpy() == pytest.approx(expected["at_risk"].to_numpy(), abs=1e-6)
    kept = nights["rooms_on_books"] - nights["expected_cancellations"]
    assert nights["expected_rooms_kept"].to_numpy() == pytest.approx(kept.to_numpy(), abs=1e-9)
    assert (nights["cancellations_p10"] <= nights["cancellations_p90"]).all()
    assert (nights["cancellations_p90"] <= nights["rooms_on_books"]).all()

    # Overbooking advice where the capacity file gives a capacity, and a note saying why not elsewhere.
    city, resort = (nights[nights["hotel"] == h] for h in HOTELS)
    assert (city["capacity"] == CAPACITY).all()
    assert city["note"].isna().all()
    held = (city["rooms_on_books"] + city["rooms_to_sell"] - CAPACITY).clip(lower=0)
    assert city["overbook_rooms"].tolist() == held.tolist()
    assert resort[["capacity", "overbook_rooms", "rooms_to_sell"]].isna().all().all()
    assert resort["note"].str.contains("no capacity configured for Resort Hotel").all()


@pytest.mark.postgres
def test_hotel_nights_and_day_are_honoured(client, export) -> None:
    both = client.get("/forecast", params={"as_of": str(DAY)}).json()["nights"]
    nights = pd.DataFrame(both)
    # Default nights: the 90 after as_of, for each hotel.
    first, last = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=90)
    for hotel in HOTELS:
        shown = nights.loc[nights["hotel"] == hotel, "night"]
        assert shown.tolist() == [str(first + dt.timedelta(days=k)) for k in range(90)]
    resort = client.get("/forecast", params={"as_of": str(DAY), "hotel": "Resort Hotel"}).json()["nights"]
    assert resort == [n for n in both if n["hotel"] == "Resort Hotel"]
    window = client.get("/forecast", params={"as_of": str(DAY), "from": "2017-04-10", "to": "2017-04-12"})
    assert [n["night"] for n in window.json()["nights"]] == ["2017-04-10", "2017-04-11", "2017-04-12"] * 2
    assert window.json()["nights"] == [n for n in both if "2017-04-10" <= n["night"] <= "2017-04-12"]
    assert str(last) == nights["night"].max()
    # A later first night alone: the 90 nights from it.
    later_nights = client.get("/forecast", params={"as_of": str(DAY), "from": "2017-05-01"}).json()["nights"]
    assert [n["night"] for n in later_nights[:1] + later_nights[89:90]] == ["2017-05-01", "2017-07-29"]
    assert len(later_nights) == 2 * 90

    later = dt.date(2017, 5, 1)
    answer = client.get("/forecast", params={"as_of": str(later), "to": "2017-05-02"}).json()
    assert answer["bookings_on_the_books"] == len(on_the_books_at(export, later))
    assert answer["bookings_on_the_books"] != len(on_the_books_at(export, DAY))


@pytest.mark.parametrize(
    ("params", "name", "words"),
    [
        (
            {"hotel": "Grand Budapest"},
            "hotel",
            "unknown hotel 'Grand Budapest': one of City Hotel, Resort Hotel",
        ),
        ({"as_of": "2017-03-01", "from": "2017-03-01"}, "from", "must be after as_of 2017-03-01"),
        ({"as_of": "2017-03-01", "from": "2017-03-10", "to": "2017-03-09"}, "to", "is before the first"),
        ({"as_of": "2017-03-01", "to": "2018-04-01"}, "to", "at most 366 nights per call"),
        ({"as_of": "9999-12-31"}, "as_of", "no night follows as_of"),
        ({"from": "2017-02-30"}, "from", "date"),
        ({"as_of": "yesterday"}, "as_of", "date"),
    ],
)
def test_a_bad_hotel_or_range_is_a_422_naming_the_parameter(app_client, params, name, words) -> None:
    response = app_client.get("/forecast", params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert (detail["field"], detail["loc"]) == (name, ["query", name])
    assert words in detail["msg"]
    assert response.json()["message"].startswith(f"{name}: ")


def test_no_bookings_loaded_is_a_503_saying_what_to_run(app_client) -> None:
    response = app_client.get("/forecast", params={"as_of": str(DAY)})
    assert response.status_code == 503
    assert "load bookings first with ./cli.sh initialize-data" in response.json()["detail"]
