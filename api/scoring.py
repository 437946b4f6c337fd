"""Scoring bookings on the state served: the one service both predict routes call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api.state import ServingState
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, SCORING_FIELDS
from data_engineering.src.validate import Problem, records_to_columns


@dataclass(frozen=True)
class BookingAnswer:
    """One booking's answer: its prediction, or why it was refused."""

    state: ServingState | None
    probability: float = 0.0
    will_cancel: bool = False
    booking_id: str | None = None
    as_of: str | None = None  # YYYY-MM-DD: the day it was judged as of
    reasons: list[dict[str, Any]] = field(default_factory=list)
    logged: dict[str, Any] = field(default_factory=dict)  # the booking as cleaned, for the log
    problems: list[Problem] = field(default_factory=list)


def answer_bookings(state: ServingState, bookings: Sequence[dict[str, Any]], top: int) -> list[BookingAnswer]:
    """Each JSON booking's answer from ``state``'s model, in order (one ``answer`` call for all)."""
    answers = state.model.answer(records_to_columns(bookings, SCORING_FIELDS), reasons=top)
    out: list[BookingAnswer] = [BookingAnswer(None)] * len(bookings)
    for index, problems in zip(answers.rejected.tolist(), answers.problems, strict=True):
        out[index] = BookingAnswer(None, problems=problems)
    if not len(answers.accepted):
        return out
    days = np.datetime_as_string(answers.as_of, unit="D").tolist()
    features = answers.features
    columns = [features[name].tolist() for name in BOOKING_FIELDS]
    probabilities, decisions = answers.probability.tolist(), answers.will_cancel.tolist()
    ids = answers.booking_id.tolist()
    for k, (index, row) in enumerate(zip(answers.accepted.tolist(), zip(*columns, strict=True), strict=True)):
        logged = dict(zip(BOOKING_FIELDS, row, strict=True))
        logged[BOOKING_ID], logged[AS_OF] = ids[k], days[k]
        out[index] = BookingAnswer(
            state,
            probabilities[k],
            decisions[k],
            ids[k],
            days[k],
            answers.reasons[k] if answers.reasons is not None else [],
            logged,
        )
    return out
