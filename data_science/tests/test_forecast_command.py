"""``./cli.sh forecast``: the bookings on the books as of a day, summed per hotel and night, from a
file or from the database, with the overbooking advice where the capacity file gives rooms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.synthetic import arrival_dates, booking_dates, make_bookings

MODULE = "data_science.forecast_command"
DAY = pd.Timestamp("2016-09-30")


@pytest.fixture
def replay(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = make_bookings(800, seed=31)
    path = tmp_path / "bookings.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _on_the_books(frame: pd.DataFrame) -> pd.DataFrame:
    arrival, booked = arrival_dates(frame), booking_dates(frame)
    left = frame["reservation_status"].isin(["Canceled", "No-Show"]) & (
        pd.to_datetime(frame["reservation_status_date"]) <= DAY
    )
    nights = frame["stays_in_weekend_nights"].astype(int) + frame["stays_in_week_nights"].astype(int)
    return pd.DataFrame({"hotel": frame["hotel"], "arrival": arrival, "nights": nights.clip(lower=1)})[
        (booked <= DAY) & (arrival > DAY) & ~left
    ]


def test_rooms_on_the_books_per_night_and_the_rest_set_aside(
    trained_workspace, replay: tuple[Path, pd.DataFrame], tmp_path: Path, run_module
) -> None:
    path, frame = replay
    out = tmp_path / "nights.csv"
    result = run_module(
        MODULE,
        str(path),
        str(out),
        "--as-of",
        str(DAY.date()),
        "--horizon-days",
        "30",
        env=trained_workspace.env(),
    )
    assert result.returncode == 0, result.stderr
    nights = pd.read_csv(out, parse_dates=["night"])
    assert sorted(nights["hotel"].unique()) == ["City Hotel", "Resort Hotel"]
    assert nights["night"].min() == DAY + pd.Timedelta(days=1)
    assert nights["night"].max() == DAY + pd.Timedelta(days=30)
    books = _on_the_books(frame)
    for hotel, night, rooms in nights[["hotel", "night", "rooms_on_books"]].itertuples(index=False):
        staying = books[
            (books["hotel"] == hotel)
            & (books["arrival"] <= night)
            & (books["arrival"] + pd.to_timedelta(books["nights"], unit="D") > night)
        ]
        assert rooms == len(staying)
    assert (nights["cancellations_p10"] <= nights["cancellations_p90"]).all()
    assert (nights["cancellations_p90"] <= nights["rooms_on_books"]).all()
    assert (nights["expected_cancellations"] <= nights["rooms_on_books"]).all()
    assert nights["expected_cancellations"].sum() > 0
    np.testing.assert_allclose(
        nights["expected_rooms_kept"], nights["rooms_on_books"] - nights["expected_cancellations"]
    )
    # The public dataset gives no capacities: no advice, and the output says why.
    assert nights["overbook_rooms"].isna().all()
    assert nights["note"].str.contains("no capacity configured").all()
    assert "no overbooking recommendation" in result.stdout
    rejected = pd.read_csv(tmp_path / "nights.csv.rejected.csv", dtype=str)
    assert len(rejected) == len(frame) - len(books)


def test_a_capacity_gives_each_night_its_overbooking(
    trained_workspace, replay: tuple[Path, pd.DataFrame], tmp_path: Path, run_module
) -> None:
    path, _ = replay
    hotels = tmp_path / "hotels.yaml"
    hotels.write_text("walk_cost: 300\nempty_room_cost: 100\nhotels:\n  City Hotel:\n    capacity: 12\n")
    out = tmp_path / "nights.csv"
    env = {**trained_workspace.env(), "HOTEL_CAPACITY_FILE": str(hotels)}
    result = run_module(
        MODULE, str(path), str(out), "--as-of", str(DAY.date()), "--horizon-days", "20", env=env
    )
    assert result.returncode == 0, result.stderr
    nights = pd.read_csv(out)
    city, resort = nights[nights["hotel"] == "City Hotel"], nights[nights["hotel"] == "Resort Hotel"]
    assert (city["capacity"] == 12).all()
    assert city["overbook_rooms"].notna().all()
    assert (city["overbook_rooms"] >= 0).all()
    assert resort["overbook_rooms"].isna().all()


def test_a_capacity_file_naming_an_unknown_hotel_stops_at_start(
    trained_workspace, replay: tuple[Path, pd.DataFrame], tmp_path: Path, run_module
) -> None:
    path, _ = replay
    hotels = tmp_path / "hotels.yaml"
    hotels.write_text("walk_cost: 300\nempty_room_cost: 100\nhotels:\n  Grand Budapest:\n    capacity: 80\n")
    out = tmp_path / "nights.csv"
    env = {**trained_workspace.env(), "HOTEL_CAPACITY_FILE": str(hotels)}
    result = run_module(MODULE, str(path), str(out), "--as-of", str(DAY.date()), env=env)
    assert result.returncode == 1
    assert "'Grand Budapest' is not a hotel of the vocabulary in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_as_of_day_is_required(
    trained_workspace, replay: tuple[Path, pd.DataFrame], tmp_path: Path, run_module
) -> None:
    path, _ = replay
    result = run_module(MODULE, str(path), str(tmp_path / "nights.csv"), env=trained_workspace.env())
    assert result.returncode == 2
    assert "--as-of" in result.stderr
