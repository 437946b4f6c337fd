"""The as-of question: the champion judges a booking as of its booking date by default, or as of a
later day it is still on the books, with the reasons of both heads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_engineering.src.synthetic import make_bookings
from data_science.model import CancellationModel


def _text(frame: pd.DataFrame) -> dict[str, pa.Array]:
    return {c: pa.array(frame[c].astype(str).tolist(), pa.string()) for c in frame.columns}


@pytest.fixture(scope="module")
def far_ahead() -> pd.DataFrame:
    """Bookings made at least 60 days ahead: each can be judged on a later day before arrival."""
    frame = make_bookings(600, seed=44).drop(columns=["reservation_status", "reservation_status_date"])
    return frame[frame["lead_time"].astype(int) >= 60].reset_index(drop=True)


@pytest.mark.model
def test_the_booking_date_is_the_default_and_its_head_answers_it(
    champion: CancellationModel, far_ahead
) -> None:
    assert champion.at_booking is not None  # today's pipeline answers at booking
    default = champion.answer(_text(far_ahead))
    booked = np.datetime_as_string(default.as_of, unit="D")
    explicit = champion.answer({**_text(far_ahead), "as_of": pa.array(booked.tolist(), pa.string())})
    np.testing.assert_array_equal(default.probability, explicit.probability)
    head = champion.at_booking.answer(_text(far_ahead))
    np.testing.assert_array_equal(default.probability, head.probability)
    assert not len(default.rejected)


@pytest.mark.model
def test_a_booking_that_survived_is_less_likely_to_cancel(champion: CancellationModel, far_ahead) -> None:
    """Most cancellations come early: judged 30 days after booking (still on the books), a booking's
    risk is lower than the day it was made, for most bookings and on average."""
    at_booking = champion.answer(_text(far_ahead))
    later = (at_booking.as_of + np.timedelta64(30, "D")).astype(str)
    survived = champion.answer({**_text(far_ahead), "as_of": pa.array(later.tolist(), pa.string())})
    assert not len(survived.rejected)
    assert survived.probability.mean() < at_booking.probability.mean()
    assert (survived.probability < at_booking.probability).mean() > 0.6


@pytest.mark.model
def test_a_booking_date_model_refuses_other_days(champion: CancellationModel, far_ahead) -> None:
    head = champion.at_booking
    assert head is not None
    later = (head.answer(_text(far_ahead)).as_of + np.timedelta64(10, "D")).astype(str)
    answers = head.answer({**_text(far_ahead), "as_of": pa.array(later.tolist(), pa.string())})
    assert len(answers.rejected) == len(far_ahead)
    assert "judges a booking only as of its booking date" in answers.refusals()[0]


@pytest.mark.model
def test_reasons_of_both_heads_add_up_to_their_margins(champion: CancellationModel, far_ahead) -> None:
    days = champion.answer(_text(far_ahead)).as_of
    mixed = np.where(np.arange(len(days)) % 2 == 0, days, days + np.timedelta64(20, "D")).astype(str)
    columns = {**_text(far_ahead), "as_of": pa.array(mixed.tolist(), pa.string())}
    answers = champion.answer(columns, reasons=3)
    assert answers.reasons is not None
    assert all(len(r) == 3 for r in answers.reasons)
    scores = champion.predict(answers.features, reasons=True)
    assert scores.contributions is not None
    assert scores.at_booking is not None
    assert scores.at_booking.any()
    assert (~scores.at_booking).any()
    np.testing.assert_allclose(scores.contributions.sum(axis=1), scores.margin, atol=1e-3)
    # The at-booking head never uses the as-of features: their contributions are zero for its rows.
    days_since = champion.feature_names.index("days_since_booking")
    assert (scores.contributions[scores.at_booking, days_since] == 0).all()
