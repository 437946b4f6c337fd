"""The dashboards' queries, as SQLAlchemy Core expressions: one text for PostgreSQL and SQLite.

Every aggregation runs on the database (GROUP BY there, a few hundred rows back at most): the
pages never read a table into pandas. SQLAlchemy renders each expression in the database's own
dialect (JSON access, casts, parameters); the two things it has no portable form for get a
construct of their own below, compiled per dialect (``TimeBucket``, ``FloorInt``). The Monitoring
page's queries are in ``monitoring_sql``.

No cleaning happens here. ``bookings_<version>`` (the pipeline's version, ``params.yaml`` →
``transform.version``, the one ``initialize-data db`` loads by default) holds the bookings as the
transformation cleaned them, and the API logs each booking of ``predictions`` in that same cleaned
form, so monitoring compares like with like and the rules exist once, in
``data_engineering.transformation``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from api.prediction_table import predictions
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.schema import AS_OF, BOOKING_ID
from data_engineering.transformation import get_transformation
from data_science.drift_reference import NUMERIC_FIELDS
from data_science.nightly import GROUP_FIELDS

# The table `./cli.sh initialize-data db` loads when no version is named: the pipeline's.
VERSION = read_section("transform", TransformParams).version
BOOKINGS = f"bookings_{VERSION}"
PREDICTIONS = predictions.name
Bucket = Literal["minute", "hour", "day"]
# A SELECT / UNION ALL of any columns (SQLAlchemy 2.1 types a statement by its columns' types).
Query: TypeAlias = sa.Select[*tuple[Any, ...]]
UnionQuery: TypeAlias = sa.CompoundSelect[*tuple[Any, ...]]

_TYPES = {"int": sa.Integer, "float": sa.Double, "text": sa.Text, "date": sa.Date}
bookings = sa.table(
    BOOKINGS, *(sa.column(name, _TYPES[kind]()) for name, kind in get_transformation(VERSION).columns.items())
)

BREAKDOWNS: dict[str, str] = {
    "hotel": "Hotel",
    "market_segment": "Market segment",
    "deposit_type": "Deposit type",
    "lead_time_band": "Lead-time band",
    "customer_type": "Customer type",
    "country": "Country",
}


# ------------------------------------------------------------------------------ dialect pieces
class TimeBucket(FunctionElement[str]):
    """The start of the UTC minute, hour or day of a timestamp."""

    type = sa.Text()
    inherit_cache = False  # the unit is not part of SQLAlchemy's cache key: compile each time

    def __init__(self, column: ColumnElement[Any], unit: Bucket) -> None:
        self.unit = unit
        super().__init__(column)


@compiles(TimeBucket, "postgresql")
def _bucket_postgresql(element: TimeBucket, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(date_trunc('{element.unit}', {column} AT TIME ZONE 'UTC') AS TEXT)"


@compiles(TimeBucket, "sqlite")
def _bucket_sqlite(element: TimeBucket, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    shape = {"minute": "%Y-%m-%d %H:%M:00", "hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}
    return f"strftime('{shape[element.unit]}', {column})"


class FloorInt(FunctionElement[int]):
    """The largest integer <= x (PostgreSQL's CAST rounds, SQLite's truncates, and may lack FLOOR)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(FloorInt, "postgresql")
