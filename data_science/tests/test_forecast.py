"""The nightly forecast: a hand-computed week, the vectorised stay expansion against a night-by-night
loop, group bookings, hotels without capacity, bad input, and a year of a million bookings."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_science.count_distribution import count_pmf, quantiles
from data_science.forecast import COLUMNS, INPUT_COLUMNS, nightly_forecast
from data_science.hotels import HotelsConfig
from data_science.overbooking import recommend

CITY, RESORT = "City Hotel", "Resort Hotel"
NO_CAPACITY = "no capacity configured for {}: no overbooking recommendation"


def _config(**capacities: int) -> HotelsConfig:
    return HotelsConfig.model_validate(
        {
            "walk_cost": 300,
            "empty_room_cost": 100,
            "hotels": {name.replace("_", " "): {"capacity": c} for name, c in capacities.items()},
        }
    )


def _bookings(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    frame["arrival_date"] = pd.to_datetime(frame["arrival_date"])
    return frame


WEEK = _bookings(
    [
        # hotel, arrival, nights, probability, adr, group
        (CITY, "2017-03-01", 2, 0.5, 100.0, "tour"),  # two rooms of one group: both or neither
        (CITY, "2017-03-01", 2, 0.5, 100.0, "tour"),
        (CITY, "2017-03-02", 0, 0.2, 50.0, "day-use"),  # a day-use holds its arrival date
        (CITY, "2017-03-03", 1, 0.9, 80.0, "late"),
        (RESORT, "2017-03-01", 3, 0.1, 70.0, "resort"),
        (CITY, "2017-02-20", 3, 0.5, 90.0, "before"),  # leaves before the window
        (CITY, "2017-03-04", 2, 0.5, 90.0, "after"),  # arrives after it
    ]
)


def test_a_hand_computed_week() -> None:
    """City Hotel, 2 rooms, a walk 3 times an empty room (ratio 0.25):
    - 28 Feb: nothing booked: sell both rooms;
    - 1 Mar: the tour's 2 rooms: X = 0 or 2 (½ each): F(0) = ½ ≥ ¼, overbook 0, sell 0;
    - 2 Mar: the tour + the day-use (0.2): 3 booked for 2 rooms, X = 0, 1, 2, 3 with 0.4, 0.1,
      0.4, 0.1: F(0) = 0.4, overbook 0, but it is already 1 over: sell 0, 1 over;
    - 3 Mar: one booking at 0.9: F(0) = 0.1 < ¼, F(1) = 1: overbook 1, sell 2."""
    out = nightly_forecast(
        WEEK, first_night="2017-02-28", last_night="2017-03-03", hotels=_config(City_Hotel=2)
    )
    assert list(out.columns) == list(COLUMNS)
    city = out[out["hotel"] == CITY]
    assert city["night"].dt.strftime("%Y-%m-%d").tolist() == [
        "2017-02-28",
        "2017-03-01",
        "2017-03-02",
        "2017-03-03",
    ]
    assert city["rooms_on_books"].tolist() == [0, 2, 3, 1]
    assert city["expected_cancellations"].tolist() == pytest.approx([0, 1.0, 1.2, 0.9])
    assert city["expected_rooms_kept"].tolist() == pytest.approx([0, 1.0, 1.8, 0.1])
    assert city["revenue_at_risk"].tolist() == pytest.approx([0, 100.0, 110.0, 72.0])
    assert city["cancellations_p10"].tolist() == [0, 0, 0, 0]
    assert city["cancellations_p90"].tolist() == [0, 2, 2, 1]
    assert city["capacity"].tolist() == [2, 2, 2, 2]
    assert city["overbook_rooms"].tolist() == [0, 0, 1, 1]
    assert city["rooms_to_sell"].tolist() == [2, 0, 0, 2]
    assert city["note"].isna().all()

    resort = out[out["hotel"] == RESORT]
    assert resort["rooms_on_books"].tolist() == [0, 1, 1, 1]
    assert resort["revenue_at_risk"].tolist() == pytest.approx([0, 7.0, 7.0, 7.0])
    assert resort[["capacity", "overbook_rooms", "rooms_to_sell"]].isna().all().all()
    assert (resort["note"] == NO_CAPACITY.format(RESORT)).all()


def test_without_a_configuration_no_hotel_gets_advice() -> None:
    out = nightly_forecast(WEEK, first_night="2017-03-01", last_night="2017-03-01", hotels=None)
    assert out["hotel"].tolist() == [CITY, RESORT]
    assert out["note"].tolist() == [NO_CAPACITY.format(CITY), NO_CAPACITY.format(RESORT)]
    assert out["rooms_to_sell"].isna().all()


def test_a_configured_hotel_without_bookings_gets_every_night() -> None:
    out = nightly_forecast(
        WEEK.iloc[:0], first_night="2017-03-01", last_night="2017-03-02", hotels=_config(Resort_Hotel=5)
    )
    assert out["hotel"].tolist() == [RESORT, RESORT]
    assert out["rooms_on_books"].tolist() == [0, 0]
    assert out["rooms_to_sell"].tolist() == [5, 5]


def test_a_group_cancels_as_one_unlike_independent_rooms() -> None:
    tour = _bookings([(CITY, "2017-03-01", 1, 0.5, 100.0, "tour")] * 10)
    alone = tour.assign(group=range(10))
    night: dict[str, Any] = {"first_night": "2017-03-01", "last_night": "2017-03-01", "hotels": None}
    grouped, independent = nightly_forecast(tour, **night), nightly_forecast(alone, **night)
    assert grouped["expected_cancellations"].item() == independent["expected_cancellations"].item() == 5
    assert (grouped["cancellations_p10"].item(), grouped["cancellations_p90"].item()) == (0, 10)
    assert (independent["cancellations_p10"].item(), independent["cancellations_p90"].item()) == (3, 7)


def test_a_group_with_unequal_probabilities_keeps_the_expected_count() -> None:
    group = _bookings([(CITY, "2017-03-01", 1, p, 100.0, "g") for p in (0.2, 0.4)])
    out = nightly_forecast(group, first_night="2017-03-01", last_night="2017-03-01", hotels=None)
    assert out["expected_cancellations"].item() == pytest.approx(0.6)
    # Both rooms at the mean, 0.3: X = 0 (0.7) or 2 (0.3).
    assert (out["cancellations_p10"].item(), out["cancellations_p90"].item()) == (0, 2)


def _random_bookings(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Bookings around March 2017 (some starting before it), a third of them in groups."""
    frame = pd.DataFrame(
        {
            "hotel": rng.choice([CITY, RESORT], n),
            "arrival_date": pd.Timestamp("2017-02-20") + pd.to_timedelta(rng.integers(0, 45, n), unit="D"),
            "nights": rng.integers(0, 8, n),
            "probability": rng.beta(1, 4, n),
            "adr": rng.gamma(4, 25, n),
            "group": rng.integers(0, 2 * n // 3, n).astype(str),
        }
    )
    # Rooms of a group share a stay, and here a probability, as identical bookings do.
    first = frame.groupby("group")[["hotel", "arrival_date", "nights", "probability"]].transform("first")
    return frame.assign(**first)


def test_the_vectorised_expansion_is_the_night_by_night_answer() -> None:
    """The forecast against the definition, one hotel-night at a time: the bookings whose stay
    holds the night, their groups, count_pmf, quantiles and the newsvendor rule."""
    rng = np.random.default_rng(7)
    bookings = _random_bookings(rng, 3000)
    config = _config(City_Hotel=120)
    out = nightly_forecast(bookings, first_night="2017-03-01", last_night="2017-03-31", hotels=config)
    assert len(out) == 2 * 31
    end = bookings["arrival_date"] + pd.to_timedelta(bookings["nights"].clip(lower=1), unit="D")
    for row in out.itertuples():
        here = bookings[
            (bookings["hotel"] == row.hotel) & (bookings["arrival_date"] <= row.night) & (end > row.night)
        ]
        groups = here.groupby("group")["probability"].agg(["mean", "size"])
        pmf = count_pmf(groups["mean"].to_numpy(), groups["size"].to_numpy())
        assert row.rooms_on_books == len(here)
        assert row.expected_cancellations == pytest.approx(here["probability"].sum())
        assert row.revenue_at_risk == pytest.approx((here["probability"] * here["adr"]).sum())
        assert [row.cancellations_p10, row.cancellations_p90] == quantiles(pmf, [0.1, 0.9]).tolist()
        if row.hotel == CITY:
            advice = recommend(pmf, booked=len(here), capacity=120, walk_cost=300, empty_cost=100)
            assert (row.rooms_to_sell, row.overbook_rooms) == (advice.rooms_to_sell, advice.overbook_rooms)
    assert out["rooms_on_books"].min() > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.drop(columns=["adr", "group"]), "the bookings lack column(s): adr, group"),
        (lambda b: b.assign(probability=1.5), "bookings row 0: probability 1.5: must lie in [0, 1]"),
        (lambda b: b.assign(probability=np.nan), "bookings row 0: probability nan: must lie in [0, 1]"),
        (lambda b: b.assign(nights=-1), "bookings row 0: nights -1: must be a whole number ≥ 0"),
        (lambda b: b.assign(nights=2.0), "nights must be whole numbers, got float64"),
        (lambda b: b.assign(adr="a lot"), "adr must be numbers, got"),
        (lambda b: b.assign(adr=np.inf), "bookings row 0: adr inf: must be a finite number"),
        (lambda b: b.assign(arrival_date="2017-03-01"), "arrival_date must be datetime64 (naive), got"),
        (lambda b: b.assign(group=None), "bookings row 0: group None: no group key"),
    ],
)
def test_bad_bookings_are_named(change, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        nightly_forecast(change(WEEK), first_night="2017-03-01", last_night="2017-03-02", hotels=None)


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="last_night 2017-02-28 is before first_night 2017-03-01"):
        nightly_forecast(WEEK, first_night="2017-03-01", last_night="2017-02-28", hotels=None)


