"""The label-free estimate against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from data_science.performance_estimate import estimate, expected_roc_auc

MODULE = "data_science.estimate_command"


@pytest.fixture(scope="module")
def calibrated() -> tuple[np.ndarray, np.ndarray]:
    """Probabilities, and outcomes drawn from them: the probabilities are calibrated by construction."""
    rng = np.random.default_rng(7)
    p = rng.beta(0.6, 1.2, 40_000)
    return p, (rng.random(len(p)) < p).astype(int)


def test_the_estimate_matches_what_calibrated_probabilities_realise(calibrated) -> None:
    p, y = calibrated
    result = estimate(p, 0.4, samples=200)
    assert result.rows == len(p)
    assert result.roc_auc == pytest.approx(roc_auc_score(y, p), abs=0.005)
    assert result.cancellation_rate == pytest.approx(y.mean(), abs=0.005)
    flagged = p >= 0.4
    assert result.precision == pytest.approx(precision_score(y, flagged), abs=0.01)
    assert result.recall == pytest.approx(recall_score(y, flagged), abs=0.01)
    for name in ("roc_auc", "cancellation_rate", "precision", "recall"):
        low, high = result.intervals[name]
        assert low < getattr(result, name) < high
        assert high - low < 0.03  # 40,000 bookings: a narrow interval


def test_the_interval_holds_the_realised_value_as_often_as_it_says() -> None:
    """Outcomes drawn again and again from one set of probabilities: the 95% interval of the ROC AUC
    holds the realised value about 95% of the time."""
    rng = np.random.default_rng(3)
    p = rng.beta(0.8, 1.5, 2_000)
    result = estimate(p, 0.5, samples=400, seed=1)
    low, high = result.intervals["roc_auc"]
    realised = [roc_auc_score(rng.random(len(p)) < p, p) for _ in range(300)]
    inside = np.mean([(low <= r <= high) for r in realised])
    assert 0.90 <= inside <= 0.99


def test_known_curves() -> None:
    assert expected_roc_auc(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(1.0)  # certain outcomes
    assert expected_roc_auc(np.full(50, 0.3)) == pytest.approx(0.5)  # nothing to rank by
    # Two bookings: the expected curve passes through (FPR 0.2, TPR 0.8).
    assert expected_roc_auc(np.array([0.8, 0.2])) == pytest.approx(0.8)
    assert np.isnan(expected_roc_auc(np.zeros(5)))


def test_a_level_that_moved_moves_the_estimate(calibrated) -> None:
    """The estimate is only as good as the calibration: probabilities too high by a third of their
    odds over-estimate the cancellation rate, which is why the backtest reports both."""
    p, y = calibrated
    odds = p / (1 - p) * 1.5
    inflated = odds / (1 + odds)
    assert estimate(inflated, 0.4, samples=50).cancellation_rate > y.mean() + 0.03


def test_nothing_to_estimate_on() -> None:
    with pytest.raises(ValueError, match="no booking"):
        estimate(np.empty(0), 0.5)


def test_the_command_estimates_from_bookings_without_outcomes(
    trained_workspace, tmp_path, run_module
) -> None:
    import json

    from data_engineering.src.synthetic import make_bookings

    path = tmp_path / "future.csv"
    make_bookings(400, seed=5).drop(
        columns=["is_canceled", "reservation_status", "reservation_status_date"]
    ).to_csv(path, index=False)
    result = run_module(
        MODULE, str(path), "--json", str(tmp_path / "estimate.json"), env=trained_workspace.env()
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "estimate.json").read_text())
    assert figures["rows"] == 400
    for name in ("roc_auc", "cancellation_rate", "precision", "recall"):
        low, high = figures["intervals"][name]
        assert 0 <= low <= figures[name] <= high <= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("a,b\n1,2\n", "missing column(s): hotel"),
        ("other-hotels", "not in the vocabulary"),
    ],
)
def test_bad_input_ends_with_one_line_and_no_traceback(
    trained_workspace, tmp_path, run_module, content: str, message: str
) -> None:
    from data_engineering.src.synthetic import OTHER_HOTEL_GROUP, make_bookings

    path = tmp_path / "in.csv"
    if content == "other-hotels":
        make_bookings(30, seed=2, renamed=OTHER_HOTEL_GROUP).to_csv(path, index=False)
    else:
        path.write_text(content)
    result = run_module(MODULE, str(path), env=trained_workspace.env())
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    error = next(line for line in result.stderr.splitlines() if "error:" in line)
    assert error.count("in.csv") == 1, error  # the file named once, not "X: X is empty"
