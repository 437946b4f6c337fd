"""Independent computations of what the pages should show, from the loaded rows themselves."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from data_engineering.src.schema import BOOKING_FIELDS
from data_science.drift_reference import OTHER, TOP_CATEGORIES
from streamlit_apps.lib import drift


def expected_kpis(frame: pd.DataFrame) -> dict[str, str]:
    return {
        "Bookings": f"{len(frame):,}",
        "Cancellation rate": f"{frame['is_canceled'].mean():.1%}",
        "Average daily rate (€)": f"{frame['adr'].mean():,.2f}",
        "Average lead time (days)": f"{frame['lead_time'].mean():,.1f}",
    }


def recent(predictions: pd.DataFrame, days: int = 7) -> pd.DataFrame:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return predictions[pd.to_datetime(predictions["created_at"], utc=True) >= since]


def nearest_rank(values: pd.Series, q: float) -> float:
    ordered = np.sort(values.to_numpy())
    return float(ordered[math.ceil(q * len(ordered)) - 1])


def call_latencies(predictions: pd.DataFrame) -> pd.Series:
    """One latency per API call: a batch call's rows share its call id and its latency."""
    return predictions.groupby("call_id")["latency_ms"].max()


def cleaned(predictions: pd.DataFrame) -> pd.DataFrame:
    """The logged bookings (the API logs them cleaned), one column per field."""
    return pd.DataFrame(list(predictions["booking"]))[list(BOOKING_FIELDS)]


def psi(training: pd.Series, current: pd.Series, *, numeric: bool) -> float:
    """PSI from raw values: numpy's inverted-CDF deciles, or the top categories plus (other)."""
    if numeric:
        train = training.to_numpy(dtype=float)
        edges = np.unique(np.quantile(train, np.arange(1, 10) / 10, method="inverted_cdf"))
        edges = edges[edges < train.max()] if len(edges) > 1 else edges
        expected = np.bincount(np.searchsorted(edges, train, side="left"), minlength=len(edges) + 1)
        values = current.dropna().to_numpy(dtype=float)
        actual = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    else:
        categories = list(training.astype(str).value_counts().index[:TOP_CATEGORIES])
        labels = [*categories, OTHER]

        def pooled(values: pd.Series) -> pd.Series:
            values = values.astype(str)
            return values.where(values.isin(categories), OTHER).value_counts().reindex(labels, fill_value=0)

        expected, actual = pooled(training).to_numpy(), pooled(current).to_numpy()
    p = np.clip(expected / expected.sum(), drift.EPSILON, None)
    q = np.clip(actual / actual.sum(), drift.EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))


CONFUSION = ("tp", "fp", "fn", "tn")


def matched(bookings: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Each prediction's match with the loaded bookings: ``method`` ("id" when it was sent a booking
    id, else "fields"), the distinct outcomes of the bookings it matches, and its probability and
    decision. A prediction sent with a booking id matches by that id alone, one without by its 27
    cleaned fields."""
    rows = []
    fields = cleaned(predictions).to_dict("records")
    for flagged, probability, logged, booking in zip(
        predictions["will_cancel"],
        predictions["cancel_probability"],
        predictions["booking"],
        fields,
        strict=True,
    ):
        booking_id = logged.get("booking_id")
        if booking_id is not None:
            match = bookings["booking_id"] == booking_id
        else:
            match = pd.Series(True, index=bookings.index)
            for field, value in booking.items():
                match &= bookings[field] == value
        outcomes = set(bookings.loc[match, "is_canceled"].dropna())
        rows.append(
            {
                "method": "id" if booking_id is not None else "fields",
                "outcomes": outcomes,
                "probability": probability,
                "will_cancel": bool(flagged),
            }
        )
    return pd.DataFrame(rows, columns=["method", "outcomes", "probability", "will_cancel"])


def with_outcome(bookings: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions whose matched bookings agree on one outcome: probability, cancelled (0/1)."""
    found = matched(bookings, predictions)
    agreed = found[found["outcomes"].map(len) == 1]
    return pd.DataFrame(
        {"probability": agreed["probability"], "cancelled": [int(next(iter(o))) for o in agreed["outcomes"]]}
    )


def realised(bookings: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, int]:
    """Confusion counts of predictions matched to loaded bookings with an outcome, and how they
    were matched: ``by_id``, ``waiting`` (sent an id no loaded booking with an outcome has),
    ``by_fields`` (counted when the rows it matches agree on the outcome)."""
    counts = dict.fromkeys((*CONFUSION, "by_id", "by_fields", "waiting"), 0)
    found = matched(bookings, predictions)
    outcomes: set[int]
    for method, outcomes, flagged in zip(
        found["method"], found["outcomes"], found["will_cancel"], strict=True
    ):
        if method == "id" and not outcomes:
            counts["waiting"] += 1
        if len(outcomes) != 1:
            continue
        counts["by_id" if method == "id" else "by_fields"] += 1
        cancelled = next(iter(outcomes)) == 1
        key = ("t" if flagged == cancelled else "f") + ("p" if flagged else "n")
        counts[key] += 1
    return counts


def on_the_books(bookings: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The loaded bookings on the books at the end of ``day``: made by then, arriving later, not
    cancelled (nor marked a no-show) on or before it."""
    arrival, booked = pd.to_datetime(bookings["arrival_date"]), pd.to_datetime(bookings["booking_date"])
    left_on = pd.to_datetime(bookings["reservation_status_date"])
    left = bookings["reservation_status"].isin(["Canceled", "No-Show"]) & (left_on <= pd.Timestamp(day))
    return bookings[(booked <= pd.Timestamp(day)) & (arrival > pd.Timestamp(day)) & ~left]


def per_night(bookings: pd.DataFrame, scores: pd.DataFrame, day: dt.date, nights: int) -> pd.DataFrame:
    """Per hotel and night after ``day``: rooms of the bookings scored as of it, the sum of their
    scores, and how many of those rooms were cancelled after ``day`` (status now Canceled or
    No-Show, dated later). A 0-night day use holds its arrival night."""
    scored = scores[pd.to_datetime(scores["as_of"]) == pd.Timestamp(day)]
    joined = scored.merge(bookings, on="booking_id", validate="one_to_one")
    start = pd.to_datetime(joined["arrival_date"])
    end = start + pd.to_timedelta(joined["total_nights"].clip(lower=1), unit="D")
    left_on = pd.to_datetime(joined["reservation_status_date"])
    cancelled = joined["reservation_status"].isin(["Canceled", "No-Show"]) & (left_on > pd.Timestamp(day))
    rows = []
    for hotel in sorted(joined["hotel"].unique()):
        for k in range(1, nights + 1):
            night = pd.Timestamp(day) + pd.Timedelta(days=k)
            holds = (joined["hotel"] == hotel) & (start <= night) & (night < end)
            rows.append(
                {
                    "hotel": hotel,
                    "night": night.date(),
                    "rooms": int(holds.sum()),
                    "expected": float(joined.loc[holds, "cancel_probability"].sum()),
                    "realised": int((holds & cancelled).sum()),
                }
            )
    return pd.DataFrame(rows)
