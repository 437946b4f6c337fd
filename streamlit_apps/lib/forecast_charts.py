"""The Forecast page's charts: the nights ahead of one hotel, and a past forecast against what happened.

The page (``pages/forecast.py``) keeps the layout and the words; the frames come from
``streamlit_apps.lib.forecast`` (``nights``).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

COLOURS = {
    "rooms on the books": "#aec7e8",
    "expected cancellations": "#f58518",
    "expected to stay": "#2e7d32",
    "capacity": "#444444",
    "capacity + overbooking": "#c62828",
}

DASHES = {
    "expected cancellations": [1, 0],
    "expected to stay": [1, 0],
    "capacity": [5, 3],
    "capacity + overbooking": [2, 2],
}


def night_chart(frame: pd.DataFrame, hotel: str) -> alt.LayerChart | alt.FacetChart:
    """Rooms on the books (bars), expected cancellations with their 80% band, rooms expected to
    stay, and the capacity with the advised overbooking on top, when the capacity file gives one."""
    data = frame.assign(
        night_text=frame["night"].dt.strftime("%a %d %b %Y"),
        series="rooms on the books",
        held=frame["capacity"] + frame["overbook_rooms"],
    )
    advised = bool(data["capacity"].notna().any())
    x = alt.X("night:T", title="night", axis=alt.Axis(format="%d %b"))
    tooltip = [
        alt.Tooltip("night_text:N", title="night"),
        alt.Tooltip("rooms_on_books:Q", title="rooms on the books"),
        alt.Tooltip("expected_cancellations:Q", title="expected cancellations", format=".1f"),
        alt.Tooltip("cancellations_p10:Q", title="80% band from"),
        alt.Tooltip("cancellations_p90:Q", title="80% band to"),
        alt.Tooltip("expected_rooms_kept:Q", title="expected to stay", format=".1f"),
        alt.Tooltip("revenue_at_risk:Q", title="revenue at risk (€)", format=",.0f"),
    ]
    if advised:
        tooltip += [
            alt.Tooltip("capacity:Q", title="capacity"),
            alt.Tooltip("overbook_rooms:Q", title="overbook by"),
            alt.Tooltip("rooms_to_sell:Q", title="rooms to sell now"),
        ]
    shown = {k: v for k, v in COLOURS.items() if advised or not k.startswith("capacity")}
    colour = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=list(shown), range=list(shown.values())),
        legend=alt.Legend(orient="bottom", symbolType="stroke", symbolStrokeWidth=3),
    )
    line_columns = {
        "expected_cancellations": "expected cancellations",
        "expected_rooms_kept": "expected to stay",
    }
    if advised:
        line_columns |= {"capacity": "capacity", "held": "capacity + overbooking"}
    lines = (
        data.melt(
            id_vars=["night", "night_text"],
            value_vars=list(line_columns),
            var_name="series",
            value_name="rooms",
        )
        .dropna(subset=["rooms"])
        .assign(series=lambda d: d["series"].map(line_columns))
    )
    rooms = (
        alt.Chart(data)
        .mark_bar(opacity=0.8)
        .encode(x=x, y=alt.Y("rooms_on_books:Q", title="rooms"), color=colour, tooltip=tooltip)
    )
    band = (
        alt.Chart(data)
        .mark_area(opacity=0.25, color=COLOURS["expected cancellations"])
        .encode(x=x, y="cancellations_p10:Q", y2="cancellations_p90:Q", tooltip=tooltip)
    )
    # The series drawn, each its dash: a domain with series not drawn would add them to the legend.
    dashes = {k: v for k, v in DASHES.items() if k in shown}
    curves = (
        alt.Chart(lines)
        .mark_line(strokeWidth=2)
        .encode(
            x=x,
            y="rooms:Q",
            color=colour,
            strokeDash=alt.StrokeDash(
                "series:N", scale=alt.Scale(domain=list(dashes), range=list(dashes.values())), legend=None
            ),
            tooltip=[
                alt.Tooltip("night_text:N", title="night"),
                "series:N",
                alt.Tooltip("rooms:Q", format=".1f"),
            ],
        )
    )
    return alt.layer(rooms, band, curves).properties(
        title=f"{hotel}: rooms per night on the books, and how many of them will cancel (band: 80%)",
        height=300,
    )


def replay_chart(frame: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """One hotel's replayed forecast: expected cancellations with their 80% band, and the realised
    count of each night (dots)."""
    data = frame.assign(night_text=frame["night"].dt.strftime("%a %d %b %Y"))
    base = alt.Chart(data).encode(
        x=alt.X("night:T", title="night", axis=alt.Axis(format="%d %b")),
        tooltip=[
            alt.Tooltip("night_text:N", title="night"),
            alt.Tooltip("expected_cancellations:Q", title="expected", format=".1f"),
            alt.Tooltip("cancellations_p10:Q", title="80% band from"),
            alt.Tooltip("cancellations_p90:Q", title="80% band to"),
            alt.Tooltip("realised_cancellations:Q", title="realised"),
        ],
    )
    band = base.mark_area(opacity=0.25, color=COLOURS["expected cancellations"]).encode(
        y=alt.Y("cancellations_p10:Q", title="cancellations"), y2="cancellations_p90:Q"
    )
    expected = base.mark_line(color=COLOURS["expected cancellations"]).encode(y="expected_cancellations:Q")
    realised = base.mark_point(filled=True, color="#1f1f1f", size=28).encode(y="realised_cancellations:Q")
    return alt.layer(band, expected, realised).properties(height=220)
