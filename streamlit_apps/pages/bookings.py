"""Bookings: volume, cancellation rate, price and lead time of the loaded dataset (``sql.BOOKINGS``)."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from data_engineering.transformation.v2 import LEAD_TIME_BANDS, LONGEST_BAND
from streamlit_apps.lib import db, sql, ui
from streamlit_apps.lib.config import environment_hint

BAND_ORDER = [label for _, label in LEAD_TIME_BANDS] + [LONGEST_BAND]
LOAD_HINT = f"Load the bookings with `./cli.sh initialize-data db{environment_hint()}`."


def as_date(value: object) -> dt.date:
    # PostgreSQL returns dates, SQLite the ISO text it stores.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def rate_chart(
    frame: pd.DataFrame, label: str, order: list[str] | None = None
) -> alt.LayerChart | alt.FacetChart:
    sort = order or alt.EncodingSortField("cancellation_rate", order="descending")
    base = alt.Chart(frame).encode(
        y=alt.Y("value:N", title=None, sort=sort),
        x=alt.X("cancellation_rate:Q", title="cancellation rate", axis=alt.Axis(format="%")),
        tooltip=[
            alt.Tooltip("value:N", title=label),
            alt.Tooltip("bookings:Q", format=","),
            alt.Tooltip("cancellation_rate:Q", format=".1%", title="cancellation rate"),
            alt.Tooltip("adr:Q", format=".2f", title="ADR"),
        ],
    )
    bars = base.mark_bar(color="#4c78a8")
    text = base.mark_text(align="left", dx=3).encode(text=alt.Text("cancellation_rate:Q", format=".0%"))
    return alt.layer(bars, text).properties(
        title=f"Cancellation rate by {label.lower()}", height=alt.Step(22)
    )


st.title("Bookings")

try:
    url = db.current_url()
    bounds = db.query(sql.hotel_bounds(), url=url)
except db.DataUnavailable as exc:
    ui.data_unavailable(exc, table=sql.BOOKINGS, missing=LOAD_HINT)
    st.stop()
if bounds.empty:
    st.info(f"**`{sql.BOOKINGS}` is empty.** {LOAD_HINT}")
    st.stop()

first = min(as_date(v) for v in bounds["first_arrival"])
last = max(as_date(v) for v in bounds["last_arrival"])
all_hotels = bounds["hotel"].tolist()
with st.sidebar:
    st.header("Filters")
    hotels = st.multiselect("Hotel", all_hotels, default=all_hotels, key="hotels")
    chosen = st.date_input(
        "Arrival dates", value=(first, last), min_value=first, max_value=last, key="arrivals"
    )
    top_n = st.slider("Countries shown", 5, 30, 12, key="top_countries")
# While a range is being picked the widget holds only its first date.
picked = list(chosen) if isinstance(chosen, tuple | list) else [chosen]
start = picked[0] if picked else first
end = picked[1] if len(picked) > 1 else last
if not hotels:
    st.warning("Choose at least one hotel in the sidebar.")
    st.stop()

where = sql.booking_filter(hotels, start, end)
try:
    kpis = db.query(sql.booking_kpis(where), url=url).iloc[0]
    breakdowns = db.query(sql.booking_breakdowns(where), url=url)
    months = db.query(sql.booking_months(where), url=url)
except db.DataUnavailable as exc:
    ui.data_unavailable(exc, table=sql.BOOKINGS, missing=LOAD_HINT)
    st.stop()

st.caption(f"{', '.join(hotels)} · arrivals {start:%d %b %Y} – {end:%d %b %Y} · source `{sql.BOOKINGS}`")
bookings = int(kpis["bookings"])
columns = st.columns(4)
columns[0].metric("Bookings", ui.count(bookings))
columns[1].metric(
    "Cancellation rate",
    ui.percent(kpis["cancellation_rate"]),
    help=f"{int(kpis['cancellations']):,} of {bookings:,} bookings were cancelled",
)
columns[2].metric("Average daily rate (€)", ui.number(kpis["adr"], 2))
columns[3].metric("Average lead time (days)", ui.number(kpis["lead_time"], 1))
if bookings == 0:
    st.info("No bookings match these filters.")
    st.stop()

months = months.assign(
    month_start=pd.to_datetime({"year": months["year"], "month": months["month"], "day": 1}),
    cancellation_rate=months["cancellations"] / months["bookings"],
)
volume = (
    alt.Chart(months)
    .mark_bar(color="#c9d6e8")
    .encode(
        x=alt.X("yearmonth(month_start):T", title="arrival month"),
        y=alt.Y("bookings:Q", title="bookings"),
    )
)
rate = (
    alt.Chart(months)
    .mark_line(point=True, color="#d62728")
    .encode(
        x="yearmonth(month_start):T",
        y=alt.Y("cancellation_rate:Q", title="cancellation rate", axis=alt.Axis(format="%")),
        tooltip=[
            alt.Tooltip("yearmonth(month_start):T", title="month"),
            alt.Tooltip("bookings:Q", format=","),
            alt.Tooltip("cancellation_rate:Q", format=".1%", title="cancellation rate"),
        ],
    )
)
st.altair_chart(
    alt.layer(volume, rate)
    .resolve_scale(y="independent")
    .properties(title="Bookings and cancellation rate by arrival month", height=280),
    width="stretch",
)

breakdowns = breakdowns.rename(columns={"feature": "dimension", "cat_value": "value"}).assign(
    cancellation_rate=lambda d: d["cancellations"] / d["bookings"]
)
panels = list(sql.BREAKDOWNS.items())
for row in range(0, len(panels), 2):
    for column, (dimension, label) in zip(st.columns(2), panels[row : row + 2], strict=False):
        frame = breakdowns[breakdowns["dimension"] == dimension]
        order = None
        title = label
        if dimension == "country":
            frame = frame.nlargest(top_n, "bookings")
            title = f"Country (top {top_n} by bookings)"
        elif dimension == "lead_time_band":
            order = [b for b in BAND_ORDER if b in set(frame["value"])]
        column.altair_chart(rate_chart(frame, title, order), width="stretch")

with st.expander("Numbers behind the charts"):
    table = breakdowns.assign(dimension=breakdowns["dimension"].map(sql.BREAKDOWNS)).sort_values(
        ["dimension", "bookings"], ascending=[True, False]
    )
    st.dataframe(
        table[["dimension", "value", "bookings", "cancellations", "cancellation_rate", "adr"]],
        hide_index=True,
        column_config={
            "cancellation_rate": st.column_config.NumberColumn("cancellation rate", format="percent"),
            "adr": st.column_config.NumberColumn("ADR (€)", format="%.2f"),
        },
        width="stretch",
    )
