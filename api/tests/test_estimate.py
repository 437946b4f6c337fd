"""The estimated ROC AUC of the recent answers: its window, its /metrics gauges and its alert."""

from __future__ import annotations

import logging
import math
import re
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from api.app import create_app
from api.estimate import EstimateWatch
from api.metrics import Metrics
from api.settings import Settings
from api.tests.helpers import api_settings
from data_engineering.src.ports import wait_until
from data_engineering.src.settings import SettingsError
from data_science.performance_estimate import expected_roc_auc

GAUGE = "hotel_api_estimated_roc_auc"
BELOW = "hotel_api_estimated_roc_auc_below_floor"
WINDOW = "hotel_api_estimate_window_answers"


def rows(probabilities: np.ndarray, version: str = "1") -> list[tuple]:
    """Prediction-log rows as the predict routes hand them over (only two fields are read)."""
    return [
        ("id", 0.0, "hotel-cancellation", version, {}, float(p), p >= 0.5, 0.5, 1.0, "c", 1)
        for p in probabilities
    ]


def informative(n: int, seed: int = 0) -> np.ndarray:
    """Probabilities of a model that ranks well: most near 0 or 1 (expected ROC AUC ~0.95)."""
    return np.random.default_rng(seed).beta(0.3, 0.4, n)


def uninformative(n: int, seed: int = 1) -> np.ndarray:
    """Probabilities of a model that barely ranks: all between 0.4 and 0.6 (expected ROC AUC ~0.55)."""
    return np.random.default_rng(seed).uniform(0.4, 0.6, n)


def gauges(metrics: Metrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    found = {}
    for name in (GAUGE, BELOW, WINDOW):
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"{name} not in /metrics"
        found[name] = float(match.group(1))
    return found


def watch(
    metrics: Metrics, *, window: int = 2_000, minimum: int = 1_000, floor: float = 0.8
) -> EstimateWatch:
    return EstimateWatch(
        window=window, minimum=minimum, floor=floor, every_seconds=0, on_judgement=metrics.estimate
    )


def alert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "api.estimate"]


def test_a_window_of_poor_probabilities_raises_the_gauge_and_one_warning(caplog) -> None:
    caplog.set_level(logging.INFO, logger="api.estimate")
    metrics = Metrics()
    estimate = watch(metrics)
    poor = uninformative(1_500)
    estimate.answered(rows(poor))
    for _ in range(3):  # three periods below the floor: one line, not three
        estimate.check()
    shown = gauges(metrics)
    assert shown[GAUGE] == pytest.approx(expected_roc_auc(poor))
    assert shown[GAUGE] < 0.6
    assert shown[BELOW] == 1.0
    assert shown[WINDOW] == 1_500
    (line,) = alert_lines(caplog)
    assert f"estimated ROC AUC {shown[GAUGE]:.3f} is below the floor 0.800" in line
    assert "last 1500 answers of model version 1" in line
    assert caplog.records[0].levelno == logging.WARNING

    # Good answers push the poor ones out of the window (2,000 newest): one line says so.
    estimate.answered(rows(informative(2_000)))
    estimate.check()
    estimate.check()
    shown = gauges(metrics)
    assert shown[GAUGE] > 0.9
    assert shown[BELOW] == 0.0
    assert shown[WINDOW] == 2_000
    assert len(alert_lines(caplog)) == 2
    assert alert_lines(caplog)[1].startswith(
        f"estimated ROC AUC back at or above the floor 0.800: {shown[GAUGE]:.3f}"
    )


def test_a_window_too_small_to_judge_raises_nothing(caplog) -> None:
    """Fewer answers than the minimum (1,000 by default): however poor, no estimate and no alert."""
    caplog.set_level(logging.INFO, logger="api.estimate")
    metrics = Metrics()
    assert math.isnan(gauges(metrics)[GAUGE])  # before any look: NaN, never a 0 an alert would read
    estimate = watch(metrics)
    estimate.answered(rows(uninformative(999)))
    judgement = estimate.check()
    assert not judgement.judged
    shown = gauges(metrics)
    assert math.isnan(shown[GAUGE])
    assert shown[BELOW] == 0.0
    assert shown[WINDOW] == 999
    assert alert_lines(caplog) == []

    estimate.answered(rows(uninformative(1)))  # the 1,000th
    assert estimate.check().below_floor
    assert len(alert_lines(caplog)) == 1


