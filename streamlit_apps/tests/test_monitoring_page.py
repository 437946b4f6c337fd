"""Monitoring page against the seeded PostgreSQL and the trained champion's window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data_engineering.src.schema import BOOKING_FIELDS
from data_science.performance_estimate import estimate
from streamlit_apps.lib import drift, performance, ui
from streamlit_apps.tests import oracles
from streamlit_apps.tests.helpers import messages, metrics, open_page
from streamlit_apps.tests.seed import ID_SENT, NOT_LOADED, REPRICED

pytestmark = pytest.mark.postgres
PAGE = "pages/monitoring.py"


def test_volume_share_and_latency(dashboard_env) -> None:
    at = open_page(PAGE)
    week = oracles.recent(dashboard_env.predictions)
    assert len(week) == 60  # the five ten-day-old predictions are outside the default period
    shown = metrics(at)
    assert shown["Predictions"] == "60"
    assert shown["Predicted to cancel"] == f"{week['will_cancel'].mean():.1%}"
    assert shown["Mean probability"] == f"{week['cancel_probability'].mean():.1%}"
    # Per call: the ten bookings of the batch call count once, with the call's 480 ms.
    calls = oracles.call_latencies(week)
    assert len(calls) == 51
    assert shown["Latency p50 (ms)"] == f"{oracles.nearest_rank(calls, 0.50):,.1f}"
    assert shown["Latency p95 (ms)"] == f"{oracles.nearest_rank(calls, 0.95):,.1f}"
    assert any("51 API calls" in caption.value for caption in at.caption)

    at.selectbox(key="period").set_value("All time").run()
    assert metrics(at)["Predictions"] == f"{len(dashboard_env.predictions)}"


def test_drift_of_every_input_against_the_champions_own_profile(dashboard_env) -> None:
    at = open_page(PAGE)
    table = next(df.value for df in at.dataframe if "PSI" in df.value.columns)
    # Every input but the parts of the arrival date, which the page names with why.
    assert sorted(table["feature"]) == sorted(set(BOOKING_FIELDS) - set(drift.CALENDAR_BOUND))
    left_out = next(c.value for c in at.caption if "Left out" in c.value)
    for name, why in drift.CALENDAR_BOUND.items():
        assert f"`{name}` ({why})" in left_out
    assert table["PSI"].notna().all()
    for value, level in zip(table["PSI"], table["severity"], strict=True):
        assert level == drift.severity(value)

    training = dashboard_env.bookings  # the champion is refit on all of them
    current = oracles.cleaned(oracles.recent(dashboard_env.predictions))
    shown = table.set_index("feature")
    for feature, numeric in (("lead_time", True), ("adr", True), ("hotel", False), ("country", False)):
        expected = oracles.psi(training[feature], current[feature], numeric=numeric)
        assert shown.loc[feature, "PSI"] == pytest.approx(expected, rel=1e-9), feature
    # A third of the logged bookings were made 900 days ahead, which training never saw.
    assert shown.loc["lead_time", "severity"] == "alert"
    assert str(shown.loc["lead_time", "largest shift (training → now)"]).startswith("> ")
    counts = table["severity"].value_counts()
    assert metrics(at)["Inputs in alert"] == str(counts.get("alert", 0))
    reference = f"the {len(training):,} bookings champion version 1 was trained on"
    assert any(reference in caption.value for caption in at.caption)


def test_drift_reads_the_profile_saved_with_the_model_not_the_database(
    dashboard_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the bookings table holds now, the reference is what the champion learned from."""
    from streamlit_apps.lib import registry

    reference = registry.champion_profile(dashboard_env.tracking_uri)
    assert reference is not None
    profile = reference.profile
    training = dashboard_env.bookings  # what the champion was refit on (the same synthetic file)
    assert profile["rows"] == len(training)
    assert sum(profile["fields"]["hotel"]["counts"].values()) == len(training)


