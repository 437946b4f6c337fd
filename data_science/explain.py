"""Reasons for a prediction: XGBoost's own per-feature contributions, in a revenue manager's words.

``CancellationModel.answer(..., reasons=k)`` splits each booking's margin into one additive
term per feature plus a bias (exact TreeSHAP, from precomputed tables) and reports the largest
terms, each as a sentence built from the booking's own value ("Booked 240
days ahead raises the risk"), its direction, its size on the calibrated log-odds scale and the
change in probability it makes.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from data_engineering.transformation import HOME_COUNTRY, NO_ID, UNKNOWN_COUNTRY, booking_day
from data_science.calibration import Calibration, calibrate


def _plural(count: float, one: str, many: str | None = None) -> str:
    count = int(count)
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _count(one: str, many: str | None = None, none: str | None = None) -> Callable[[Any], str]:
    def phrase(value: Any) -> str:
        if int(value) == 0 and none:
            return none
        return _plural(value, one, many)

    return phrase


def _lead_time(days: Any) -> str:
    days = int(days)
    if days == 0:
        return "Booked for the same day"
    return f"Booked {_plural(days, 'day')} ahead"


def _booking_day(index: Any) -> str:
    return f"Booked on {booking_day(index):%d %b %Y}"


def _money(amount: Any) -> str:
    return f"€{float(amount):,.2f}"


_MEALS = {"BB": "Bed & breakfast", "HB": "Half board", "FB": "Full board", "SC": "No meal package"}
_DEPOSITS = {
    "No Deposit": "No deposit",
    "Non Refund": "Non-refundable deposit",
    "Refundable": "Refundable deposit",
}
_CUSTOMERS = {
    "Transient": "Individual (transient) guest",
    "Transient-Party": "Transient guest linked to another booking",
    "Contract": "Booking under an allotment contract",
    "Group": "Group booking",
}
_WEEKDAYS = list(calendar.day_name)
_MONTHS = list(calendar.month_name)

PHRASES: dict[str, Callable[[Any], str]] = {
    "lead_time": _lead_time,
    "arrival_month": lambda m: f"Arrival in {_MONTHS[int(m)]}",
    "arrival_date_day_of_month": lambda d: f"Arrival on day {int(d)} of the month",
    "arrival_weekday": lambda d: f"Arrival on a {_WEEKDAYS[int(d)]}",
    "arrival_day_of_year": lambda d: f"Arrival on day {int(d)} of the year (season)",
    "booking_weekday": lambda d: f"Booked on a {_WEEKDAYS[int(d)]}",
    "booking_date_index": _booking_day,
    "days_to_arrival": lambda d: f"Arrival {_plural(d, 'day')} away",
    "days_since_booking": lambda d: (
        "Just booked" if int(d) == 0 else f"On the books for {_plural(d, 'day')} without cancelling"
    ),
    "stays_in_weekend_nights": _count("weekend night", none="No weekend nights"),
    "stays_in_week_nights": _count("week night", none="No week nights"),
    "total_nights": lambda n: f"A {int(n)}-night stay" if int(n) else "A day use (no night)",
    "weekend_share": lambda s: f"{float(s):.0%} of the nights on a weekend",
    "adults": _count("adult", none="No adults"),
    "children": _count("child", "children", none="No children"),
    "babies": _count("baby", "babies", none="No babies"),
    "total_guests": _count("guest"),
    "is_repeated_guest": lambda v: "Repeat guest" if int(v) else "First-time guest",
    "previous_cancellations": _count("previous cancellation", none="No previous cancellations"),
    "previous_bookings_not_canceled": _count(
        "earlier booking kept", "earlier bookings kept", none="No earlier bookings kept"
    ),
    "previous_cancellation_rate": lambda r: f"Cancelled {float(r):.0%} of earlier bookings",
    "days_in_waiting_list": lambda d: (
        f"{_plural(d, 'day')} on the waiting list" if int(d) else "No time on the waiting list"
    ),
    "adr": lambda v: f"Daily rate of {_money(v)}",
    "adr_per_guest": lambda v: f"Daily rate of {_money(v)} per guest",
    "stay_value": lambda v: f"Stay worth {_money(v)} in total",
    "required_car_parking_spaces": _count(
        "parking space requested", "parking spaces requested", "No parking"
    ),
    "total_of_special_requests": _count("special request", none="No special requests"),
    "is_domestic": lambda v: "Guest from Portugal (domestic)" if int(v) else "Guest from abroad",
    "has_agent": lambda v: "Booked through a travel agent" if int(v) else "Booked without a travel agent",
    "has_company": lambda v: "Booked by a company" if int(v) else "Not a company booking",
    "hotel": str,
    "meal": lambda v: _MEALS.get(v, f"Meal plan {v}"),
    "country": lambda c: (
        "Country of origin unknown"
        if c == UNKNOWN_COUNTRY
        else ("Guest from Portugal" if c == HOME_COUNTRY else f"Guest from {c}")
    ),
    "market_segment": lambda v: f"Market segment {v}",
    "distribution_channel": lambda v: f"Sold through the {v} channel",
    "reserved_room_type": lambda v: f"Room type {v} reserved",
    "deposit_type": lambda v: _DEPOSITS.get(v, f"Deposit: {v}"),
    "customer_type": lambda v: _CUSTOMERS.get(v, f"Customer type {v}"),
    "agent": lambda v: "No travel agent" if v == NO_ID else f"Travel agent #{v}",
    "company": lambda v: "No company" if v == NO_ID else f"Company #{v}",
}


# Counted features whose phrase is plural unless the count is one ("2 special requests lower").
_COUNTED = frozenset(
    {
        "stays_in_weekend_nights",
        "stays_in_week_nights",
        "adults",
        "children",
        "babies",
        "total_guests",
        "previous_cancellations",
        "previous_bookings_not_canceled",
        "required_car_parking_spaces",
        "total_of_special_requests",
    }
)


def _plural_subject(feature: str, value: Any) -> bool:
    if feature in _COUNTED:
        return int(value) != 1
    if feature == "days_in_waiting_list":
        return int(value) > 1  # "No time on the waiting list" is singular
    return False


def describe(feature: str, value: Any) -> str:
    """The feature's value in words; a feature without a phrase (a newer model's) is named."""
    phrase = PHRASES.get(feature)
    if phrase is None:
        return f"{feature.replace('_', ' ').capitalize()} = {value}"
    return phrase(value)


def _strength(probability_change: float) -> str:
    size = abs(probability_change)
    if size >= 0.15:
        return "strongly "
    if size < 0.02:
        return "slightly "
    return ""


def reasons(
    features: Mapping[str, np.ndarray],
    row: int,
    contribs: np.ndarray,
    margin: float,
    *,
    calibration: Calibration,
    feature_names: list[str],
    top: int,
) -> list[dict[str, Any]]:
    """The ``top`` largest contributions of booking ``row``, strongest first.

    ``features`` are the transformed bookings (the features' values before encoding), ``contribs``
    the booking's row of contributions and ``margin`` the booster's margin for it.
    """
    if top <= 0:
        return []
    a = calibration[0]
    terms = contribs[:-1]
    order = np.argsort(-np.abs(terms), kind="stable")[:top]
    probability = float(calibrate(margin, calibration))
    out = []
    for index in order:
        term = float(terms[index])
        if term == 0.0:
            break  # the remaining features did not move this prediction at all
        feature = feature_names[index]
        without = float(calibrate(margin - term, calibration))
        change = probability - without
        direction = "raises" if term > 0 else "lowers"
        value = features[feature][row] if feature in features else None
        if isinstance(value, np.generic):
            value = value.item()
        verb = (
            direction.removesuffix("s")
            if value is not None and _plural_subject(feature, value)
            else direction
        )
        text = f"{describe(feature, value)} {_strength(change)}{verb} the risk"
        out.append(
            {
                "feature": feature,
                "text": f"{text} ({change * 100:+.1f} points)",
                "direction": direction,
                "contribution": a * term,
                "probability_change": change,
            }
        )
    return out
