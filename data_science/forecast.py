"""The nightly forecast: of the bookings on the books, how many rooms each hotel will lose to
cancellations each night, with an 80% interval, and how far to overbook.

``nightly_forecast`` takes the active bookings, each with its calibrated probability of cancelling
after the as-of date, and returns one row per hotel and stay night. A night's cancellation count
has the exact distribution of ``count_distribution`` (rooms of one group cancel together), the
advice the newsvendor rule of ``overbooking`` on it, with each hotel's capacity and costs from
``hotels``. The columns are described in data_science/README.md, "Nightly forecast".
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from data_science.count_distribution import count_pmf, quantiles
from data_science.hotels import HotelsConfig
from data_science.overbooking import recommend

__all__ = ["COLUMNS", "INPUT_COLUMNS", "count_pmf", "nightly_forecast"]

INPUT_COLUMNS = ("hotel", "arrival_date", "nights", "probability", "adr", "group")
COLUMNS = (
    "hotel",
    "night",
    "rooms_on_books",
    "expected_cancellations",
    "cancellations_p10",
    "cancellations_p90",
    "expected_rooms_kept",
    "revenue_at_risk",
    "capacity",
    "overbook_rooms",
    "rooms_to_sell",
    "note",
)
INTERVAL = (0.1, 0.9)  # the 80% interval: p10 and p90 of the count


def nightly_forecast(
    bookings: pd.DataFrame,
    *,
    first_night: date | str,
    last_night: date | str,
    hotels: HotelsConfig | None,
) -> pd.DataFrame:
    """One row per hotel and night from ``first_night`` to ``last_night`` (both included), in
    hotel then night order, for every hotel of ``hotels`` and of ``bookings``; a night nobody
    booked has 0s.

    ``bookings``: one row per active booking (one room), with ``hotel``; ``arrival_date``
    (datetime64); ``nights`` (whole number ≥ 0; a 0-night day-use occupies its arrival date);
    ``probability`` that it cancels, in [0, 1]; ``adr`` (the price of a night) and ``group``, a
    key shared by the rooms of one group booking (they cancel together; a booking alone has a key
    of its own). Rooms of a group with unequal probabilities cancel together with their mean, which
    keeps the expected count exact. Raises ValueError naming a missing column or a bad value.
    """
    first, last = pd.Timestamp(first_night).normalize(), pd.Timestamp(last_night).normalize()
    if last < first:
        raise ValueError(f"last_night {last.date()} is before first_night {first.date()}")
    _check(bookings)
    names = sorted({*(hotels.hotels if hotels else ()), *bookings["hotel"].unique()})
    days = (last - first).days + 1
    hotel, night, group, probability, adr = _stay_nights(bookings, names, first, days)
    cells = len(names) * days  # cell = hotel · days + night: one hotel-night
    cell = hotel * days + night
    rooms = np.bincount(cell, minlength=cells)
    expected = np.bincount(cell, weights=probability, minlength=cells)
    at_risk = np.bincount(cell, weights=probability * adr, minlength=cells)

    # The night's groups: rooms and mean probability of each (cell, group), in cell order. The key
    # cannot overflow: cells · groups ≤ hotels · nights · bookings, far below 2⁶³ for any frame.
    key = cell * (group.max(initial=0) + 1) + group
    order = np.argsort(key)
    key, probability = key[order], probability[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    group_of = np.cumsum(new) - 1
    group_rooms = np.bincount(group_of)
    group_p = np.bincount(group_of, weights=probability) / group_rooms
    bounds = np.searchsorted(cell[order][new], np.arange(cells + 1))

    p10, p90 = np.zeros(cells, dtype=np.int64), np.zeros(cells, dtype=np.int64)
    capacity, overbook, to_sell = (np.zeros(cells, dtype=np.int64) for _ in range(3))
    advised = np.zeros(cells, dtype=bool)
    for h, name in enumerate(names):
        terms = hotels.hotel(name) if hotels else None
        for c in range(h * days, (h + 1) * days):
            pmf = count_pmf(group_p[bounds[c] : bounds[c + 1]], group_rooms[bounds[c] : bounds[c + 1]])
            p10[c], p90[c] = quantiles(pmf, INTERVAL)
            if terms is not None and terms.capacity is not None:
                advice = recommend(
                    pmf,
                    booked=int(rooms[c]),
                    capacity=terms.capacity,
                    walk_cost=terms.walk_cost,
                    empty_cost=terms.empty_room_cost,
                )
                advised[c] = True
                capacity[c], overbook[c], to_sell[c] = (
                    terms.capacity,
                    advice.overbook_rooms,
                    advice.rooms_to_sell,
                )
    hotel_names = np.repeat(np.array(names, dtype=object), days)
    return pd.DataFrame(
        {
            "hotel": hotel_names,
            "night": np.tile(pd.date_range(first, periods=days, freq="D"), len(names)),
            "rooms_on_books": rooms,
            "expected_cancellations": expected,
            "cancellations_p10": p10,
            "cancellations_p90": p90,
            "expected_rooms_kept": rooms - expected,
            "revenue_at_risk": at_risk,
            "capacity": pd.arrays.IntegerArray(capacity, ~advised),
            "overbook_rooms": pd.arrays.IntegerArray(overbook, ~advised),
            "rooms_to_sell": pd.arrays.IntegerArray(to_sell, ~advised),
            "note": pd.Series(
                [f"no capacity configured for {name}: no overbooking recommendation" for name in hotel_names],
                dtype="string",
            ).mask(advised),
        },
        columns=list(COLUMNS),
    )


def _check(bookings: pd.DataFrame) -> None:
    missing = [c for c in INPUT_COLUMNS if c not in bookings.columns]
    if missing:
        raise ValueError(f"the bookings lack column(s): {', '.join(missing)}")
    if not pd.api.types.is_datetime64_dtype(bookings["arrival_date"]):
        raise ValueError(f"arrival_date must be datetime64 (naive), got {bookings['arrival_date'].dtype}")
    for column, kinds in (("nights", "iu"), ("probability", "iuf"), ("adr", "iuf")):
        if getattr(bookings[column].dtype, "kind", "O") not in kinds:
            kind = "whole numbers" if kinds == "iu" else "numbers"
            raise ValueError(f"{column} must be {kind}, got {bookings[column].dtype}")
    nights, p, adr = (
        bookings[c].to_numpy(np.float64, na_value=np.nan) for c in ("nights", "probability", "adr")
    )
    problems = {
        "hotel": (bookings["hotel"].isna().to_numpy(), "no hotel"),
        "arrival_date": (bookings["arrival_date"].isna().to_numpy(), "no arrival date"),
        "nights": (~(nights >= 0), "must be a whole number ≥ 0"),
        "probability": (~((p >= 0) & (p <= 1)), "must lie in [0, 1]"),
        "adr": (~np.isfinite(adr), "must be a finite number"),
        "group": (bookings["group"].isna().to_numpy(), "no group key (a booking alone needs one of its own)"),
    }
    for column, (bad, requirement) in problems.items():
        if bad.any():
            row = bookings.index[bad][0]
            value = bookings.at[row, column]
            raise ValueError(f"bookings row {row}: {column} {value!s}: {requirement}")


def _stay_nights(
    bookings: pd.DataFrame, names: list[str], first: pd.Timestamp, days: int
) -> tuple[np.ndarray, ...]:
    """One entry per booking and night it occupies within the window (arrays: hotel index, night
    index from ``first``, group code, probability, adr), built without a loop over bookings."""
    arrival = (bookings["arrival_date"].to_numpy("datetime64[D]") - np.datetime64(first.date(), "D")).astype(
        np.int64
    )
    stay = np.maximum(bookings["nights"].to_numpy(np.int64), 1)  # a day-use holds its arrival
    start = np.maximum(arrival, 0)
    end = np.minimum(arrival + stay, days)  # exclusive
    length = np.maximum(end - start, 0)
    booking = np.repeat(np.arange(len(bookings)), length)
    night = np.repeat(start, length) + np.arange(len(booking)) - np.repeat(np.cumsum(length) - length, length)
    hotel = pd.Categorical(bookings["hotel"], categories=names).codes.astype(np.int64)
    group = pd.factorize(bookings["group"])[0]
    return (
        hotel[booking],
        night,
        group[booking],
        bookings["probability"].to_numpy(np.float64)[booking],
        bookings["adr"].to_numpy(np.float64)[booking],
    )
