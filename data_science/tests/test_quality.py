"""The figures every report quotes: calibration in the large and how far chance alone moves it."""

from __future__ import annotations

import numpy as np
import pytest

from data_science.quality import calibration_standard_error, probability_metrics


def test_the_standard_error_is_the_spread_of_calibration_in_the_large_over_repeated_windows() -> None:
    """Perfectly calibrated probabilities, parties of 1–6 rooms that share one outcome: over many
    draws of the outcomes, calibration in the large spreads as far as its standard error says,
    and rooms counted as independent would say 2× too little."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 7, 1500)
    party = np.repeat(np.arange(len(sizes)), sizes)
    p = np.repeat(rng.uniform(0.05, 0.6, len(sizes)), sizes)
    draws, errors = [], []
    for _ in range(400):
        y = np.repeat(rng.random(len(sizes)), sizes) < p
        draws.append(p.mean() - y.mean())
        errors.append(calibration_standard_error(y, p, party))
    spread = float(np.std(draws))
    assert np.mean(errors) == pytest.approx(spread, rel=0.1)
    independent = calibration_standard_error(y, p, np.arange(len(p)))
    assert independent < spread / 1.6


def test_a_party_of_k_identical_rooms_weighs_as_one_booking_seen_k_times() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.random(200)
    single = calibration_standard_error(y, p, np.arange(200))
    k = 4
    rooms = (np.repeat(y, k), np.repeat(p, k))
    assert calibration_standard_error(*rooms, np.repeat(np.arange(200), k)) == pytest.approx(single)
    assert calibration_standard_error(*rooms, np.arange(200 * k)) == pytest.approx(single / np.sqrt(k))


def test_probability_metrics_report_the_miss_and_its_standard_error() -> None:
    y, p = np.array([1, 0, 0, 1]), np.array([0.9, 0.2, 0.1, 0.4])
    figures = probability_metrics(y, p, np.array([1, 1, 2, 3]))
    assert figures["calibration_in_the_large"] == pytest.approx(0.4 - 0.5)
    assert figures["calibration_in_the_large_se"] > 0
    empty = probability_metrics(np.array([]), np.array([]), np.array([]))
    assert empty["rows"] == 0
    assert np.isnan(empty["calibration_in_the_large_se"])
