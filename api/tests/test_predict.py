"""Predictions, their reasons, and the read-only routes (/model, /health, /metrics)."""

from __future__ import annotations

import math
import os

import numpy as np

from data_science import explain


def test_prediction_response(app_client, booking) -> None:
    body = app_client.post("/predict", json=booking).json()
    assert set(body) == {
        "request_id",
        "booking_id",
        "as_of",
        "cancel_probability",
        "will_cancel",
        "threshold",
        "model_version",
        "reasons",
    }
    assert 0.0 <= body["cancel_probability"] <= 1.0
    assert body["will_cancel"] == (body["cancel_probability"] >= body["threshold"])
    assert body["model_version"] == "1"
    assert len(body["request_id"]) == 32
    assert body["booking_id"] is None  # none was sent


def test_reasons_are_the_largest_contributions_in_words(app_client, bookings) -> None:
    for booking in bookings[:20]:
        body = app_client.post("/predict", json=booking).json()
        reasons = body["reasons"]
        assert len(reasons) == 3
        sizes = [abs(r["contribution"]) for r in reasons]
        assert sizes == sorted(sizes, reverse=True)
        for reason in reasons:
            assert reason["direction"] == ("raises" if reason["contribution"] > 0 else "lowers")
            assert reason["text"].endswith(" points)")
            verb = "raise" if reason["direction"] == "raises" else "lower"
            assert f" {verb}s the risk" in reason["text"] or f" {verb} the risk" in reason["text"]
            assert (reason["probability_change"] > 0) == (reason["direction"] == "raises")
            assert "_" not in reason["text"].split(" (")[0], "a feature name leaked into the words"


def test_reasons_follow_the_known_rule_of_the_data(app_client, booking) -> None:
    """The synthetic bookings cancel more with non-refundable deposits and long lead times and
    less with special requests (data_engineering/src/synthetic.py): the reasons must say so."""
    risky = booking | {"deposit_type": "Non Refund", "lead_time": 400, "total_of_special_requests": 0}
    body = app_client.post("/predict", json=risky).json()
    by_feature = {r["feature"]: r for r in body["reasons"]}
    assert by_feature["deposit_type"]["direction"] == "raises"
    assert by_feature["deposit_type"]["text"].startswith("Non-refundable deposit")

    safe = booking | {"deposit_type": "No Deposit", "lead_time": 2, "total_of_special_requests": 3}
    body = app_client.post("/predict", json=safe).json()
    lowering = [r for r in body["reasons"] if r["direction"] == "lowers"]
    assert lowering, body["reasons"]
    assert body["cancel_probability"] < app_client.post("/predict", json=risky).json()["cancel_probability"]


def test_reason_sizes_reconstruct_the_probability(app_client, booking) -> None:
    """probability_change is p minus p without that term: check it against the calibration."""
    info = app_client.get("/model").json()
    a, b = info["calibration"]
    body = app_client.post("/predict", json=booking).json()
    p = body["cancel_probability"]
    margin = (math.log(p / (1 - p)) - b) / a
    for reason in body["reasons"]:
        term = reason["contribution"] / a
        without = 1 / (1 + math.exp(-(a * (margin - term) + b)))
        assert math.isclose(reason["probability_change"], p - without, abs_tol=1e-6)


def test_phrases_a_revenue_manager_reads() -> None:
    assert explain.describe("lead_time", 240) == "Booked 240 days ahead"
    assert explain.describe("lead_time", 1) == "Booked 1 day ahead"
    assert explain.describe("deposit_type", "Non Refund") == "Non-refundable deposit"
    assert explain.describe("total_of_special_requests", 2) == "2 special requests"
    assert explain.describe("total_of_special_requests", 0) == "No special requests"
    assert explain.describe("previous_cancellations", 1) == "1 previous cancellation"
    assert explain.describe("agent", "none") == "No travel agent"
    assert explain.describe("country", "UNK") == "Country of origin unknown"
    assert explain.describe("arrival_weekday", 4) == "Arrival on a Friday"
    # The day index counts from 1 January 2000: 9,000 days later is 22 August 2024.
    assert explain.describe("booking_date_index", 9000) == "Booked on 22 Aug 2024"
    assert explain.describe("country", "PRT") == "Guest from Portugal"
    assert explain.describe("weekend_share", 0.5) == "50% of the nights on a weekend"
    assert explain.describe("a_future_feature", 3) == "A future feature = 3"


def test_reason_sentences_agree_in_number() -> None:
    names = ["total_of_special_requests", "previous_cancellations", "deposit_type", "lead_time"]
    features = {
        "total_of_special_requests": np.array([2]),
        "previous_cancellations": np.array([1]),
        "deposit_type": np.array(["Non Refund"], dtype=object),
        "lead_time": np.array([240]),
    }
    contribs = np.array([-0.5, 0.4, 2.0, 0.3, -1.0])  # the last column is the bias
    texts = [
        r["text"].split(" (")[0]
        for r in explain.reasons(
            features, 0, contribs, 1.2, calibration=(1.0, 0.0), feature_names=names, top=4
        )
    ]
    assert texts == [
        "Non-refundable deposit strongly raises the risk",
        "2 special requests lower the risk",
        "1 previous cancellation raises the risk",
        "Booked 240 days ahead raises the risk",
    ]


def test_every_model_feature_has_words(app_client) -> None:
    features = app_client.get("/model").json()["features"]
    assert [f for f in features if f not in explain.PHRASES] == []


def test_batch_reasons_equal_single_reasons(app_client, bookings) -> None:
    sample = bookings[:5]
    batch = app_client.post("/predict/batch?reasons=true", json={"bookings": sample}).json()
    for item, booking in zip(batch["predictions"], sample, strict=True):
        single = app_client.post("/predict", json=booking).json()
        assert [r["text"] for r in item["reasons"]] == [r["text"] for r in single["reasons"]]
        assert np.isclose(item["cancel_probability"], single["cancel_probability"], rtol=0, atol=1e-12)


def test_model_route_describes_the_champion(app_client, trained_workspace) -> None:
    info = app_client.get("/model").json()
    assert info["name"] == "hotel-cancellation"
    assert info["version"] == "1"
    assert "champion" in info["aliases"]
    assert info["run_id"]
    assert info["trained_at"]
    assert set(info["training_window"]) >= {"train_start", "train_end", "cutoff"}
    assert 0.5 < info["backtest_metrics"]["roc_auc"] <= 1.0
    assert len(info["backtest_windows"]) == 4
    assert 0 < info["threshold"] < 1
    assert info["features"] == info["numeric_features"] + info["categorical_features"]
    assert "deposit_type" in info["features"]
    assert "reservation_status" not in info["features"]


def test_health_and_metrics(app_client, booking) -> None:
    assert app_client.get("/health").json() == {"status": "ok", "pid": os.getpid(), "model_version": "1"}
    app_client.post("/predict", json=booking)
    metrics = app_client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'hotel_api_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'hotel_api_request_duration_seconds_bucket{le="0.001",route="/predict"}' in text
    assert 'hotel_api_model_info{name="hotel-cancellation",version="1"} 1.0' in text
    assert "hotel_api_predictions_total{decision=" in text
    for name in ("written", "refused", "failed_writes"):
        assert f"hotel_api_prediction_log_{name}_total" in text
    app_client.get("/no/such/path")
    assert 'route="other"' in app_client.get("/metrics").text
