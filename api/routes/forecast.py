"""``GET /forecast``: cancellations per hotel and night among the bookings on the books.

The loaded bookings (the database of ``DATABASE_URL``/``APP_ENV``, as ``initialize-data db`` fills
it) on the books at the end of ``as_of`` are scored as of that day by the served model and summed
per hotel and night with ``data_science.nightly``: the numbers of ``./cli.sh forecast`` without an
input file, for the nights asked.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import Runtime, RuntimeDep, ServingDep
from api.errors import message_response, parameter_response
from api.responses import json_response
from api.schemas import ForecastResponse, Message, ValidationErrorResponse
from api.state import ServingState
from data_engineering.src.calendar_pattern import ISO_DATE
from data_engineering.src.engine import make_engine
from data_engineering.src.messages import first_line
from data_engineering.src.schema import VOCABULARY
from data_science.nightly import forecast as nightly
from data_science.score_db import NoBookingsError, stays_on_the_books

router = APIRouter(tags=["forecast"])

HORIZON_DAYS = 90  # nights from the first when ``to`` is not given
MAX_NIGHTS = 366
_DAY = re.compile(ISO_DATE)


def _written_as_a_day(value: Any) -> Any:
    """Only YYYY-MM-DD, as the schema's ``format: date`` says: pydantic alone would also read a
    number as a Unix time (``as_of=0`` as 1970-01-01)."""
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError("not a date (YYYY-MM-DD)")
    return value


Day = Annotated[dt.date, BeforeValidator(_written_as_a_day)]


@router.get(
    "/forecast",
    response_model=ForecastResponse,
    summary="Cancellations per hotel and night among the bookings on the books, with overbooking advice",
    responses={
        422: {
            "model": ValidationErrorResponse,
            "description": "A parameter is not valid (the message names it)",
        },
        503: {
            "model": Message,
            "description": "No model is loaded, or no bookings are loaded in the database",
        },
    },
)
async def nightly_forecast(
    state: ServingDep,
    runtime: RuntimeDep,
    *,
    hotel: Annotated[
        str | None,
        Query(
            description="one hotel (default: every hotel)",
            json_schema_extra={"enum": list(VOCABULARY["hotel"])},  # the vocabulary in use
        ),
    ] = None,
    first: Annotated[
        Day | None, Query(alias="from", description="first night (default: the day after as_of)")
    ] = None,
    last: Annotated[
        Day | None,
        Query(alias="to", description=f"last night (default: the {HORIZON_DAYS}th night from the first)"),
    ] = None,
    as_of: Annotated[
        Day | None, Query(description="the day the bookings are on the books (default: today, UTC)")
    ] = None,
) -> Response:
    day = as_of or dt.datetime.now(dt.UTC).date()
    if hotel is not None and hotel not in VOCABULARY["hotel"]:
        return parameter_response(
            "hotel", f"unknown hotel {hotel[:100]!r}: one of {', '.join(VOCABULARY['hotel'])}"
        )
    if day == dt.date.max:
        return parameter_response("as_of", f"no night follows as_of {day}: the calendar ends there")
    first_night = first or day + dt.timedelta(days=1)
    # From the first night, not from as_of: a later ``from`` alone must not end before it starts.
    last_night = last or _days_after(first_night, HORIZON_DAYS - 1)
    if first_night <= day:
        return parameter_response(
            "from", f"the first night must be after as_of {day} (bookings on the books then)"
        )
    if last_night < first_night:
        return parameter_response("to", f"the last night {last_night} is before the first, {first_night}")
    if (last_night - first_night).days >= MAX_NIGHTS:
        return parameter_response("to", f"at most {MAX_NIGHTS} nights per call, from {first_night}")
    return await run_in_threadpool(
        _answer, state, runtime, hotel=hotel, day=day, first=first_night, last=last_night
    )


def _days_after(day: dt.date, days: int) -> dt.date:
    """``day`` plus ``days``, or the calendar's last day where that would overflow it."""
    return day + dt.timedelta(days=min(days, (dt.date.max - day).days))


def _answer(
    state: ServingState, runtime: Runtime, *, hotel: str | None, day: dt.date, first: dt.date, last: dt.date
) -> Response:
    engine = make_engine(
        runtime.settings.resolved_database_url(), timeout_seconds=runtime.settings.db_timeout_seconds
    )
    try:
        bookings = stays_on_the_books(state.model, engine, day)
    except NoBookingsError as exc:
        return message_response(503, str(exc))
    except sa.exc.SQLAlchemyError as exc:
        return message_response(503, f"the bookings database cannot be read: {first_line(exc)}")
    finally:
        engine.dispose()
    if hotel is not None:
        bookings = bookings[bookings["hotel"] == hotel]
    nights = nightly(
        bookings, first_night=pd.Timestamp(first), last_night=pd.Timestamp(last), hotels=runtime.hotels
    )
    if hotel is not None:
        nights = nights[nights["hotel"] == hotel]
    rows: list[dict[str, Any]] = [
        {str(key): (None if pd.isna(value) else value) for key, value in row.items()}
        for row in nights.assign(night=nights["night"].dt.strftime("%Y-%m-%d")).to_dict("records")
    ]
    return json_response(
        {
            "as_of": str(day),
            "model_version": state.version,
            "bookings_on_the_books": len(bookings),
            "nights": rows,
        }
    )