def test_realised_precision_and_recall_from_matching_bookings(dashboard_env) -> None:
    at = open_page(PAGE)
    counts = oracles.realised(dashboard_env.bookings, oracles.recent(dashboard_env.predictions))
    tp, fp, fn, tn = (counts[k] for k in oracles.CONFUSION)
    labelled = tp + fp + fn + tn
    # 40 of the recent bookings are the dataset's: 15 sent with their id, 3 with ids not loaded
    # (no outcome for them), 22 without an id (duplicates that disagree are left out).
    assert (counts["by_id"], counts["waiting"]) == (ID_SENT, NOT_LOADED)
    assert counts["by_fields"] >= 20
    shown = metrics(at)
    assert shown["Predictions with an outcome"] == str(labelled)
    assert shown["Realised precision"] == f"{tp / (tp + fp):.1%}"
    assert shown["Realised recall"] == f"{tp / (tp + fn):.1%}"
    assert shown["Realised accuracy"] == f"{(tp + tn) / labelled:.1%}"
    confusion = next(df.value for df in at.dataframe if "cancelled" in df.value.columns)
    assert confusion["cancelled"].tolist() == [tp, fn]
    assert confusion["stayed"].tolist() == [fp, tn]


def test_drift_needs_a_champion(dashboard_env, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'nothing.db'}")
    at = open_page(PAGE)
    assert metrics(at)["Predictions"] == "60"  # the rest of the page still works
    assert "No MLflow tracking store yet" in messages(at)
    assert not (tmp_path / "nothing.db").exists()


def test_time_axes_read_24_hour_utc_like_the_page(dashboard_env) -> None:
    """The caption says "... 15:25 UTC": the charts' axes must not read 03:25 (12-hour clock) nor
    shift to the browser's time zone."""
    at = open_page(PAGE)
    axes = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for layer in spec.get("layer", [spec]):
            x = layer.get("encoding", {}).get("x", {})
            if x.get("field") == "bucket":
                axes.append(x)
    assert len(axes) == 3  # volume, share predicted to cancel, latency
    for x in axes:
        # A UTC scale formats in UTC in any browser; Vega-Lite drops the format if formatType is
        # also set (seen in Chromium), so the axis holds the format alone.
        assert x["scale"]["type"] == "utc"
        assert x["axis"] == {"format": ui.TIME_FORMATS["hour"]}  # 20 hours of predictions: hourly
    assert "%I" not in "".join(ui.TIME_FORMATS.values())  # %H: 24-hour clock
    tips = [t for chart in at.get("vega_lite_chart") for t in _tooltips(json.loads(chart.proto.spec))]
    assert {"field": "when", "type": "nominal", "title": "hour"} in tips  # preformatted "... UTC" text


def _tooltips(spec: dict) -> list[dict]:
    return [t for layer in spec.get("layer", [spec]) for t in layer.get("encoding", {}).get("tooltip", [])]


def test_outcomes_are_joined_by_booking_id_when_the_api_was_sent_one(dashboard_env) -> None:
    """A prediction with an id is matched by it alone: the five whose rate the hotel changed
    since still get their outcome, the three whose id is not loaded get none although their 27
    fields match a loaded booking; the page says how many were matched which way."""
    week = oracles.recent(dashboard_env.predictions)
    with_id = week[[b["booking_id"] is not None for b in week["booking"]]]
    assert len(with_id) == ID_SENT + NOT_LOADED
    by_fields_only = oracles.realised(
        dashboard_env.bookings,
        with_id.assign(
            booking=pd.Series([{**b, "booking_id": None} for b in with_id["booking"]], index=with_id.index)
        ),
    )
    assert by_fields_only["by_fields"] == ID_SENT - REPRICED + NOT_LOADED  # what 27 fields would match
    by_id = oracles.realised(dashboard_env.bookings, with_id)
    assert (by_id["by_id"], by_id["waiting"]) == (ID_SENT, NOT_LOADED)

    at = open_page(PAGE)
    counts = oracles.realised(dashboard_env.bookings, week)
    assert metrics(at)["Predictions with an outcome"] == str(sum(counts[k] for k in oracles.CONFUSION))
    caption = next(c.value for c in at.caption if "matched to a booking" in c.value)
    assert f"by the `booking_id` the API was sent ({ID_SENT})" in caption
    assert f"by their 27 booking fields as the transformation cleans them ({counts['by_fields']};" in caption
    assert f"{NOT_LOADED} predictions with a booking id have no outcome yet" in caption


