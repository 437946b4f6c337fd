"""Forecast page against the seeded PostgreSQL: bookings loaded with their ids, scored by the real
``score-db`` on two days. The oracles count rooms, scores and outcomes from the tables themselves;
one more check holds the page's distribution to the model's own path (re-scoring the loaded
bookings as of the day, as ``GET /forecast`` does)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from streamlit_apps.tests import oracles
from streamlit_apps.tests.helpers import messages, metrics, open_page
from streamlit_apps.tests.seed import SCORED_DAYS

pytestmark = pytest.mark.postgres
PAGE = "pages/forecast.py"
EARLIER, NEWEST = SCORED_DAYS
NIGHTS = 60  # the page's default


def scores_of(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql_query(sa.text("SELECT * FROM booking_scores"), conn)
    engine.dispose()
    return frame


def table_with(at, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_next_nights_of_the_bookings_on_the_books_on_the_newest_day(dashboard_env) -> None:
    at = open_page(PAGE)
    scores = scores_of(dashboard_env.app_url)
    newest = scores[pd.to_datetime(scores["as_of"]) == pd.Timestamp(NEWEST)]
    books = oracles.on_the_books(dashboard_env.bookings, NEWEST)
    assert set(newest["booking_id"]) == set(books["booking_id"])  # score-db scored the bookings on the books
    shown = metrics(at)
    assert shown["Bookings on the books"] == f"{len(books):,}"
    assert shown["Expected to cancel"] == f"{newest['cancel_probability'].sum():,.1f}"
    assert any(f"at the end of {NEWEST:%a %d %b %Y}, the newest day" in c.value for c in at.caption)

    table = table_with(at, "overbook_rooms")
    expected = oracles.per_night(dashboard_env.bookings, scores, NEWEST, NIGHTS)
    assert table[["hotel", "night"]].values.tolist() == expected[["hotel", "night"]].values.tolist()
    assert table["rooms_on_books"].tolist() == expected["rooms"].tolist()
    assert table["expected_cancellations"].to_numpy() == pytest.approx(
        expected["expected"].to_numpy(), abs=1e-9
    )
    assert shown[f"Room-nights at risk ({NIGHTS} nights)"] == f"{expected['expected'].sum():,.1f}"
    assert [h.value for h in at.subheader][:2] == ["City Hotel", "Resort Hotel"]
    # The default capacity file gives no capacity: no advice, and the page says so per hotel.
    assert table["capacity"].isna().all()
    for hotel in ("City Hotel", "Resort Hotel"):
        assert f"No capacity configured for {hotel}" in messages(at)

    at.slider(key="horizon").set_value(14).run()
    assert len(table_with(at, "overbook_rooms")) == 2 * 14


def test_the_pages_forecast_is_the_models_own(dashboard_env) -> None:
    """The stored scores joined to the loaded bookings give the distribution the model gives when
    it re-scores those bookings as of the day: same rooms, same groups, same 80% band."""
    from data_engineering.src.engine import make_engine
    from data_science.model import CancellationModel
    from data_science.nightly import forecast
    from data_science.score_db import stays_on_the_books
    from data_science.tracking import resolve

    at = open_page(PAGE)
    table = table_with(at, "overbook_rooms")
    model = CancellationModel.load(resolve(None).local_dir)
    engine = make_engine(dashboard_env.app_url)
    try:
        bookings = stays_on_the_books(model, engine, NEWEST)
    finally:
        engine.dispose()
    first, last = (
        pd.Timestamp(NEWEST) + pd.Timedelta(days=1),
        pd.Timestamp(NEWEST) + pd.Timedelta(days=NIGHTS),
    )
    own = forecast(bookings, first_night=first, last_night=last, hotels=None)
    for column in ("rooms_on_books", "cancellations_p10", "cancellations_p90"):
        assert table[column].tolist() == own[column].tolist(), column
    assert table["expected_cancellations"].to_numpy() == pytest.approx(
        own["expected_cancellations"], abs=1e-9
    )
    assert table["revenue_at_risk"].to_numpy() == pytest.approx(own["revenue_at_risk"], abs=1e-6)


def test_a_capacity_gives_the_overbooking_advice(dashboard_env, tmp_path, monkeypatch) -> None:
    capacities = tmp_path / "hotels.yaml"
    capacities.write_text("walk_cost: 300\nempty_room_cost: 100\nhotels:\n  City Hotel:\n    capacity: 12\n")
    monkeypatch.setenv("HOTEL_CAPACITY_FILE", str(capacities))
    at = open_page(PAGE)
    table = table_with(at, "overbook_rooms")
    city, resort = table[table["hotel"] == "City Hotel"], table[table["hotel"] == "Resort Hotel"]
    assert (city["capacity"] == 12).all()
    assert city["overbook_rooms"].notna().all()
    held = (city["rooms_on_books"] + city["rooms_to_sell"] - 12).clip(lower=0)
    assert city["overbook_rooms"].tolist() == held.astype(int).tolist()
    assert resort["capacity"].isna().all()
    advised = int((city["overbook_rooms"] > 0).sum())
    assert any(
        f"Capacity 12 rooms. Overbooking advised on {advised} of {NIGHTS} nights" in c.value
        for c in at.caption
    )
    assert "No capacity configured for Resort Hotel" in messages(at)
    assert "No capacity configured for City Hotel" not in messages(at)


def test_a_bad_capacity_file_is_said_and_the_forecast_still_shown(
    dashboard_env, tmp_path, monkeypatch
) -> None:
    capacities = tmp_path / "hotels.yaml"
    capacities.write_text(
        "walk_cost: 300\nempty_room_cost: 100\nhotels:\n  Grand Budapest:\n    capacity: 40\n"
    )
    monkeypatch.setenv("HOTEL_CAPACITY_FILE", str(capacities))
    at = open_page(PAGE)
    text = messages(at)
    assert "The capacity file cannot be used" in text
    assert "'Grand Budapest' is not a hotel of the vocabulary in use" in text
    assert len(table_with(at, "overbook_rooms")) == 2 * NIGHTS


def test_an_earlier_forecast_replayed_against_what_happened(dashboard_env) -> None:
    at = open_page(PAGE)
    replayed = at.selectbox(key="replayed")
    assert len(replayed.options) == 1
    assert str(replayed.value).startswith(f"{EARLIER:%a %d %b %Y} (")
    scores = scores_of(dashboard_env.app_url)
    expected = oracles.per_night(dashboard_env.bookings, scores, EARLIER, NIGHTS)
    table = table_with(at, "realised_cancellations")
    assert table["night"].tolist() == expected["night"].tolist()
    assert table["realised_cancellations"].tolist() == expected["realised"].tolist()
    assert table["expected_cancellations"].to_numpy() == pytest.approx(
        expected["expected"].to_numpy(), abs=1e-9
    )
    realised, forecast = expected["realised"].to_numpy(), expected["expected"].to_numpy()
    assert realised.sum() > 20  # enough cancellations to judge a forecast by
    inside = (table["cancellations_p10"] <= realised) & (realised <= table["cancellations_p90"])
    shown = metrics(at)
    assert shown["WAPE"] == f"{np.abs(forecast - realised).sum() / realised.sum():,.2f}"
    assert shown["Bias"] == f"{(forecast.sum() - realised.sum()) / realised.sum():.1%}"
    assert shown["Nights inside the 80% band"] == f"{inside.mean():.1%}"
    assert shown["Cancellations: expected / realised"] == f"{forecast.sum():,.1f} / {realised.sum():,.0f}"


def test_one_scored_day_has_nothing_to_replay_yet(dashboard_env, monkeypatch) -> None:
    """Before a second day is scored, the page says how a replay comes about."""
    from streamlit_apps.lib import sql

    newest_only = sql.scored_days().where(sql.scores.c.as_of == NEWEST)
    monkeypatch.setattr(sql, "scored_days", lambda: newest_only)
    at = open_page(PAGE)
    assert f"Only {NEWEST} has been scored so far" in messages(at)
    assert metrics(at)["Bookings on the books"]  # the next nights are still shown


def test_replay_stops_at_what_is_known(dashboard_env) -> None:
    """Nights after the newest status date of the loaded bookings may still see cancellations:
    they are not compared. In these generated bookings, statuses run to late 2017."""
    known = pd.to_datetime(dashboard_env.bookings["reservation_status_date"]).max().date()
    assert known > EARLIER + dt.timedelta(days=NIGHTS)
    at = open_page(PAGE)
    assert any(f"no later than {known}, the newest status" in c.value for c in at.caption)
