"""What the model gives back: ``Predictions`` (``predict``), ``Screened`` (``screen``) and ``Answers``
(``answer``), plain arrays in input order, so that every caller reads the same fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engineering.src.validate import Problem


@dataclass(frozen=True)
class Predictions:
    """What ``predict`` returns for n bookings: probabilities, margins, features, contributions.

    ``answer`` builds its ``Answers`` (refusals, ids, days, decisions, reasons) from these.
    """

    probability: np.ndarray  # (n,) calibrated cancellation probabilities
    margin: np.ndarray  # (n,) the booster's raw log-odds
    features: dict[str, np.ndarray]  # the transformed bookings (to put reasons into words)
    contributions: np.ndarray | None  # (n, d + 1) per-feature shares of the margin, bias last
    at_booking: np.ndarray | None = None  # (n,) bool: answered by the at-booking head


@dataclass(frozen=True)
class Answers:
    """The model's answers to n bookings: the valid ones scored, the others refused with reasons.

    Arrays of the scored bookings are in input order, one entry per position in ``accepted``.
    """

    accepted: np.ndarray  # input positions of the scored bookings
    rejected: np.ndarray  # input positions of the refused ones
    problems: list[list[Problem]]  # per refused booking, every reason
    booking_id: np.ndarray  # the hotel's reservation id (None when not given)
    as_of: np.ndarray  # datetime64[D]: the day each booking was judged as of
    probability: np.ndarray  # P(cancelled after as_of | on the books at as_of), calibrated
    will_cancel: np.ndarray  # bool: probability >= threshold
    threshold: float
    features: dict[str, np.ndarray]  # the transformed bookings (cleaned fields, features)
    reasons: list[list[dict[str, Any]]] | None  # per booking, the strongest contributions in words

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.rejected)

    def refusals(self) -> list[str]:
        """Each refused booking's reasons as one line."""
        return refusal_lines(self.problems)


@dataclass(frozen=True)
class Screened:
    """Which of n bookings the model would answer (``accepted``, their typed columns) and which it
    refuses, with every reason: ``answer``'s first step, alone (``screen``)."""

    accepted: np.ndarray
    rejected: np.ndarray
    problems: list[list[Problem]]
    columns: dict[str, np.ndarray]  # typed values of the accepted bookings, in input order

    def refusals(self) -> list[str]:
        return refusal_lines(self.problems)


def refusal_lines(problems: list[list[Problem]]) -> list[str]:
    """Each refused booking's reasons as one line."""
    return ["; ".join(str(problem) for problem in reasons) for reasons in problems]