def comparison_table(at) -> pd.DataFrame:
    """The estimated/realised table, one row per figure (the page shows one row per source)."""
    return next(df.value for df in at.dataframe if "ROC AUC" in df.value.columns).set_index("").T


def test_estimated_beside_realised_on_the_same_predictions(dashboard_env) -> None:
    """The estimate from the probabilities alone (all of the period's, and those with an outcome),
    the realised figures of those with an outcome (ROC AUC on the database, tied probabilities
    sharing their rank), and the gap on the same predictions."""
    at = open_page(PAGE)
    week = oracles.recent(dashboard_env.predictions)
    threshold = float(week["threshold"].mean())
    period = estimate(week["cancel_probability"].to_numpy(), threshold)
    known = oracles.with_outcome(dashboard_env.bookings, week)
    assert known["probability"].duplicated().any()  # ties, which the ranks must share
    on_known = estimate(known["probability"].to_numpy(), threshold)
    realised_auc = roc_auc_score(known["cancelled"], known["probability"])
    realised_rate = known["cancelled"].mean()

    shown = {m.label: m for m in at.metric}
    assert shown["Estimated ROC AUC"].value == f"{period.roc_auc:.3f}"
    assert shown["Estimated cancellation rate"].value == f"{period.cancellation_rate:.1%}"
    assert shown["Realised ROC AUC"].value == f"{realised_auc:.3f}"
    assert shown["Realised cancellation rate"].value == f"{realised_rate:.1%}"
    assert shown["Realised ROC AUC"].delta == f"{realised_auc - on_known.roc_auc:.3f} vs estimated"

    table = comparison_table(at)
    assert list(table.columns) == [
        f"estimated: {len(week)} predictions of the period",
        f"estimated: {len(known)} with an outcome",
        f"realised: {len(known)} with an outcome",
        "gap: realised − estimated on the same predictions",
    ]
    low, high = period.intervals["roc_auc"]
    assert table.iloc[0, 0] == f"{period.roc_auc:.3f} ({low:.3f}–{high:.3f})"
    low, high = on_known.intervals["cancellation_rate"]
    assert (
        table.loc["cancellation rate"].iloc[1] == f"{on_known.cancellation_rate:.1%} ({low:.1%}–{high:.1%})"
    )
    assert table.loc["ROC AUC"].iloc[2] == f"{realised_auc:.3f}"
    gap = realised_auc - on_known.roc_auc
    low, high = on_known.intervals["roc_auc"]
    inside = "inside" if low <= realised_auc <= high else "outside"
    sign = "+" if gap >= 0 else "−"
    assert table.loc["ROC AUC"].iloc[3] == f"{sign}{abs(gap):.3f}, {inside} the interval"
    caption = next(c.value for c in at.caption if "**Estimated** from the logged probabilities" in c.value)
    assert "fill in as outcomes are loaded" in caption


def test_the_estimate_reads_a_bounded_number_of_probabilities(
    dashboard_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the bound the period is estimated on its newest predictions, and the page says so."""
    monkeypatch.setattr(performance, "ESTIMATE_ROWS", 20)
    at = open_page(PAGE)
    week = oracles.recent(dashboard_env.predictions)
    newest = week.sort_values("created_at", ascending=False).head(20)
    expected = estimate(newest["cancel_probability"].to_numpy(), float(week["threshold"].mean()))
    assert metrics(at)["Estimated ROC AUC"] == f"{expected.roc_auc:.3f}"
    known = oracles.with_outcome(dashboard_env.bookings, week)
    assert len(known) > 20
    assert list(comparison_table(at).columns)[:2] == [
        f"estimated: the newest 20 of {len(week)} predictions of the period",
        f"estimated: the newest 20 of {len(known)} with an outcome",
    ]
    assert np.isfinite(expected.roc_auc)
