"""``GET /forecast``: cancellations per hotel and night among the bookings on the books.

The loaded bookings (the database of ``DATABASE_URL``/``APP_ENV``, as ``initialize-data db`` fills
it) on the books at the end of ``as_of`` are scored as of that day by the served model and summed
per hotel and night with ``data_science.nightly``: the numbers of ``./cli.sh forecast`` without an
input file, for the nights asked.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import Runtime, RuntimeDep, ServingDep
from api.errors import json_response, message_response, shape_response
from api.schemas import ForecastResponse, Message, ValidationErrorResponse
from api.serving import ServingState
from data_engineering.src import db
from data_engineering.src.messages import first_line
from data_engineering.src.schema import VOCABULARY
from data_science.nightly import forecast as nightly
from data_science.score_db import NoBookingsError, stays_on_the_books

router = APIRouter(tags=["forecast"])

HORIZON_DAYS = 90  # nights after as_of when ``to`` is not given
MAX_NIGHTS = 366


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
    hotel: Annotated[str | None, Query(description="one hotel (default: every hotel)")] = None,
    first: Annotated[
        dt.date | None, Query(alias="from", description="first night (default: the day after as_of)")
    ] = None,
    last: Annotated[
        dt.date | None, Query(alias="to", description=f"last night (default: as_of + {HORIZON_DAYS} days)")
    ] = None,
    as_of: Annotated[
        dt.date | None, Query(description="the day the bookings are on the books (default: today, UTC)")
    ] = None,
) -> Response:
    day = as_of or dt.datetime.now(dt.UTC).date()
    first_night = first or day + dt.timedelta(days=1)
    last_night = last or day + dt.timedelta(days=HORIZON_DAYS)
    if hotel is not None and hotel not in VOCABULARY["hotel"]:
        return shape_response(
            ["hotel"], f"unknown hotel {hotel[:100]!r}: one of {', '.join(VOCABULARY['hotel'])}"
        )
    if first_night <= day:
        return shape_response(
            ["from"], f"the first night must be after as_of {day} (bookings on the books then)"
        )
    if last_night < first_night:
        return shape_response(["to"], f"the last night {last_night} is before the first, {first_night}")
    if (last_night - first_night).days >= MAX_NIGHTS:
        return shape_response(["to"], f"at most {MAX_NIGHTS} nights per call")
    return await run_in_threadpool(
        _answer, state, runtime, hotel=hotel, day=day, first=first_night, last=last_night
    )


def _answer(
    state: ServingState, runtime: Runtime, *, hotel: str | None, day: dt.date, first: dt.date, last: dt.date
) -> Response:
    engine = db.make_engine(
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
