"""The Monitoring page's queries: the logged predictions, their distributions, and the outcomes
they are matched to (by ``booking_id``, else by the cleaned booking's fields). Same rules as
``sql``: SQLAlchemy Core, one text for PostgreSQL and SQLite, every aggregation on the database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from api.prediction_table import predictions
from data_engineering.src.schema import BOOKING_ID
from data_science.drift_reference import CATEGORICAL_FIELDS, NUMERIC_FIELDS
from streamlit_apps.lib import drift
from streamlit_apps.lib.sql import (
    Bucket,
    FloorInt,
    Query,
    TimeBucket,
    UnionQuery,
    bookings,
    logged,
    logged_since,
    per_feature,
)


def prediction_summary(since: dt.datetime) -> Query:
    p = predictions.c
    return sa.select(
        sa.func.count().label("predictions"),
        sa.func.sum(sa.case((p.will_cancel, 1), else_=0)).label("predicted_cancel"),
        sa.func.avg(p.cancel_probability).label("mean_probability"),
        sa.func.avg(p.threshold).label("mean_threshold"),
        sa.func.min(p.created_at).label("first_at"),
        sa.func.max(p.created_at).label("last_at"),
        sa.func.count(sa.distinct(p.model_version)).label("model_versions"),
        sa.func.count(sa.distinct(sa.func.coalesce(p.call_id, p.request_id))).label("calls"),
    ).where(logged_since(since))


def prediction_versions(since: dt.datetime) -> Query:
    p = predictions.c
    return (
        sa.select(
            p.model_name,
            p.model_version,
            sa.func.count().label("predictions"),
            sa.func.max(p.created_at).label("last_at"),
        )
        .where(logged_since(since))
        .group_by(p.model_name, p.model_version)
        .order_by(sa.func.max(p.created_at).desc())
    )


def prediction_activity(since: dt.datetime, unit: Bucket | None) -> Query:
    """Per bucket (or overall): volume, share predicted to cancel, and latency p50/p95 per *call*.

    A ``/predict/batch`` call logs one row per booking, each with the whole call's latency: the
    percentiles are taken over calls (one latency each), never over bookings. Nearest rank, with
    ROW_NUMBER, which both databases have: the p-th percentile is the smallest latency whose rank
    is at least p% of the calls.
    """
    p = predictions.c
    bucket = TimeBucket(p.created_at, unit) if unit else sa.literal("all")
    rows = (
        sa.select(bucket.label("bucket"), p.will_cancel, p.cancel_probability)
        .where(logged_since(since))
        .subquery()
    )
    volume = sa.select(
        rows.c.bucket,
        sa.func.count().label("predictions"),
        sa.func.sum(sa.case((rows.c.will_cancel, 1), else_=0)).label("predicted_cancel"),
        sa.func.avg(rows.c.cancel_probability).label("mean_probability"),
    ).group_by(rows.c.bucket)
    volume_rows = volume.subquery("volume")

    call = sa.func.coalesce(p.call_id, p.request_id)
    calls = (
        sa.select(
            sa.func.min(bucket).label("bucket"),
            sa.func.max(p.latency_ms).label("latency_ms"),
        )
        .where(logged_since(since))
        .group_by(call)
        .subquery("calls")
    )
    ranked = sa.select(
        calls.c.bucket,
        calls.c.latency_ms,
        sa.func.row_number().over(partition_by=calls.c.bucket, order_by=calls.c.latency_ms).label("rn"),
        sa.func.count().over(partition_by=calls.c.bucket).label("n"),
    ).subquery("ranked")
    latency = (
        sa.select(
            ranked.c.bucket,
            sa.func.min(sa.case((ranked.c.rn * 100 >= ranked.c.n * 50, ranked.c.latency_ms))).label(
                "latency_p50"
            ),
            sa.func.min(sa.case((ranked.c.rn * 100 >= ranked.c.n * 95, ranked.c.latency_ms))).label(
                "latency_p95"
            ),
        )
        .group_by(ranked.c.bucket)
        .subquery("latency")
    )
    return (
        sa.select(volume_rows, latency.c.latency_p50, latency.c.latency_p95)
        .join_from(volume_rows, latency, volume_rows.c.bucket == latency.c.bucket)
        .order_by(volume_rows.c.bucket)
    )


def probability_histogram(since: dt.datetime, bins: int) -> Query:
    p = predictions.c
    raw = FloorInt(p.cancel_probability * bins)
    bin_expr = sa.case((raw >= bins, bins - 1), else_=raw)  # probability 1.0 would open a bin of its own
    return (
        sa.select(
            bin_expr.label("bin"),
            sa.func.count().label("predictions"),
            sa.func.sum(sa.case((p.will_cancel, 1), else_=0)).label("predicted_cancel"),
        )
        .where(logged_since(since), p.cancel_probability.is_not(None))
        .group_by(bin_expr)
        .order_by(bin_expr)
    )


def prediction_histograms(since: dt.datetime) -> UnionQuery:
    """Value counts of each logged input the drift table judges (never the calendar-bound ones)."""
    numeric, categorical = drift.JUDGED_NUMERIC, drift.JUDGED_CATEGORICAL
    source = sa.select(*(logged(name).label(name) for name in (*numeric, *categorical))).where(
        logged_since(since)
    )
    return per_feature(source.subquery("s"), numeric, categorical, sa.func.count().label("n"))


def period_probabilities(since: dt.datetime, limit: int) -> Query:
    """The probabilities of the newest ``limit`` predictions of the period (the label-free
    estimate needs each one; nothing else of them is read), through the index on created_at."""
    p = predictions.c
    return (
        sa.select(p.cancel_probability).where(logged_since(since)).order_by(p.created_at.desc()).limit(limit)
    )


def _matched(since: dt.datetime) -> tuple[sa.CTE, sa.CTE]:
    """The period's predictions (``p``) and those matched to a loaded booking with an outcome (``m``).

    A prediction sent with the hotel's ``booking_id`` matches the loaded booking with that id, and
    only it (``method`` 'id'). A prediction without an id matches the bookings with the same 27
    (cleaned) input fields ('fields'): the dataset holds exact duplicates, so one prediction may
    match several rows; it is one row of ``m``, with the lowest and highest outcome among them
    (they agree when both are equal).
    """
    fields = (*NUMERIC_FIELDS, *CATEGORICAL_FIELDS)
    p = (
        sa.select(
            predictions.c.request_id,
            predictions.c.created_at,
            predictions.c.will_cancel,
            predictions.c.cancel_probability,
            logged(BOOKING_ID).label(BOOKING_ID),
            *(logged(f).label(f) for f in fields),
        )
        .where(logged_since(since))
        .cte("p")
    )
    predicted = sa.case((p.c.will_cancel, 1), else_=0)
    by_id = (
        sa.select(
            p.c.request_id,
            p.c.created_at,
            sa.literal("id").label("method"),
            predicted.label("predicted"),
            p.c.cancel_probability.label("probability"),
            bookings.c.is_canceled.label("lowest"),
            bookings.c.is_canceled.label("highest"),
        )
        .join_from(p, bookings, bookings.c[BOOKING_ID] == p.c[BOOKING_ID])
        .where(bookings.c.is_canceled.is_not(None))
    )
    # The bookings are first cut to the hotels and arrival days the predictions name: estimating
    # a 27-column equality, PostgreSQL otherwise sorts the whole table for a merge join.
    without_id = p.c[BOOKING_ID].is_(None)
    days = ("hotel", "arrival_date_year", "arrival_date_month", "arrival_date_day_of_month")
    named = sa.select(*(p.c[d] for d in days)).where(without_id).distinct()
    candidates = (
        sa.select(*(bookings.c[f] for f in fields), bookings.c.is_canceled)
        .where(bookings.c.is_canceled.is_not(None), sa.tuple_(*(bookings.c[d] for d in days)).in_(named))
        .subquery("b")
    )
    by_fields = (
        sa.select(
            p.c.request_id,
            sa.func.max(p.c.created_at).label("created_at"),
            sa.literal("fields").label("method"),
            sa.func.max(predicted).label("predicted"),
            sa.func.max(p.c.cancel_probability).label("probability"),
            sa.func.min(candidates.c.is_canceled).label("lowest"),
            sa.func.max(candidates.c.is_canceled).label("highest"),
        )
        .join_from(p, candidates, sa.and_(*(p.c[f] == candidates.c[f] for f in fields)))
        .where(without_id)
        .group_by(p.c.request_id)
    )
    return p, sa.union_all(by_id, by_fields).cte("m")


def realised_outcomes(since: dt.datetime) -> Query:
    """What the period's predictions with a known outcome say: confusion counts, the cancellations
    among them, and the rank sum of the cancelled ones (their ROC AUC, below), in one row.

    ``by_id``/``by_fields`` count the matches each way, ``waiting`` the predictions sent with an
    id whose booking is not loaded or has no outcome yet, ``ambiguous`` those whose duplicates
    disagree (left out of every figure). The ROC AUC is the Mann-Whitney statistic, computed on
    the database: ``(rank_sum - n1 (n1 + 1) / 2) / (n1 n0)`` with ``rank_sum`` the sum of the
    cancelled bookings' ranks by probability, tied probabilities sharing their mean rank
    (``realised_roc_auc`` does the last division).
    """
    p, matched = _matched(since)
    agree = matched.c.lowest == matched.c.highest

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    agreed = sa.select(matched.c.probability, matched.c.highest.label("cancelled")).where(agree).subquery("a")
    tied = sa.func.count().over(partition_by=agreed.c.probability)
    mean_rank = (
        sa.cast(sa.func.rank().over(order_by=agreed.c.probability), sa.Double)
        + (sa.cast(tied, sa.Double) - 1.0) / 2.0
    )
    ranked = sa.select(agreed.c.cancelled, mean_rank.label("rank")).subquery("r")
    rank_sum = sa.select(
        sa.func.sum(sa.case((ranked.c.cancelled == 1, ranked.c.rank), else_=0.0))
    ).scalar_subquery()

    with_id = sa.select(sa.func.count()).where(p.c[BOOKING_ID].is_not(None)).scalar_subquery()
    predicted_cancel, highest = matched.c.predicted, matched.c.highest
    return sa.select(
        sa.func.count().label("matched"),
        count(matched.c.method == "id").label("by_id"),
        count(matched.c.method == "fields").label("by_fields"),
        (with_id - count(matched.c.method == "id")).label("waiting"),
        count(~agree).label("ambiguous"),
        count(agree & (predicted_cancel == 1) & (highest == 1)).label("tp"),
        count(agree & (predicted_cancel == 1) & (highest == 0)).label("fp"),
        count(agree & (predicted_cancel == 0) & (highest == 1)).label("fn"),
        count(agree & (predicted_cancel == 0) & (highest == 0)).label("tn"),
        rank_sum.label("rank_sum"),
    )


def realised_roc_auc(rank_sum: float | None, cancelled: int, stayed: int) -> float | None:
    """``realised_outcomes``' rank sum as a ROC AUC; None unless both outcomes occur."""
    if rank_sum is None or not cancelled or not stayed:
        return None
    return (float(rank_sum) - cancelled * (cancelled + 1) / 2) / (cancelled * stayed)


def outcome_probabilities(since: dt.datetime, limit: int) -> Query:
    """The probabilities of the newest ``limit`` predictions of the period with a known outcome
    (the estimate on exactly the predictions the realised figures are computed on)."""
    _, matched = _matched(since)
    return (
        sa.select(matched.c.probability)
        .where(matched.c.lowest == matched.c.highest)
        .order_by(matched.c.created_at.desc())
        .limit(limit)
    )
