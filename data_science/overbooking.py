"""How many rooms a hotel should sell beyond its capacity for a night: the newsvendor rule.

A hotel has ``capacity`` rooms and ``B`` rooms on the books for a night, of which ``X`` will still
cancel (X has the pmf of ``count_distribution.count_pmf``). It may sell ``r ≥ 0`` more rooms now;
they are sold close to the night and are assumed to show up. The guests who come are
``S = B − X + r``. Each guest beyond capacity is walked (sent to another hotel) at ``w`` each; each
room left empty costs ``e`` (the night's lost revenue). The rule minimises the expected cost

    C(r) = w·E[(S − capacity)⁺] + e·E[(capacity − S)⁺].

**The critical ratio.** Write ``y = B + r − capacity``, the rooms sold beyond capacity. Then
``S − capacity = y − X`` and ``C = w·E[(y − X)⁺] + e·E[(X − y)⁺]``: the newsvendor's cost with
order ``y`` and demand ``X``. One more room sold beyond capacity costs a walk when X ≤ y (no
cancellation frees a room for it) and saves an empty room when X > y:

    C(y + 1) − C(y) = w·P(X ≤ y) − e·P(X > y) = (w + e)·F(y) − e,

with F the CDF of X. This difference grows with y, so C is convex and its smallest minimiser is
the smallest y with ``F(y) ≥ e / (w + e)``: the lower ``e / (w + e)``-quantile of X (at a tie,
``F(y)`` exactly the ratio, y and y + 1 cost the same and the rule takes y: fewer walks). Walking
a guest three times as costly as an empty room gives a ratio of 1/4: sell beyond capacity the
lower quartile of the cancellations, a number they reach with a probability above 3/4.

``r ≥ 0`` bounds the choice: when the hotel already holds more than ``capacity + y*`` bookings
(over-full), C grows with every further room and the rule sells none. Hence
``rooms_to_sell = max(0, capacity + y* − B)`` and ``overbook_rooms = max(0, B + r* − capacity)``:
``y*`` when the hotel should still sell, the bookings already beyond capacity when it is over-full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from data_science.count_distribution import FloatArray, quantiles


@dataclass(frozen=True)
class Overbooking:
    rooms_to_sell: int  # r*: rooms to sell now on top of those on the books
    overbook_rooms: int  # rooms on the books beyond capacity once r* are sold


def critical_ratio(walk_cost: float, empty_cost: float) -> float:
    """e / (w + e): the probability that the cancellations reach the overbooking, at the optimum."""
    for name, value in (("walk_cost", walk_cost), ("empty_cost", empty_cost)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")
    return empty_cost / (walk_cost + empty_cost)


def recommend(
    pmf: FloatArray, *, booked: int, capacity: int, walk_cost: float, empty_cost: float
) -> Overbooking:
    """The newsvendor's choice (module docstring) for one night whose cancellations have ``pmf``
    among ``booked`` rooms on the books."""
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 room, got {capacity}")
    if booked < 0 or len(pmf) > booked + 1:
        raise ValueError(f"the pmf counts up to {len(pmf) - 1} cancellations among {booked} rooms")
    target = int(quantiles(pmf, [critical_ratio(walk_cost, empty_cost)])[0])
    rooms_to_sell = max(0, capacity + target - booked)
    return Overbooking(rooms_to_sell, max(0, booked + rooms_to_sell - capacity))
