"""Monitoring: what the prediction API has been asked, how fast it answered, how the inputs drift
from the champion's training data (its own profile, saved with the model), and how right it was
once outcomes are known."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from data_engineering.src.messages import masked_uri
from streamlit_apps.lib import (
    config,
    db,
    drift,
    monitoring_charts,
    monitoring_sql,
    performance,
    registry,
    sql,
    ui,
)

PERIODS = {
    "Last 24 hours": dt.timedelta(hours=24),
    "Last 7 days": dt.timedelta(days=7),
    "Last 30 days": dt.timedelta(days=30),
    "All time": None,
}
HISTOGRAM_BINS = 20
MIN_DRIFT_SAMPLE = 100  # below this many predictions PSI mostly measures sampling noise
NO_PREDICTIONS = (
    f"The prediction API logs every answer to this table: start it (`./cli.sh serve-api"
    f"{config.environment_hint()}`) and send a request, for example from the What-if page."
)
LOAD_HINT = f"Load the bookings with `./cli.sh initialize-data db{config.environment_hint()}`."


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


st.title("Monitoring")
with st.sidebar:
    period = st.selectbox("Period", list(PERIODS), index=1, key="period")
# Whole minutes: the bound, and so the cache key, stays the same across reruns within a minute.
now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
span = PERIODS[period]
since = now - span if span else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

try:
    url = db.current_url()
    summary = db.query(monitoring_sql.prediction_summary(since), url=url).iloc[0]
except db.DataUnavailable as exc:
    ui.data_unavailable(exc, table=sql.PREDICTIONS, missing=NO_PREDICTIONS)
    st.stop()

total = int(summary["predictions"])
if total == 0:
    st.info(f"**No predictions logged in the period ({period.lower()}).** {NO_PREDICTIONS}")
    st.stop()

first_at, last_at = monitoring_charts.timestamps(pd.Series([summary["first_at"], summary["last_at"]]))
span_seen = last_at - first_at
unit: sql.Bucket = (
    "minute" if span_seen <= pd.Timedelta(hours=3) else "hour" if span_seen <= pd.Timedelta(days=3) else "day"
)
try:
    overall = db.query(monitoring_sql.prediction_activity(since, None), url=url).iloc[0]
    activity = db.query(monitoring_sql.prediction_activity(since, unit), url=url)
    histogram = db.query(monitoring_sql.probability_histogram(since, HISTOGRAM_BINS), url=url)
    versions = db.query(monitoring_sql.prediction_versions(since), url=url)
except db.DataUnavailable as exc:  # the database went away between two queries
    ui.data_unavailable(exc, table=sql.PREDICTIONS, missing=NO_PREDICTIONS)
    st.stop()

calls = int(summary["calls"])
st.caption(
    f"{period} · {total:,} predictions in {calls:,} API calls from {first_at:%Y-%m-%d %H:%M} to "
    f"{last_at:%Y-%m-%d %H:%M} UTC · source `{sql.PREDICTIONS}` · latency percentiles are per call "
    "(a batch call counts once, with its whole latency)"
)
kpis = st.columns(5)
kpis[0].metric("Predictions", ui.count(total))
kpis[1].metric("Predicted to cancel", ui.percent(int(summary["predicted_cancel"]) / total))
kpis[2].metric("Mean probability", ui.percent(summary["mean_probability"]))
kpis[3].metric("Latency p50 (ms)", ui.number(overall["latency_p50"], 1))
kpis[4].metric("Latency p95 (ms)", ui.number(overall["latency_p95"], 1))

left, right = st.columns(2)
left.altair_chart(monitoring_charts.activity_chart(activity, unit), width="stretch")
right.altair_chart(monitoring_charts.latency_chart(activity, unit), width="stretch")

threshold = summary["mean_threshold"]
st.altair_chart(monitoring_charts.probability_chart(histogram, threshold, HISTOGRAM_BINS), width="stretch")
if len(versions) > 1:
    st.caption(
        "Predictions by model version: "
        + ", ".join(
            f"{r['model_name']} v{r['model_version']}: {int(r['predictions']):,}"
            for r in versions.to_dict("records")
        )
    )

# ---------------------------------------------------------------------------------- performance
st.subheader("Estimated and realised performance")
try:
    probabilities = db.query(monitoring_sql.period_probabilities(since, performance.ESTIMATE_ROWS), url=url)
except db.DataUnavailable as exc:
    ui.data_unavailable(exc, table=sql.PREDICTIONS, missing=NO_PREDICTIONS)
    st.stop()
decision = float(threshold) if threshold is not None and not pd.isna(threshold) else 0.5
period_estimate = performance.label_free(probabilities["cancel_probability"].to_numpy(float), decision)
outcome, known_estimate = None, None
try:
    outcome = db.query(monitoring_sql.realised_outcomes(since), url=url).iloc[0]
    known = db.query(monitoring_sql.outcome_probabilities(since, performance.ESTIMATE_ROWS), url=url)
    known_estimate = performance.label_free(known["probability"].to_numpy(float), decision)
except db.DataUnavailable as exc:  # no bookings loaded: the estimate stands alone
    ui.data_unavailable(exc, table=sql.BOOKINGS, missing=LOAD_HINT)
tp, fp, fn, tn = (int(outcome[k]) if outcome is not None else 0 for k in ("tp", "fp", "fn", "tn"))
labelled = tp + fp + fn + tn
rank_sum = outcome["rank_sum"] if outcome is not None else None
realised = performance.Realised(
    labelled, tp + fn, monitoring_sql.realised_roc_auc(rank_sum, tp + fn, fp + tn)
)
st.caption(
    "**Estimated** from the logged probabilities alone, before any outcome is known (confidence-based "
    "performance estimation, as `./cli.sh estimate-performance` does): the figure the outcomes will give "
    "if the probabilities are calibrated, and in brackets the 95% sampling interval, where the realised "
    "figure falls for that many bookings when they are. **Realised** on the predictions whose booking is "
    f"loaded into `{sql.BOOKINGS}` with its outcome: an outcome exists once the guest has arrived or "
    "cancelled, months after the booking, so the realised figures fill in as outcomes are loaded "
    f"(`./cli.sh initialize-data db{config.environment_hint()}`). The gap compares the two on the same "
    "predictions; a realised figure outside its interval means the probabilities are off, and the "
    "estimate of the newer predictions with them."
)
cards = st.columns(4)
for column, (label, name, show, _) in zip(cards[::2], performance.FIGURES, strict=True):
    value = performance.estimated(period_estimate, name)
    column.metric(
        f"Estimated {label}",
        "–" if value is None else show(value),
        help=f"from the probabilities of {ui.count(period_estimate.rows if period_estimate else 0)} "
        "predictions of the period",
    )
for column, (label, name, show, show_gap) in zip(cards[1::2], performance.FIGURES, strict=True):
    value, difference = getattr(realised, name), performance.gap(known_estimate, realised, name)
    column.metric(
        f"Realised {label}",
        "–" if value is None else show(value),
        delta=None if difference is None else f"{show_gap(difference)} vs estimated",
        delta_color="normal" if name == "roc_auc" else "off",
        help=f"on the {labelled:,} predictions with an outcome; the change is realised − estimated on them",
    )
st.dataframe(
    performance.comparison(total, period_estimate, known_estimate, realised),
    hide_index=True,
)
if outcome is not None and labelled == 0:
    st.info(
        f"**No outcome yet for any of the {total:,} predictions of the period**"
        + (
            f" ({int(outcome['ambiguous'])} match duplicates that disagree)"
            if int(outcome["ambiguous"])
            else ""
        )
        + ": the realised figures fill in as the bookings arrive or cancel and are loaded; until then the "
        "estimate is the only figure there is."
    )
if outcome is not None:
    by_id, by_fields, waiting = (int(outcome[k]) for k in ("by_id", "by_fields", "waiting"))
    st.caption(
        f"Predictions matched to a booking of `{sql.BOOKINGS}` with a known outcome: by the `booking_id` "
        f"the API was sent ({by_id:,}), or, for predictions sent without one, by their 27 booking fields "
        f"as the transformation cleans them ({by_fields:,}; duplicated bookings with different outcomes "
        "are left out)."
        + (
            f" {waiting:,} predictions with a booking id have no outcome yet: the booking is not loaded, "
            "or still on the books."
            if waiting
            else ""
        )
    )
if labelled:
    st.markdown("**Realised decisions at the threshold**")
    decisions = st.columns(4)
    decisions[0].metric("Predictions with an outcome", ui.count(labelled), help=f"of {total:,} in the period")
    decisions[1].metric(
        "Realised precision", ui.percent(ratio(tp, tp + fp)), help="cancelled, of those flagged"
    )
    decisions[2].metric("Realised recall", ui.percent(ratio(tp, tp + fn)), help="flagged, of those cancelled")
    decisions[3].metric("Realised accuracy", ui.percent(ratio(tp + tn, labelled)))
    st.dataframe(
        pd.DataFrame(
            {"": ["predicted to cancel", "predicted to stay"], "cancelled": [tp, fn], "stayed": [fp, tn]}
        ),
        hide_index=True,
    )

# ---------------------------------------------------------------------------------------- drift
st.subheader("Input drift against the training data")
uri = registry.current_tracking_uri()
reference = None
try:
    reference = registry.champion_profile(uri)
except registry.ModelUnavailable as exc:
    ui.model_unavailable(exc, masked_uri(uri))
if reference is None:
    st.info("Drift needs a champion model (its profile of the training data): none is registered.")
else:
    try:
        current = db.query(monitoring_sql.prediction_histograms(since), url=url)
    except db.DataUnavailable as exc:
        ui.data_unavailable(exc, table=sql.PREDICTIONS, missing=NO_PREDICTIONS)
        st.stop()
    profile = reference.profile
    window = profile.get("window", {})
    table = drift.drift_table(profile, current)
    counts = table["severity"].value_counts()
    st.caption(
        f"Population stability index of each of the {len(table)} inputs: {total:,} logged predictions "
        f"vs the {profile['rows']:,} bookings champion version {reference.version} was trained on "
        f"(arrivals {window.get('first_arrival', '?')} to {window.get('last_arrival', '?')}, its saved "
        f"profile). Numbers are binned on the training deciles, categories compared one by one. "
        f"PSI < {drift.WATCH} ok · {drift.WATCH}–{drift.ALERT} watch · > {drift.ALERT} alert."
    )
    st.caption(
        f"**Left out: the {len(drift.CALENDAR_BOUND)} parts of the arrival date**, which move with the "
        "calendar by construction — a period's predictions are bookings made in it, arriving in the weeks "
        "after it, while the training spans whole years — so they would be in alert whatever the "
        "model's health: "
        + "; ".join(f"`{name}` ({why})" for name, why in drift.CALENDAR_BOUND.items())
        + ". Not compared season against season either: that needs the training's arrivals per booking "
        "week, which the profile saved with the model does not hold. `adr` and `lead_time` follow the "
        "season too (prices with the arrival month, lead times with the booking month): read their "
        "shifts against the same season."
    )
    if total < MIN_DRIFT_SAMPLE:
        st.warning(
            f"Only {total} predictions in the period: with fewer than {MIN_DRIFT_SAMPLE}, PSI mostly "
            "reflects sampling noise."
        )
    badges = st.columns(3)
    badges[0].metric("Inputs ok", int(counts.get("ok", 0)))
    badges[1].metric("Inputs to watch", int(counts.get("watch", 0)))
    badges[2].metric("Inputs in alert", int(counts.get("alert", 0)))
    chart_column, table_column = st.columns([2, 3])
    chart_column.altair_chart(monitoring_charts.drift_chart(table), width="stretch")
    shift = "largest shift (training → now)"
    shown = table.rename(columns={"psi": "PSI", "largest_shift": shift})
    columns = ["feature", "PSI", "severity", shift]
    if shown["missing"].any():
        columns.append("missing")
    table_column.dataframe(
        shown[columns].style.apply(monitoring_charts.severity_style, axis=None).format({"PSI": "{:.3f}"}),
        hide_index=True,
        height=35 * (len(shown) + 1) + 3,
    )
