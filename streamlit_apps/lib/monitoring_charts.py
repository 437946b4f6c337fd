"""The Monitoring page's charts and table styles, built from the frames ``monitoring_sql`` returns.

The page (``pages/monitoring.py``) keeps the layout and the words; these functions only shape the
query results and draw them.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from streamlit_apps.lib import drift, sql, ui


def timestamps(values: pd.Series) -> pd.Series:
    # PostgreSQL returns aware datetimes, SQLite the text it stores: both become UTC timestamps.
    return pd.to_datetime(values, utc=True, format="mixed")


def severity_style(frame: pd.DataFrame) -> pd.DataFrame:
    """The drift table's PSI and severity cells in their severity's colours."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for column in ("PSI", "severity"):
        styles[column] = [
            f"background-color: {ui.SEVERITY_BACKGROUNDS[s]}; color: {ui.SEVERITY_COLOURS[s]}; font-weight: 600"
            for s in frame["severity"]
        ]
    return styles


def _activity(activity: pd.DataFrame) -> pd.DataFrame:
    return activity.assign(
        bucket=timestamps(activity["bucket"]),
        when=lambda d: d["bucket"].dt.strftime("%Y-%m-%d %H:%M UTC"),  # the tooltip's text, as the caption's
        share_cancel=activity["predicted_cancel"] / activity["predictions"],
    )


def _time_axis(unit: sql.Bucket) -> tuple[alt.X, alt.Tooltip]:
    # A UTC scale makes the axis format in UTC whatever the browser's zone (formatType "utc" on top of
    # it makes Vega-Lite drop the format: checked in Chromium with TZ=America/New_York).
    axis = alt.X(
        "bucket:T",
        title=f"{unit} (UTC)",
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format=ui.TIME_FORMATS[unit]),
    )
    return axis, alt.Tooltip("when:N", title=unit)


def activity_chart(activity: pd.DataFrame, unit: sql.Bucket) -> Any:
    """Predictions per time bucket (bars) and the share predicted to cancel (line)."""
    activity = _activity(activity)
    time_axis, time_tip = _time_axis(unit)
    volume = alt.Chart(activity).mark_bar(color="#4c78a8").encode(x=time_axis, y=alt.Y("predictions:Q"))
    share = (
        alt.Chart(activity)
        .mark_line(point=True, color="#d62728")
        .encode(
            x=time_axis,
            y=alt.Y("share_cancel:Q", title="predicted to cancel", axis=alt.Axis(format="%")),
            tooltip=[
                time_tip,
                "predictions:Q",
                alt.Tooltip("share_cancel:Q", format=".1%", title="predicted to cancel"),
            ],
        )
    )
    return (
        alt.layer(volume, share)
        .resolve_scale(y="independent")
        .properties(title=f"Predictions per {unit} and share predicted to cancel", height=260)
    )


def latency_chart(activity: pd.DataFrame, unit: sql.Bucket) -> Any:
    """The API's latency per call, p50 and p95, per time bucket."""
    time_axis, time_tip = _time_axis(unit)
    latency = (
        _activity(activity)
        .melt(
            id_vars=["bucket", "when"],
            value_vars=["latency_p50", "latency_p95"],
            var_name="percentile",
            value_name="ms",
        )
        .assign(percentile=lambda d: d["percentile"].str.removeprefix("latency_"))
    )
    return (
        alt.Chart(latency)
        .mark_line(point=True)
        .encode(
            x=time_axis,
            y=alt.Y("ms:Q", title="latency (ms)"),
            color=alt.Color("percentile:N", scale=alt.Scale(range=["#4c78a8", "#f58518"])),
            tooltip=[time_tip, "percentile:N", alt.Tooltip("ms:Q", format=".1f")],
        )
        .properties(title=f"API latency per {unit} (p50, p95)", height=260)
    )


def probability_chart(histogram: pd.DataFrame, threshold: float | None, bins: int) -> Any:
    """The predicted probabilities' histogram (``bins`` bins), the decision threshold dashed."""
    histogram = histogram.assign(low=histogram["bin"] / bins, high=(histogram["bin"] + 1) / bins)
    bars = (
        alt.Chart(histogram)
        .mark_bar(color="#72b7b2")
        .encode(
            x=alt.X("low:Q", bin="binned", title="cancel probability", scale=alt.Scale(domain=[0, 1])),
            x2="high:Q",
            y=alt.Y("predictions:Q"),
            tooltip=[
                alt.Tooltip("low:Q", format=".2f"),
                alt.Tooltip("high:Q", format=".2f"),
                "predictions:Q",
            ],
        )
    )
    layers = [bars]
    if threshold is not None and not pd.isna(threshold):
        rule = pd.DataFrame({"threshold": [threshold]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(color="#d62728", strokeDash=[4, 4])
            .encode(x="threshold:Q", tooltip=["threshold:Q"])
        )
    return alt.layer(*layers).properties(
        title="Distribution of predicted probabilities (dashed: decision threshold)", height=220
    )


def drift_chart(table: pd.DataFrame) -> Any:
    """Each input's PSI, coloured by severity, with the watch and alert thresholds."""
    # A square-root axis: one input far out (a country never seen) must not flatten the rest.
    chart = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            x=alt.X("psi:Q", title="PSI (square-root scale)", scale=alt.Scale(type="sqrt")),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=list(ui.SEVERITY_COLOURS), range=list(ui.SEVERITY_COLOURS.values())),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["feature:N", alt.Tooltip("psi:Q", format=".3f"), "severity:N", "largest_shift:N"],
        )
        .properties(height=alt.Step(20))
    )
    thresholds = (
        alt.Chart(pd.DataFrame({"psi": [drift.WATCH, drift.ALERT]}))
        .mark_rule(strokeDash=[3, 3], color="#888")
        .encode(x="psi:Q")
    )
    return chart + thresholds
