"""Forecast: how many of the bookings on the books each hotel will still lose to cancellations, night
by night, with the 80% band and the overbooking the newsvendor rule advises; and how earlier
forecasts did against what happened.

The scores are the daily ``./cli.sh score-db`` run's (``booking_scores``: every booking on the
books at the end of a day, scored as of it), joined to the loaded bookings; ``data_science.nightly``
turns them into the forecast (``streamlit_apps.lib.forecast``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from data_engineering.src.schema import AS_OF
from data_science.quality import nightly_accuracy
from streamlit_apps.lib import config, db, forecast_charts, sql, ui
from streamlit_apps.lib import forecast as fc

SCORE_HINT = (
    f"`./cli.sh score-db{config.environment_hint()}` scores every booking on the books at the end of a "
    "day, as of that day (`--as-of YYYY-MM-DD` replays a past one); the Airflow DAG "
    "`hotel_score_bookings` runs it daily."
)
LOAD_HINT = f"Load the bookings with `./cli.sh initialize-data db{config.environment_hint()}`."


def as_date(value: object) -> dt.date:
    # PostgreSQL returns dates, SQLite the ISO text it stores.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def stop_unavailable(exc: db.DataUnavailable, table: str) -> None:
    missing = SCORE_HINT if table == sql.SCORES else LOAD_HINT
    ui.data_unavailable(exc, table=table, missing=missing)
    st.stop()


def scored_rows(url: str, run: pd.Series) -> pd.DataFrame:
    try:
        return db.query(sql.scored_stays(run["day"], run["model_name"], run["model_version"]), url=url)
    except db.DataUnavailable as exc:
        stop_unavailable(exc, sql.BOOKINGS)
        raise  # st.stop() ends the run; this keeps the type checker informed


st.title("Forecast")
try:
    url = db.current_url()
    runs = db.query(sql.scored_days(), url=url)
except db.DataUnavailable as exc:
    stop_unavailable(exc, sql.SCORES)
if runs.empty:
    st.info(f"**`{sql.SCORES}` is empty.** {SCORE_HINT}")
    st.stop()
runs = runs.assign(day=runs[AS_OF].map(as_date))
# One run per day: the day's newest (the champion may have changed and re-scored it).
runs = runs.drop_duplicates("day", keep="first").reset_index(drop=True)
newest = runs.iloc[0]
capacity = fc.capacities()

with st.sidebar:
    horizon = st.slider("Nights ahead", 7, 180, 60, step=1, key="horizon")
day = newest["day"]
rows = scored_rows(url, newest)
if rows.empty:
    st.warning(
        f"None of the {int(newest['bookings']):,} bookings scored as of {day} is in `{sql.BOOKINGS}`: "
        f"were they loaded into another table or database? {LOAD_HINT}"
    )
    st.stop()
first, last = day + dt.timedelta(days=1), day + dt.timedelta(days=horizon)
nights = fc.nights(rows, first, last, capacity.hotels)
st.caption(
    f"Bookings on the books at the end of {day:%a %d %b %Y}, the newest day in `{sql.SCORES}` "
    f"(scored by {newest['model_name']} version {newest['model_version']} at {newest['scored_at']}), "
    f"joined to `{sql.BOOKINGS}`: the {horizon} nights after it. A night's cancellations are a sum of "
    "each booking's chance (rooms of one party cancel together), whose 80% band is exact; "
    f"capacities and costs from `{capacity.path}` (`HOTEL_CAPACITY_FILE`)."
)
if capacity.problem:
    st.error(f"**The capacity file cannot be used**, so no overbooking advice: {capacity.problem}")
skipped = int(newest["bookings"]) - len(rows)
if skipped:
    st.warning(f"{skipped:,} scored bookings are not in `{sql.BOOKINGS}` and are left out.")

kpis = st.columns(4)
kpis[0].metric("Bookings on the books", ui.count(len(rows)))
kpis[1].metric(
    "Expected to cancel",
    ui.number(float(rows["probability"].sum()), 1),
    help=f"bookings, whatever their nights: the sum of their probabilities of cancelling after {day}",
)
kpis[2].metric(
    f"Room-nights at risk ({horizon} nights)",
    ui.number(float(nights["expected_cancellations"].sum()), 1),
    help=f"of {int(nights['rooms_on_books'].sum()):,} room-nights on the books",
)
kpis[3].metric(f"Revenue at risk ({horizon} nights, €)", ui.number(float(nights["revenue_at_risk"].sum()), 0))

for hotel, frame in nights.groupby("hotel", sort=True):
    st.subheader(str(hotel))
    st.altair_chart(forecast_charts.night_chart(frame, str(hotel)), width="stretch")
    if frame["capacity"].isna().all():
        st.info(
            f"No capacity configured for {hotel} in `{capacity.path}`: no overbooking recommendation. "
            "Give its rooms (`capacity:`) in that file, or point `HOTEL_CAPACITY_FILE` at your own."
        )
    else:
        advised = frame.dropna(subset=["overbook_rooms"])
        peak = advised.iloc[int(advised["overbook_rooms"].to_numpy().argmax())]
        over = int((advised["overbook_rooms"] > 0).sum())
        st.caption(
            f"Capacity {int(peak['capacity'])} rooms. Overbooking advised on {over} of {len(advised)} nights"
            + (
                f"; the most on {peak['night']:%a %d %b}: {int(peak['overbook_rooms'])} rooms beyond capacity."
                if over
                else "."
            )
        )
with st.expander("Numbers behind the charts"):
    st.dataframe(
        nights.assign(night=nights["night"].dt.date),
        hide_index=True,
        column_config={
            "expected_cancellations": st.column_config.NumberColumn("expected cancellations", format="%.2f"),
            "expected_rooms_kept": st.column_config.NumberColumn("expected to stay", format="%.2f"),
            "revenue_at_risk": st.column_config.NumberColumn("revenue at risk (€)", format="%.0f"),
        },
        width="stretch",
    )

# ----------------------------------------------------------------------------------------- replays
st.subheader("How past forecasts did")
earlier = runs.iloc[1:]
if earlier.empty:
    st.info(
        f"Only {day} has been scored so far. Each daily run adds a day to compare with what happened; "
        "`./cli.sh score-db --as-of YYYY-MM-DD` replays a past one."
    )
    st.stop()
try:
    known = db.query(sql.status_horizon(), url=url).iloc[0]["known_until"]
except db.DataUnavailable as exc:
    stop_unavailable(exc, sql.BOOKINGS)
known_until = as_date(known) if known is not None and not pd.isna(known) else day
labels = [f"{r['day']:%a %d %b %Y} ({int(r['bookings']):,} bookings)" for _, r in earlier.iterrows()]
chosen = earlier.iloc[labels.index(st.selectbox("Forecast made as of", labels, key="replayed"))]
past = chosen["day"]
replay_last = min(past + dt.timedelta(days=horizon), known_until)
if replay_last <= past:
    st.info(f"No night after {past} has passed yet in `{sql.BOOKINGS}` (statuses known until {known_until}).")
    st.stop()
past_rows = scored_rows(url, chosen)
replay = fc.nights(past_rows, past + dt.timedelta(days=1), replay_last, capacity.hotels, replayed=past)
st.caption(
    f"The forecast as of {past} for the nights {past + dt.timedelta(days=1)} to {replay_last} (up to "
    f"{horizon} nights, and no later than {known_until}, the newest status in `{sql.BOOKINGS}`: later "
    "nights may still see cancellations), against what happened: a booking of that day counts as "
    f"cancelled when its status is now Canceled or No-Show, dated after {past}."
)
accuracy = nightly_accuracy(replay)
scores = st.columns(4)
scores[0].metric(
    "WAPE",
    ui.number(accuracy["wape"], 2),
    help="sum over hotel-nights of |expected − realised| cancellations, over the realised ones",
)
scores[1].metric(
    "Bias", ui.percent(accuracy["bias"]), help="expected minus realised cancellations, over the realised ones"
)
scores[2].metric(
    "Nights inside the 80% band",
    ui.percent(accuracy["coverage_80"]),
    help="share of hotel-nights whose realised count lay between p10 and p90 (80% if the band is honest)",
)
scores[3].metric(
    "Cancellations: expected / realised",
    f"{accuracy['expected']:,.1f} / {accuracy['realised']:,.0f}",
    help=f"over {accuracy['nights']:,} hotel-nights",
)
for hotel, frame in replay.groupby("hotel", sort=True):
    st.altair_chart(
        forecast_charts.replay_chart(frame).properties(
            title=f"{hotel}: expected cancellations (80% band) and realised (dots)"
        ),
        width="stretch",
    )
with st.expander("Nights compared"):
    compared = ["hotel", "night", "rooms_on_books", "expected_cancellations", "cancellations_p10"]
    compared += ["cancellations_p90", "realised_cancellations"]
    st.dataframe(replay[compared].assign(night=replay["night"].dt.date), hide_index=True, width="stretch")
