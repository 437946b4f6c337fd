"""The gate's rule: a new version replaces the champion when it is no worse on either question
(ROC AUC at booking, nightly WAPE on the books) and better on one."""

from __future__ import annotations

import pytest

from data_science.champion_gate import _wins


@pytest.mark.parametrize(
    ("mine", "theirs", "wins"),
    [
        ((0.92, 0.25), (0.91, 0.25), True),  # better at booking, the same forecast
        ((0.92, 0.25), (0.92, 0.27), True),  # the same at booking (same head), a better forecast
        ((0.93, 0.28), (0.92, 0.27), False),  # better at booking, a worse forecast
        ((0.91, 0.20), (0.92, 0.27), False),  # a better forecast, worse at booking
        ((0.92, 0.27), (0.92, 0.27), False),  # the same pipeline again: nothing to gain
        ((0.93, None), (0.92, 0.27), True),  # no forecast to compare: ROC AUC decides
        ((0.92, None), (0.92, 0.27), False),
    ],
)
def test_no_worse_on_either_question_and_better_on_one(
    mine: tuple[float, float | None], theirs: tuple[float, float | None], wins: bool
) -> None:
    assert _wins(mine, theirs) is wins
