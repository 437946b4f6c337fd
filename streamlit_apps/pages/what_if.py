"""What-if: describe a booking, have the prediction API score it, and read why."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from data_engineering.src.schema import COLUMNS_BY_NAME, COUNTRY_PATTERN
from streamlit_apps.lib import api, config, ui

RESULT_KEY = "what_if_result"


# The form starts on the public dataset's most common booking; another hotel's vocabulary starts
# on its first category wherever these are not in it.
TYPICAL = {
    "market_segment": "Online TA",
    "distribution_channel": "TA/TO",
    "deposit_type": "No Deposit",
    "customer_type": "Transient",
}


def options(field: str) -> list[str]:
    """The field's categories, as the column spec (and so the API) accepts them."""
    return list(COLUMNS_BY_NAME[field].categories or ())


def typical(field: str) -> int:
    choices = options(field)
    return choices.index(TYPICAL[field]) if TYPICAL.get(field) in choices else 0


def identifier(text: str, label: str) -> int | None:
    """Agent/company ids: blank means none; otherwise up to nine digits, as the API accepts."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise ValueError(f"{label} must be blank or a number of up to nine digits, not {text!r}")
    return int(text)


def reason_line(reason: dict[str, Any]) -> str:
    """One reason as a sentence: the API's own words when it sends them, else the feature, which
    way it pushes the risk and by how much."""
    arrow = {"raises": "▲", "lowers": "▼"}.get(str(reason.get("direction")), "•")
    if reason.get("text"):
        return f"- {arrow} {reason['text']}"
    label = reason.get("description") or reason.get("feature") or str(reason)
    direction = f" {reason['direction']} the risk" if reason.get("direction") else ""
    change, contribution = reason.get("probability_change"), reason.get("contribution")
    if isinstance(change, int | float):
        size = f" ({change:+.1%} probability)"
    elif isinstance(contribution, int | float):
        size = f" ({contribution:+.2f} log-odds)"
    else:
        size = ""
    return f"- {arrow} {label}{direction}{size}"


st.title("What-if")
st.caption(
    f"Describe a booking: the prediction API (`{config.api_url()}`) scores it with the champion model "
    "and names the features that moved the score most."
)

today = dt.datetime.now(dt.UTC).date()
with st.form("booking"):
    columns = st.columns(4)
    with columns[0]:
        hotel = st.selectbox("Hotel", options("hotel"), key="hotel")
        arrival = st.date_input("Arrival date", value=today + dt.timedelta(days=60), key="arrival")
        lead_time = st.number_input("Lead time (days booked ahead)", 0, 1000, 60, key="lead_time")
        weekend_nights = st.number_input("Weekend nights", 0, 100, 1, key="weekend_nights")
        week_nights = st.number_input("Week nights", 0, 300, 2, key="week_nights")
    with columns[1]:
        adults = st.number_input("Adults", 0, 100, 2, key="adults")
        children = st.number_input("Children", 0, 20, 0, key="children")
        babies = st.number_input("Babies", 0, 20, 0, key="babies")
        meal = st.selectbox("Meal", options("meal"), key="meal")
        room = st.selectbox("Reserved room type", options("reserved_room_type"), key="room")
    with columns[2]:
        country = st.text_input("Country (ISO alpha-3, blank: unknown)", "PRT", key="country")
        segment = st.selectbox(
            "Market segment", options("market_segment"), index=typical("market_segment"), key="segment"
        )
        channel = st.selectbox(
            "Distribution channel",
            options("distribution_channel"),
            index=typical("distribution_channel"),
            key="channel",
        )
        deposit = st.selectbox(
            "Deposit", options("deposit_type"), index=typical("deposit_type"), key="deposit"
        )
        customer = st.selectbox(
            "Customer type", options("customer_type"), index=typical("customer_type"), key="customer"
        )
    with columns[3]:
        adr = st.number_input("Average daily rate (€)", 0.0, 10_000.0, 100.0, step=5.0, key="adr")
        special = st.number_input("Special requests", 0, 10, 0, key="special")
        parking = st.number_input("Car parking spaces", 0, 10, 0, key="parking")
        agent = st.text_input("Agent id (blank: none)", "9", key="agent")
        company = st.text_input("Company id (blank: none)", "", key="company")
    with st.expander("Guest history and waiting list"):
        history = st.columns(4)
        repeated = history[0].checkbox("Repeated guest", key="repeated")
        cancelled_before = history[1].number_input("Previous cancellations", 0, 100, 0, key="prev_cancel")
        stayed_before = history[2].number_input("Previous stays (not cancelled)", 0, 500, 0, key="prev_ok")
        waiting = history[3].number_input("Days on the waiting list", 0, 1000, 0, key="waiting")
    submitted = st.form_submit_button("Predict", type="primary")

if submitted:
    country_code = country.strip().upper() or None
    try:
        if country_code and not re.fullmatch(COUNTRY_PATTERN, country_code):
            raise ValueError(f"country must be a 2- or 3-letter ISO code, not {country!r}")
        booking = {
            "hotel": hotel,
            "lead_time": int(lead_time),
            "arrival_date_year": arrival.year,
            "arrival_date_month": arrival.strftime("%B"),
            "arrival_date_week_number": arrival.isocalendar().week,
            "arrival_date_day_of_month": arrival.day,
            "stays_in_weekend_nights": int(weekend_nights),
            "stays_in_week_nights": int(week_nights),
            "adults": int(adults),
            "children": int(children),
            "babies": int(babies),
            "meal": meal,
            "country": country_code,
            "market_segment": segment,
            "distribution_channel": channel,
            "is_repeated_guest": int(repeated),
            "previous_cancellations": int(cancelled_before),
            "previous_bookings_not_canceled": int(stayed_before),
            "reserved_room_type": room,
            "deposit_type": deposit,
            "agent": identifier(agent, "agent"),
            "company": identifier(company, "company"),
            "days_in_waiting_list": int(waiting),
            "customer_type": customer,
            "adr": float(adr),
            "required_car_parking_spaces": int(parking),
            "total_of_special_requests": int(special),
        }
    except ValueError as exc:
        st.session_state[RESULT_KEY] = ("invalid", str(exc))
    else:
        try:
            st.session_state[RESULT_KEY] = ("ok", api.predict(booking))
        except api.ApiUnavailable as exc:
            st.session_state[RESULT_KEY] = ("down", str(exc))
        except api.ApiRejected as exc:
            st.session_state[RESULT_KEY] = ("rejected", exc)

state, result = st.session_state.get(RESULT_KEY, (None, None))
if state == "invalid":
    st.error(f"**Check the form:** {result}")
elif state == "down":
    st.error(
        f"**The prediction API is not reachable.** {result}.\n\n"
        "Start it with `./cli.sh serve-api` (port 8000), or set `API_URL` to where it runs."
    )
elif state == "rejected":
    if result.status == 503:
        st.error(f"**The prediction API has no model to serve** (HTTP 503): {result.detail}")
    else:
        st.error(f"**The API refused this booking** (HTTP {result.status}): {result.detail}")
elif state == "ok":
    prediction: api.Prediction = result
    threshold = prediction.threshold
    verdict = "Will cancel" if prediction.will_cancel else "Will stay"
    cells = st.columns(4)
    cells[0].metric("Cancellation probability", ui.percent(prediction.cancel_probability))
    cells[1].metric(
        "Decision",
        verdict,
        help="cancellation probability ≥ threshold" if prediction.will_cancel else "below the threshold",
    )
    cells[2].metric("Threshold", ui.number(threshold, 3))
    cells[3].metric("Model version", prediction.model_version or "–")
    st.progress(
        min(max(prediction.cancel_probability, 0.0), 1.0),
        text=f"{verdict} (threshold {threshold:.0%})" if threshold is not None else verdict,
    )
    st.caption(f"request `{prediction.request_id}` · answered in {prediction.latency_ms:.0f} ms")
    st.subheader("Why")
    if not prediction.reasons:
        st.info("The API returned no reasons for this prediction.")
    else:
        reasons = pd.DataFrame(prediction.reasons)
        st.markdown("\n".join(reason_line(r) for r in prediction.reasons))
        if "contribution" in reasons and pd.api.types.is_numeric_dtype(reasons["contribution"]):
            label = "text" if "text" in reasons else "feature" if "feature" in reasons else None
            if label:
                colour = (
                    alt.Color(
                        "direction:N",
                        scale=alt.Scale(domain=["raises", "lowers"], range=["#c62828", "#2e7d32"]),
                    )
                    if "direction" in reasons
                    else alt.value("#4c78a8")
                )
                st.altair_chart(
                    alt.Chart(reasons)
                    .mark_bar()
                    .encode(
                        y=alt.Y(f"{label}:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
                        x=alt.X("contribution:Q", title="contribution to the log-odds of cancelling"),
                        color=colour,
                        tooltip=list(reasons.columns),
                    )
                    .properties(height=alt.Step(28)),
                    width="stretch",
                )
        with st.expander("Every field the API returned"):
            st.dataframe(reasons, hide_index=True)
