"""The model's first step: which bookings it will answer, and every reason it refuses the others.

The validator (``data_engineering.src.validate``) checks each booking against the column spec; on
top of that, a model whose transformation has no as-of features refuses a booking to be judged as
of any day but its booking date, rather than answer another question than the one asked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from data_engineering.src.field_values import ColumnInput
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, COLUMNS_BY_NAME
from data_engineering.src.validate import Problem, validate
from data_engineering.transformation import get_transformation
from data_science.answers import Screened


def screen(
    bookings: Mapping[str, ColumnInput], *, as_of: np.datetime64 | str | None, transformation: str
) -> Screened:
    """The bookings a model of ``transformation`` would score (typed) and those it refuses, with
    every reason; ``as_of`` sets the day for every booking, over any column."""
    columns = dict(bookings)
    n = len(next(iter(columns.values()))) if columns else 0
    for name in BOOKING_FIELDS:
        columns.setdefault(name, [None] * n)  # an absent booking field is missing in every row
    if as_of is not None:
        columns[AS_OF] = [str(np.asarray(as_of, dtype="datetime64[D]"))] * n
    names = [name for name in COLUMNS_BY_NAME if name in columns]
    validated = validate(columns, names)
    accepted, rejected = validated.accepted, validated.rejected
    problems = list(validated.details)
    typed = validated.columns
    if AS_OF in typed and not get_transformation(transformation).as_of and len(accepted):
        # A booking-date model cannot judge a later day: refuse those rows rather than answer
        # another question than the one asked.
        booked = get_transformation(transformation).transform(typed)["booking_date"]
        day = typed[AS_OF]
        later = ~np.isnat(day) & (day != booked)
        if later.any():
            problem = Problem(
                AS_OF,
                f"this model ({transformation}) judges a booking only as of its booking date",
                row_rule=True,
            )
            order = np.argsort(np.concatenate([rejected, accepted[later]]), kind="stable")
            problems = [[*p] for p in problems] + [[problem] for _ in range(int(later.sum()))]
            problems = [problems[i] for i in order]
            rejected = np.sort(np.concatenate([rejected, accepted[later]]))
            accepted = accepted[~later]
            typed = {name: values[~later] for name, values in typed.items()}
    return Screened(accepted, rejected, problems, typed)
