"""The exact distribution of a night's cancellation count: against enumeration, the binomial, the
moments, and the dynamic programme; and its quantiles' convention."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from data_science import count_distribution
from data_science.count_distribution import LEAF, Method, count_pmf, quantiles

RNG = np.random.default_rng(20170228)


def _enumerated(p, rooms):
    """P(X = x) summed over all 2^n outcomes of the groups: the definition itself."""
    pmf = np.zeros(int(rooms.sum()) + 1)
    for outcome in itertools.product((0, 1), repeat=len(p)):
        y = np.array(outcome, dtype=bool)
        pmf[int(rooms[y].sum())] += float(np.prod(np.where(y, p, 1 - p)))
    return pmf


@pytest.mark.parametrize("n", [1, 2, 5, 12])
@pytest.mark.parametrize("method", ["fft", "dp"])
def test_small_nights_match_every_outcome_enumerated(
    n: int, method: Method, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leaves of 2 Bernoullis: a night of 5 or 12 goes through the FFT tree, odd leaves out too.
    monkeypatch.setattr(count_distribution, "LEAF", 2)
    p = RNG.uniform(0, 1, n)
    ones = np.ones(n, dtype=np.int64)
    rooms = RNG.integers(1, 4, n)
    np.testing.assert_allclose(count_pmf(p, method=method), _enumerated(p, ones), atol=1e-14)
    np.testing.assert_allclose(count_pmf(p, rooms, method=method), _enumerated(p, rooms), atol=1e-14)


@pytest.mark.parametrize("n", [2 * LEAF + 5, 1000])  # 3 leaves (one left out of a pair), 32
def test_equal_probabilities_give_the_binomial(n: int) -> None:
    p = 0.3
    binomial = np.array([math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(n + 1)])
    for method in ("fft", "dp"):
        np.testing.assert_allclose(count_pmf(np.full(n, p), method=method), binomial, atol=1e-12)


def test_groups_cancel_together() -> None:
    # A group of 3 rooms at 0.5: all three or none, never one or two.
    np.testing.assert_allclose(count_pmf([0.5], [3]), [0.5, 0, 0, 0.5], atol=1e-15)
    # With a single room at 0.2 beside it: 0, 1, 3 or 4 cancellations.
    np.testing.assert_allclose(count_pmf([0.5, 0.2], [3, 1]), [0.4, 0.1, 0, 0.4, 0.1], atol=1e-15)


def test_certain_outcomes_shift_or_vanish() -> None:
    # p = 1 always cancels (2 + 3 rooms), p = 0 never (its 4 rooms stay in the support at 0).
    pmf = count_pmf([1.0, 0.0, 1.0], [2, 4, 3])
    assert len(pmf) == 10
    np.testing.assert_allclose(pmf, np.eye(1, 10, 5)[0], atol=1e-15)
    # Many of them, on the FFT path too.
    many = np.r_[np.ones(100), np.zeros(100), [0.5]]
    pmf = count_pmf(many)
    np.testing.assert_allclose(pmf[[100, 101]], [0.5, 0.5], atol=1e-12)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)


def test_a_night_without_bookings_has_no_cancellation() -> None:
    np.testing.assert_array_equal(count_pmf(np.array([])), [1.0])
    np.testing.assert_array_equal(count_pmf([], []), [1.0])


@pytest.mark.parametrize("method", ["fft", "dp"])
def test_mean_and_variance_are_those_of_the_sum(method: Method) -> None:
    """E[X] = Σ k·p and Var[X] = Σ k²·p·(1 − p) (independent groups)."""
    n = 1500
    p = RNG.beta(1, 4, n)
    rooms = np.where(RNG.random(n) < 0.9, 1, RNG.integers(2, 12, n))
    pmf = count_pmf(p, rooms, method=method)
    x = np.arange(len(pmf))
    mean = (x * pmf).sum()
    assert pmf.min() >= 0
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert mean == pytest.approx((rooms * p).sum(), rel=1e-12)
    assert ((x - mean) ** 2 * pmf).sum() == pytest.approx((rooms**2 * p * (1 - p)).sum(), rel=1e-10)


def test_a_large_night_by_fft_is_the_dynamic_programme() -> None:
    """5,000 bookings (5% of them in groups of 2–20 rooms): the FFT tree and the O(n²) dynamic
    programme agree to 1e-9 everywhere, with no negative value left by round-off.

    Measured on this machine (2 shared cores, count_pmf of unit groups): 5,000 bookings take
    ~2.4 ms by the FFT tree against ~55–70 ms by the dynamic programme; 50,000 take ~30 ms by the
    FFT tree (the dynamic programme would need ~5 s)."""
    n = 5000
    p = RNG.beta(1, 6, n)
    rooms = np.where(RNG.random(n) < 0.95, 1, RNG.integers(2, 21, n))
    fft, dp = count_pmf(p, rooms), count_pmf(p, rooms, method="dp")
    assert fft.shape == dp.shape == (rooms.sum() + 1,)
    assert np.abs(fft - dp).max() < 1e-9
    assert fft.min() >= 0
    assert not np.array_equal(fft, dp), "the default took the dynamic programme, not the FFT tree"


@pytest.mark.parametrize(
    ("p", "rooms", "message"),
    [
        ([0.5, 1.2], None, r"p must lie in \[0, 1\], got 1.2"),
        ([np.nan], None, r"p must lie in \[0, 1\], got nan"),
        ([[0.5]], None, "p must be one probability per group"),
        ([0.5, 0.5], [1], "rooms must match p"),
        ([0.5], [0], "rooms must be whole numbers ≥ 1"),
        ([0.5], [1.5], "rooms must be whole numbers ≥ 1"),
    ],
)
def test_bad_input_is_named(p, rooms, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        count_pmf(p, rooms)


def test_quantiles_are_the_smallest_count_whose_cdf_reaches_the_level() -> None:
    pmf = np.array([0.25, 0.5, 0.25])
    # F = 0.25, 0.75, 1: a level the CDF reaches exactly takes that count, not the next.
    assert quantiles(pmf, [0.1, 0.25, 0.26, 0.75, 0.76, 1.0]).tolist() == [0, 0, 1, 1, 2, 2]


def test_quantiles_forgive_round_off_in_the_cdf() -> None:
    pmf = np.full(10, 0.1)
    assert np.cumsum(pmf)[7] < 0.8  # 0.7999999999999999: without the tolerance, 8
    assert quantiles(pmf, [0.8, 1.0]).tolist() == [7, 9]


def test_quantile_levels_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match=r"quantile levels must lie in \(0, 1\]"):
        quantiles(np.array([1.0]), [0.0])
