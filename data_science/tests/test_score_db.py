"""``score-db`` on real rows: a hotel's export loaded with ``initialize-data``, re-scored as of two
days, the history kept; a re-export between the days cancels one booking, which then leaves the books."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_engineering.src.synthetic import OUTCOME_COLUMNS, arrival_dates, make_bookings, write_frame

LOAD, SCORE = "data_engineering.src.initialize_data", "data_science.score_db"

DAY_1, DAY_2 = "2017-10-01", "2017-10-08"


def _export(bookings: pd.DataFrame, day: str) -> pd.DataFrame:
    """What the hotel's system exports at the end of ``day``: the bookings made by then, each with
    its outcome only if it was recorded by then (a booking still on the books has none)."""
    booked = pd.to_datetime(bookings["arrival"]) - pd.to_timedelta(
        bookings["lead_time"].astype(int), unit="D"
    )
    made = bookings[booked <= pd.Timestamp(day)].copy()
    unknown = pd.to_datetime(made["reservation_status_date"]) > pd.Timestamp(day)
    made.loc[unknown, OUTCOME_COLUMNS] = ""
    return made.drop(columns=["arrival"])


@pytest.fixture
def bookings() -> pd.DataFrame:
    """400 bookings arriving in autumn 2017, each with the hotel's reservation id."""
    frame = make_bookings(
        400, seed=17, start=pd.Timestamp("2017-10-02").date(), end=pd.Timestamp("2017-12-20").date()
    )
    frame.insert(0, "booking_id", [f"RES-{i:05d}" for i in range(len(frame))])
    frame["arrival"] = arrival_dates(frame)
    return frame


@pytest.mark.postgres
@pytest.mark.slow
def test_rescored_as_of_two_days_with_the_history_kept(
    trained_workspace, pg_schema: str, bookings: pd.DataFrame, tmp_path: Path, *, run_module, booking_scores
) -> None:
    env = {**trained_workspace.env(), "DATABASE_URL": pg_schema}
    first = write_frame(tmp_path / "export_1.csv", _export(bookings, DAY_1))
    loaded = run_module(LOAD, "db", env={**env, "HOTEL_BOOKINGS_SOURCE": str(first)})
    assert loaded.returncode == 0, loaded.stderr
    assert "merged by booking_id" in loaded.stdout

    day_1 = run_module(SCORE, "--as-of", DAY_1, env=env)
    assert day_1.returncode == 0, day_1.stderr
    assert "on the books at the end of 2017-10-01 scored" in day_1.stdout, day_1.stdout + day_1.stderr
    scores = booking_scores(pg_schema)
    exported = _export(bookings, DAY_1)
    on_books_1 = set(exported.loc[exported["reservation_status"] == "", "booking_id"])
    assert set(scores["booking_id"]) == on_books_1
    assert (scores["as_of"].astype(str) == DAY_1).all()
    assert scores["model_version"].eq("1").all()  # MLflow's int version, stored as text
    assert scores["cancel_probability"].between(0, 1).all()

    again = run_module(SCORE, "--as-of", DAY_1, env=env)
    assert again.returncode == 0, again.stderr
    assert "this day was scored already" in again.stdout
    assert len(booking_scores(pg_schema)) == len(scores)

    # The next export: one booking on the books on day 1 is cancelled the day after.
    second_export = _export(bookings, DAY_2)
    arrived = set(bookings.loc[bookings["arrival"] <= pd.Timestamp(DAY_2), "booking_id"])
    still = set(second_export.loc[second_export["reservation_status"] == "", "booking_id"])
    victim = sorted((on_books_1 & still) - arrived)[0]
    row = second_export["booking_id"] == victim
    second_export.loc[row, ["is_canceled", "reservation_status", "reservation_status_date"]] = [
        "1",
        "Canceled",
        "2017-10-02",
    ]
    second_export.loc[row, ["assigned_room_type", "booking_changes"]] = [
        second_export.loc[row, "reserved_room_type"].iloc[0],
        "0",
    ]
    second = write_frame(tmp_path / "export_2.csv", second_export)
    reloaded = run_module(LOAD, "db", env={**env, "HOTEL_BOOKINGS_SOURCE": str(second)})
    assert reloaded.returncode == 0, reloaded.stderr
    assert f"{len(exported):,} updated" in reloaded.stdout  # the same bookings again, plus the newer ones

    day_2 = run_module(SCORE, "--as-of", DAY_2, env=env)
    assert day_2.returncode == 0, day_2.stderr
    history = booking_scores(pg_schema)
    second_day = history[history["as_of"].astype(str) == DAY_2]
    on_books_2 = set(second_export.loc[second_export["reservation_status"] == "", "booking_id"])
    assert victim not in set(second_day["booking_id"])
    assert set(second_day["booking_id"]) == on_books_2 - arrived
    assert victim in set(
        history.loc[history["as_of"].astype(str) == DAY_1, "booking_id"]
    )  # its day-1 score stays
    assert len(history) == len(scores) + len(second_day)  # one row per booking, day and version
    # A booking re-scored a week closer to arrival, still on the books: a new answer, not the old one.
    both = history.pivot_table(index="booking_id", columns="as_of", values="cancel_probability").dropna()
    assert len(both) > 50
    assert (both.iloc[:, 0] != both.iloc[:, 1]).mean() > 0.5
