"""The newsvendor rule: hand-computed nights, the expected cost minimised by brute force, and the
critical-ratio quantile identity."""

from __future__ import annotations

import numpy as np
import pytest

from data_science.count_distribution import count_pmf
from data_science.overbooking import Overbooking, critical_ratio, recommend


def _expected_cost(pmf, *, booked, capacity, sold, walk_cost, empty_cost) -> float:
    """w·E[(B − X + r − capacity)⁺] + e·E[(capacity − B + X − r)⁺]: the definition, summed."""
    shows = booked - np.arange(len(pmf)) + sold
    return float(
        walk_cost * (pmf * np.maximum(shows - capacity, 0)).sum()
        + empty_cost * (pmf * np.maximum(capacity - shows, 0)).sum()
    )


def _cheapest(pmf, *, booked, capacity, walk_cost, empty_cost) -> int:
    """The smallest r ≥ 0 of least expected cost, by trying every r that can matter."""
    costs = [
        _expected_cost(
            pmf, booked=booked, capacity=capacity, sold=r, walk_cost=walk_cost, empty_cost=empty_cost
        )
        for r in range(capacity + len(pmf) + 1)
    ]
    return int(np.flatnonzero(np.isclose(costs, min(costs), rtol=0, atol=1e-9))[0])


def test_a_hand_computed_night() -> None:
    """10 rooms, 10 booked, X = 0, 1, 2 with 0.2, 0.5, 0.3; a walk costs 300, an empty room 100.
    Selling r = 0: 1.1 empty rooms expected (cost 110); r = 1: 0.2 walks + 0.3 empty (90);
    r = 2: 0.9 walks (270). The ratio 100 / 400 = 0.25 falls between F(0) = 0.2 and F(1) = 0.7."""
    pmf = np.array([0.2, 0.5, 0.3])
    costs = [
        _expected_cost(pmf, booked=10, capacity=10, sold=r, walk_cost=300, empty_cost=100) for r in range(3)
    ]
    assert costs == pytest.approx([110, 90, 270])
    advice = recommend(pmf, booked=10, capacity=10, walk_cost=300, empty_cost=100)
    assert advice == Overbooking(rooms_to_sell=1, overbook_rooms=1)


def test_certain_cancellations_are_resold_exactly() -> None:
    # 3 of 8 booked rooms cancel for sure: sell the 2 free rooms and the 3 that will be freed.
    pmf = np.eye(1, 9, 3)[0]
    advice = recommend(pmf, booked=8, capacity=10, walk_cost=500, empty_cost=80)
    assert advice == Overbooking(rooms_to_sell=5, overbook_rooms=3)


def test_an_over_full_hotel_sells_nothing_and_is_told_how_far_over_it_is() -> None:
    # 15 booked for 10 rooms, 2 cancel for sure: 3 guests will be walked whatever it does.
    pmf = np.eye(1, 16, 2)[0]
    advice = recommend(pmf, booked=15, capacity=10, walk_cost=300, empty_cost=100)
    assert advice == Overbooking(rooms_to_sell=0, overbook_rooms=5)


def test_a_tie_takes_the_fewer_walks() -> None:
    # F(0) = 0.25 = the ratio: overbooking by 0 or by 1 costs the same (75); the rule takes 0.
    pmf = np.array([0.25, 0.75])
    costs = [_expected_cost(pmf, booked=1, capacity=1, sold=r, walk_cost=300, empty_cost=100) for r in (0, 1)]
    assert costs == pytest.approx([75, 75])
    assert recommend(pmf, booked=1, capacity=1, walk_cost=300, empty_cost=100) == Overbooking(0, 0)


@pytest.mark.parametrize("seed", range(40))
def test_the_rule_minimises_the_expected_cost_at_the_critical_ratio_quantile(seed: int) -> None:
    rng = np.random.default_rng(seed)
    booked = int(rng.integers(0, 60))
    p = rng.beta(1, 3, booked)
    pmf = count_pmf(p)
    capacity = int(rng.integers(1, 60))
    walk_cost, empty_cost = (float(c) for c in rng.uniform(10, 500, 2))
    advice = recommend(pmf, booked=booked, capacity=capacity, walk_cost=walk_cost, empty_cost=empty_cost)
    best = _cheapest(pmf, booked=booked, capacity=capacity, walk_cost=walk_cost, empty_cost=empty_cost)
    assert advice.rooms_to_sell == best
    assert advice.overbook_rooms == max(0, booked + best - capacity)
    if advice.rooms_to_sell > 0:  # unconstrained: the overbooking is the ratio's lower quantile
        cdf, ratio = np.cumsum(pmf), critical_ratio(walk_cost, empty_cost)
        y = advice.overbook_rooms
        assert cdf[y] >= ratio - 1e-9
        assert y == 0 or cdf[y - 1] < ratio


def test_the_critical_ratio_is_the_empty_room_share_of_the_costs() -> None:
    assert critical_ratio(300, 100) == 0.25
    assert critical_ratio(100, 100) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity": 0}, "capacity must be at least 1 room, got 0"),
        ({"walk_cost": -5.0}, "walk_cost must be a positive number, got -5.0"),
        ({"empty_cost": float("nan")}, "empty_cost must be a positive number, got nan"),
        ({"booked": 1}, "the pmf counts up to 2 cancellations among 1 rooms"),
    ],
)
def test_bad_input_is_named(kwargs, message: str) -> None:
    values = {"booked": 2, "capacity": 2, "walk_cost": 300.0, "empty_cost": 100.0} | kwargs
    with pytest.raises(ValueError, match=message):
        recommend(np.array([0.25, 0.5, 0.25]), **values)