def _floor_postgresql(element: FloorInt, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(FloorInt, "sqlite")
def _floor_sqlite(element: FloorInt, compiler: Any, **kw: Any) -> str:
    # Only ever applied to non-negative numbers here, where truncation is the floor.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


def logged(field: str) -> ColumnElement[Any]:
    """A field of the logged (cleaned) booking: a number for numeric fields, text otherwise."""
    element = predictions.c.booking[field]
    value: ColumnElement[Any] = element.as_float() if field in NUMERIC_FIELDS else element.as_string()
    return value


def logged_since(since: dt.datetime) -> ColumnElement[bool]:
    return predictions.c.created_at >= since


def per_feature(
    source: sa.Subquery, numeric: Sequence[str], categorical: Sequence[str], *aggregates: ColumnElement[Any]
) -> UnionQuery:
    """One GROUP BY per column of ``source``, as long rows (feature, num_value, cat_value, ...)."""
    parts = [
        sa.select(
            sa.literal(name).label("feature"),
            sa.cast(source.c[name], sa.Double).label("num_value"),
            sa.cast(sa.null(), sa.Text).label("cat_value"),
            *aggregates,
        ).group_by(source.c[name])
        for name in numeric
    ] + [
        sa.select(
            sa.literal(name).label("feature"),
            sa.cast(sa.null(), sa.Double).label("num_value"),
            sa.cast(source.c[name], sa.Text).label("cat_value"),
            *aggregates,
        ).group_by(source.c[name])
        for name in categorical
    ]
    return sa.union_all(*parts)


# ----------------------------------------------------------------------------------- bookings
def hotel_bounds() -> Query:
    return (
        sa.select(
            bookings.c.hotel,
            sa.func.count().label("bookings"),
            sa.func.min(bookings.c.arrival_date).label("first_arrival"),
            sa.func.max(bookings.c.arrival_date).label("last_arrival"),
        )
        .group_by(bookings.c.hotel)
        .order_by(bookings.c.hotel)
    )


def booking_filter(hotels: Sequence[str], start: dt.date, end: dt.date) -> ColumnElement[bool]:
    """The chosen hotels and arrival dates (inclusive); every value a bound parameter."""
    return sa.and_(bookings.c.hotel.in_(list(hotels)), bookings.c.arrival_date.between(start, end))


def booking_kpis(where: ColumnElement[bool]) -> Query:
    return sa.select(
        sa.func.count().label("bookings"),
        sa.func.coalesce(sa.func.sum(bookings.c.is_canceled), 0).label("cancellations"),
        sa.func.avg(sa.cast(bookings.c.is_canceled, sa.Double)).label("cancellation_rate"),
        sa.func.avg(bookings.c.adr).label("adr"),
        sa.func.avg(sa.cast(bookings.c.lead_time, sa.Double)).label("lead_time"),
        sa.func.avg(sa.cast(bookings.c.total_nights, sa.Double)).label("nights"),
    ).where(where)


def booking_breakdowns(where: ColumnElement[bool]) -> UnionQuery:
    source = (
        sa.select(*(bookings.c[name] for name in BREAKDOWNS), bookings.c.is_canceled, bookings.c.adr)
        .where(where)
        .subquery("s")
    )
    return per_feature(
        source,
        (),
        tuple(BREAKDOWNS),
        sa.func.count().label("bookings"),
        sa.func.sum(source.c.is_canceled).label("cancellations"),
        sa.func.avg(source.c.adr).label("adr"),
    )


def booking_months(where: ColumnElement[bool]) -> Query:
    year, month = bookings.c.arrival_date_year, bookings.c.arrival_month
    return (
        sa.select(
            year.label("year"),
            month.label("month"),
            sa.func.count().label("bookings"),
            sa.func.sum(bookings.c.is_canceled).label("cancellations"),
            sa.func.avg(bookings.c.adr).label("adr"),
        )
        .where(where)
        .group_by(year, month)
        .order_by(year, month)
    )


# ----------------------------------------------------------------------------------- forecast
# What `./cli.sh score-db` writes: one row per booking, as-of day and model version.
SCORES = "booking_scores"
scores = sa.table(
    SCORES,
    sa.column(BOOKING_ID, sa.Text),
    sa.column(AS_OF, sa.Date),
    sa.column("model_name", sa.Text),
    sa.column("model_version", sa.Text),
    sa.column("cancel_probability", sa.Double),
    sa.column("scored_at", sa.Text),
)
STATUS = ("reservation_status", "reservation_status_date")


def scored_days() -> Query:
    """Each as-of day of ``booking_scores`` and each model that scored it: bookings and when the
    last run wrote them, newest day first, then the newest run of the day first."""
    last_run = sa.func.max(scores.c.scored_at)
    return (
        sa.select(
            scores.c[AS_OF],
            scores.c.model_name,
            scores.c.model_version,
            sa.func.count().label("bookings"),
            last_run.label("scored_at"),
        )
        .group_by(scores.c[AS_OF], scores.c.model_name, scores.c.model_version)
        .order_by(scores.c[AS_OF].desc(), last_run.desc())
    )


def scored_stays(day: dt.date, model_name: str, model_version: str) -> Query:
    """One model's scores as of ``day``, each joined to its loaded booking: the probability and
    the fields the nightly forecast reads (``nightly.stays``), with the booking's status now."""
    needed = dict.fromkeys([*GROUP_FIELDS, "hotel", "arrival_date", "total_nights", "adr", *STATUS])
    return (
        sa.select(scores.c.cancel_probability.label("probability"), *(bookings.c[name] for name in needed))
        .join_from(scores, bookings, bookings.c[BOOKING_ID] == scores.c[BOOKING_ID])
        .where(
            scores.c[AS_OF] == day,
            scores.c.model_name == model_name,
            scores.c.model_version == model_version,
        )
        .order_by(scores.c[BOOKING_ID])
    )


def status_horizon() -> Query:
    """The newest status date of the loaded bookings: how far what happened is known."""
    return sa.select(sa.func.max(bookings.c.reservation_status_date).label("known_until"))