def test_a_million_bookings_over_a_year() -> None:
    """1,000,000 bookings, two hotels, 365 nights (3.6 million booking-nights, ~3,600 rooms a
    hotel-night): measured at ~3 s and ~460 MB peak RSS on this machine (2 shared cores), most of
    it the 730 exact pmfs. The totals are conserved: every night of every stay inside the year is
    counted once."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    bookings = pd.DataFrame(
        {
            "hotel": np.where(rng.random(n) < 0.6, CITY, RESORT),
            "arrival_date": pd.Timestamp("2017-01-01") + pd.to_timedelta(rng.integers(-10, 365, n), unit="D"),
            "nights": rng.geometric(0.3, n) - 1,
            "probability": rng.beta(1, 5, n),
            "adr": rng.gamma(4, 25, n),
            "group": rng.integers(0, 700_000, n),
        }
    )
    out = nightly_forecast(
        bookings, first_night="2017-01-01", last_night="2017-12-31", hotels=_config(City_Hotel=4000)
    )
    assert len(out) == 2 * 365
    arrival = (bookings["arrival_date"] - pd.Timestamp("2017-01-01")).dt.days.to_numpy()
    held = np.minimum(arrival + np.maximum(bookings["nights"].to_numpy(), 1), 365) - np.maximum(arrival, 0)
    held = np.maximum(held, 0)
    assert out["rooms_on_books"].sum() == held.sum()
    assert out["expected_cancellations"].sum() == pytest.approx(
        (held * bookings["probability"]).sum(), rel=1e-9
    )
    assert (out["cancellations_p10"] <= out["expected_cancellations"]).all()
    assert (out["expected_cancellations"] <= out["cancellations_p90"]).all()
    assert out.loc[out["hotel"] == CITY, "rooms_to_sell"].notna().all()