def test_a_new_model_version_starts_a_new_window(caplog) -> None:
    caplog.set_level(logging.INFO, logger="api.estimate")
    metrics = Metrics()
    estimate = watch(metrics)
    estimate.answered(rows(uninformative(1_500), version="1"))
    assert estimate.check().below_floor
    estimate.answered(rows(informative(10), version="2"))
    judgement = estimate.check()
    assert (judgement.answers, judgement.version, judgement.judged) == (10, "2", False)
    assert gauges(metrics)[BELOW] == 0.0
    # The alert ends with a line that says why.
    assert "model version 2 is served, too few of its answers to judge (10 < 1000" in alert_lines(caplog)[-1]


def test_appends_from_many_threads_while_judging() -> None:
    """Requests append from the event loop and the batch threads while the thread judges."""
    metrics = Metrics()
    estimate = watch(metrics, window=50_000, minimum=10)
    chunk = rows(informative(100))

    def append() -> None:
        for _ in range(100):
            estimate.answered(chunk)

    threads = [threading.Thread(target=append) for _ in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        estimate.check()
    for thread in threads:
        thread.join()
    assert estimate.check().answers == 40_000


def test_the_minimum_cannot_exceed_the_window(settings_env) -> None:
    with pytest.raises(
        SettingsError, match=r"API_ESTIMATE_MIN_ANSWERS \(500\) is larger than API_ESTIMATE_WINDOW \(100\)"
    ):
        Settings(estimate_window=100, estimate_min_answers=500)
    settings = Settings()
    assert (settings.estimate_window, settings.estimate_min_answers) == (10_000, 1_000)
    assert (settings.estimate_roc_auc_floor, settings.estimate_seconds) == (0.85, 60)


def metric_value(text: str, name: str) -> float | None:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


@pytest.mark.parametrize("log_on", [True, False])
def test_the_served_answers_feed_the_estimate_off_the_request_path(
    served_workspace, sqlite_log_url, bookings, caplog, log_on: bool
) -> None:
    """The real app: answers of /predict and /predict/batch go into the window, the app's own
    thread judges it every period, /metrics shows it; with the prediction log off too."""
    caplog.set_level(logging.INFO, logger="api.estimate")
    settings = api_settings(
        sqlite_log_url,
        prediction_log=log_on,
        estimate_seconds=0.05,
        estimate_window=1_000,
        estimate_min_answers=300,
        estimate_roc_auc_floor=0.999,  # above any real model's estimate: this window is "poor"
    )
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", json=bookings[0]).status_code == 200
        assert client.post("/predict/batch", json={"bookings": bookings[1:300]}).status_code == 200
        # 300 answers: judged, below the floor, in a period or two.
        assert wait_until(lambda: metric_value(client.get("/metrics").text, BELOW) == 1.0, 10)
        text = client.get("/metrics").text
        assert metric_value(text, WINDOW) == 300
        estimated = metric_value(text, GAUGE)
        assert estimated is not None
        assert 0.5 < estimated < 0.999
        # Another call: the window holds both calls' answers, the next period says so.
        assert client.post("/predict/batch", json={"bookings": bookings[300:600]}).status_code == 200
        assert wait_until(lambda: metric_value(client.get("/metrics").text, WINDOW) == 600, 10)
        assert metric_value(client.get("/metrics").text, BELOW) == 1.0
    lines = alert_lines(caplog)
    assert len(lines) == 1, lines  # many periods below the floor, one line
    assert "is below the floor 0.999" in lines[0]


def test_too_few_served_answers_raise_no_alert(served_workspace, sqlite_log_url, bookings, caplog) -> None:
    caplog.set_level(logging.INFO, logger="api.estimate")
    settings = api_settings(sqlite_log_url, estimate_seconds=0.05, estimate_roc_auc_floor=0.999)
    with TestClient(create_app(settings)) as client:  # the default minimum: 1,000 answers
        assert client.post("/predict/batch", json={"bookings": bookings[:300]}).status_code == 200
        assert wait_until(lambda: metric_value(client.get("/metrics").text, WINDOW) == 300, 10)
        text = client.get("/metrics").text
        assert str(metric_value(text, GAUGE)) == "nan"
        assert metric_value(text, BELOW) == 0.0
    assert alert_lines(caplog) == []
