"""The dashboards' SQL, written once for PostgreSQL (the platform's server) and SQLite (its default).

Every aggregation runs on the database (GROUP BY there, a few hundred rows back at most): the
pages never read a table into pandas. Only identifiers and constants defined in this package are
formatted into the statements; every value a user chooses is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME, COUNTRY_ALIASES
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY

BOOKINGS = "bookings_v2"
PREDICTIONS = "predictions"
Bucket = Literal["minute", "hour", "day"]

# The booking-time inputs, split as drift is measured on them: numbers on quantile bins,
# everything else category by category.
NUMERIC_FIELDS: tuple[str, ...] = tuple(
    f for f in BOOKING_FIELDS if COLUMNS_BY_NAME[f].kind in ("int", "float")
)
CATEGORICAL_FIELDS: tuple[str, ...] = tuple(f for f in BOOKING_FIELDS if f not in NUMERIC_FIELDS)
# The API may accept a booking without its week number (it follows from the date).
OPTIONAL_MATCH_FIELDS = frozenset({"arrival_date_week_number"})

BREAKDOWNS: dict[str, str] = {
    "hotel": "Hotel",
    "market_segment": "Market segment",
    "deposit_type": "Deposit type",
    "lead_time_band": "Lead-time band",
    "customer_type": "Customer type",
    "country": "Country",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    name: str  # "postgresql" or "sqlite"

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def json_text(self, column: str, field: str) -> str:
        """A field of a JSON column as text (SQL NULL for JSON null or a missing key)."""
        if self.postgres:
            return f"({column} ->> {_literal(field)})"
        return f"CAST(json_extract({column}, {_literal('$.' + field)}) AS TEXT)"

    def json_number(self, column: str, field: str) -> str:
        if self.postgres:
            return f"CAST({column} ->> {_literal(field)} AS DOUBLE PRECISION)"
        return f"CAST(json_extract({column}, {_literal('$.' + field)}) AS DOUBLE PRECISION)"

    def date_param(self, name: str) -> str:
        # Values are bound as ISO text: PostgreSQL compares them as dates, SQLite stores ISO text.
        return f"CAST(:{name} AS DATE)" if self.postgres else f":{name}"

    def since(self, column: str, param: str = "since") -> str:
        if self.postgres:
            return f"{column} >= CAST(:{param} AS TIMESTAMPTZ)"
        return f"datetime({column}) >= datetime(:{param})"

    def bucket(self, column: str, unit: Bucket) -> str:
        """Start of the UTC minute, hour or day of a timestamp (colons escaped for sa.text)."""
        if self.postgres:
            return f"date_trunc({_literal(unit)}, {column} AT TIME ZONE 'UTC')"
        if unit == "minute":
            return rf"strftime('%Y-%m-%d %H\:%M\:00', {column})"
        if unit == "hour":
            return rf"strftime('%Y-%m-%d %H\:00\:00', {column})"
        return f"date({column})"

    def floor_int(self, expression: str) -> str:
        # PostgreSQL's CAST to integer rounds; SQLite's truncates (and may lack FLOOR).
        if self.postgres:
            return f"CAST(FLOOR({expression}) AS INTEGER)"
        return f"CAST({expression} AS INTEGER)"

    def identifier(self, text: str) -> str:
        """Agent/company ids as v1 cleans them: missing -> 'none', '009' or 9.0 -> '9'."""
        if self.postgres:
            numeric = rf"{text} ~ '^[0-9]+(\.0*)?$'"
            as_id = f"CAST(CAST(CAST({text} AS NUMERIC) AS BIGINT) AS TEXT)"
        else:
            numeric = f"{text} GLOB '[0-9]*'"
            as_id = f"CAST(CAST({text} AS INTEGER) AS TEXT)"
        return (
            f"CASE WHEN {text} IS NULL OR {text} = '' THEN {_literal(NO_ID)} "
            f"WHEN {numeric} THEN {as_id} ELSE {text} END"
        )


def grouped_counts(
    dialect: Dialect,
    source: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    aggregates: str = "COUNT(*) AS n",
) -> str:
    """One GROUP BY per column of ``source``, as long rows (feature, num_value, cat_value, ...).

    PostgreSQL computes all of them in one scan with GROUPING SETS; SQLite, which has no grouping
    sets, gets the equivalent UNION ALL. Both return the same columns.
    """
    columns = [*numeric, *categorical]
    if dialect.postgres:
        feature = " ".join(f"WHEN GROUPING({c}) = 0 THEN {_literal(c)}" for c in columns)
        num = ", ".join(f"CAST({c} AS DOUBLE PRECISION)" for c in numeric) or "NULL"
        cat = ", ".join(f"CAST({c} AS TEXT)" for c in categorical) or "NULL"
        sets = ", ".join(f"({c})" for c in columns)
        return (
            f"WITH s AS ({source}) "
            f"SELECT CASE {feature} END AS feature, "
            f"CAST(COALESCE({num}, NULL) AS DOUBLE PRECISION) AS num_value, "
            f"CAST(COALESCE({cat}, NULL) AS TEXT) AS cat_value, {aggregates} "
            f"FROM s GROUP BY GROUPING SETS ({sets})"
        )
    parts = [
        f"SELECT {_literal(c)} AS feature, CAST({c} AS DOUBLE PRECISION) AS num_value, "
        f"CAST(NULL AS TEXT) AS cat_value, {aggregates} FROM s GROUP BY {c}"
        for c in numeric
    ] + [
        f"SELECT {_literal(c)} AS feature, CAST(NULL AS DOUBLE PRECISION) AS num_value, "
        f"CAST({c} AS TEXT) AS cat_value, {aggregates} FROM s GROUP BY {c}"
        for c in categorical
    ]
    return f"WITH s AS ({source}) " + " UNION ALL ".join(parts)


# ---------------------------------------------------------------------------------------- bookings
HOTEL_BOUNDS = (
    f"SELECT hotel, COUNT(*) AS bookings, MIN(arrival_date) AS first_arrival, "
    f"MAX(arrival_date) AS last_arrival FROM {BOOKINGS} GROUP BY hotel ORDER BY hotel"
)


def booking_filter(
    dialect: Dialect, hotels: Sequence[str], start: str, end: str
) -> tuple[str, dict[str, Any]]:
    """WHERE clause for the chosen hotels and arrival dates (ISO, inclusive)."""
    params: dict[str, Any] = {"start": start, "end": end}
    names = [f"hotel_{i}" for i in range(len(hotels))]
    params.update(zip(names, hotels, strict=True))
    in_list = ", ".join(f":{n}" for n in names) if names else "NULL"
    clause = (
        f"hotel IN ({in_list}) AND arrival_date >= {dialect.date_param('start')} "
        f"AND arrival_date <= {dialect.date_param('end')}"
    )
    return clause, params


def booking_kpis(where: str) -> str:
    return (
        "SELECT COUNT(*) AS bookings, COALESCE(SUM(is_canceled), 0) AS cancellations, "
        "AVG(CAST(is_canceled AS DOUBLE PRECISION)) AS cancellation_rate, "
        "AVG(adr) AS adr, AVG(CAST(lead_time AS DOUBLE PRECISION)) AS lead_time, "
        "AVG(CAST(total_nights AS DOUBLE PRECISION)) AS nights "
        f"FROM {BOOKINGS} WHERE {where}"
    )


def booking_breakdowns(dialect: Dialect, where: str) -> str:
    source = f"SELECT {', '.join(BREAKDOWNS)}, is_canceled, adr FROM {BOOKINGS} WHERE {where}"
    aggregates = "COUNT(*) AS bookings, SUM(is_canceled) AS cancellations, AVG(adr) AS adr"
    return grouped_counts(dialect, source, (), tuple(BREAKDOWNS), aggregates)


def booking_months(where: str) -> str:
    return (
        "SELECT arrival_date_year AS year, arrival_month AS month, COUNT(*) AS bookings, "
        f"SUM(is_canceled) AS cancellations, AVG(adr) AS adr FROM {BOOKINGS} WHERE {where} "
        "GROUP BY arrival_date_year, arrival_month ORDER BY arrival_date_year, arrival_month"
    )


# -------------------------------------------------------------------------------------- monitoring
def normalized_booking(dialect: Dialect, column: str = "booking") -> dict[str, str]:
    """SQL for each booking field of a logged prediction, cleaned as v1 cleans the dataset.

    The API logs the booking as it was sent (agent 9 or "009", meal "Undefined", country "CN" or
    missing); ``bookings_v2`` holds the cleaned values. Comparing distributions or matching a
    prediction to its booking needs both sides in the same form.
    """
    out: dict[str, str] = {}
    for field in BOOKING_FIELDS:
        text = dialect.json_text(column, field)
        if field in NUMERIC_FIELDS:
            number = dialect.json_number(column, field)
            out[field] = f"COALESCE({number}, 0)" if field == "children" else number
        elif field == "meal":
            out[field] = f"CASE WHEN {text} = 'Undefined' THEN 'SC' ELSE {text} END"
        elif field == "country":
            aliases = " ".join(f"WHEN {_literal(a)} THEN {_literal(b)}" for a, b in COUNTRY_ALIASES.items())
            unknown = _literal(UNKNOWN_COUNTRY)
            out[field] = (
                f"CASE WHEN {text} IS NULL OR {text} = '' THEN {unknown} "
                f"ELSE CASE {text} {aliases} ELSE {text} END END"
            )
        elif field in ("agent", "company"):
            out[field] = dialect.identifier(text)
        else:
            out[field] = text
    return out


def prediction_window(dialect: Dialect) -> str:
    return dialect.since("created_at")


def prediction_summary(dialect: Dialect) -> str:
    return (
        "SELECT COUNT(*) AS predictions, "
        "SUM(CASE WHEN will_cancel THEN 1 ELSE 0 END) AS predicted_cancel, "
        "AVG(cancel_probability) AS mean_probability, AVG(threshold) AS mean_threshold, "
        "MIN(created_at) AS first_at, MAX(created_at) AS last_at, "
        "COUNT(DISTINCT model_version) AS model_versions "
        f"FROM {PREDICTIONS} WHERE {prediction_window(dialect)}"
    )


def prediction_versions(dialect: Dialect) -> str:
    return (
        "SELECT model_name, model_version, COUNT(*) AS predictions, MAX(created_at) AS last_at "
        f"FROM {PREDICTIONS} WHERE {prediction_window(dialect)} "
        "GROUP BY model_name, model_version ORDER BY MAX(created_at) DESC"
    )


def prediction_activity(dialect: Dialect, unit: Bucket | None) -> str:
    """Volume, share predicted to cancel and nearest-rank latency p50/p95, per bucket (or overall).

    Percentiles use ROW_NUMBER over the ordered latencies, which both databases have (SQLite has
    no percentile functions): p-th percentile = the smallest latency whose rank >= p% of n.
    """
    bucket = dialect.bucket("created_at", unit) if unit else "'all'"
    return (
        "SELECT bucket, COUNT(*) AS predictions, "
        "SUM(CASE WHEN will_cancel THEN 1 ELSE 0 END) AS predicted_cancel, "
        "AVG(cancel_probability) AS mean_probability, "
        "MIN(CASE WHEN rn * 100 >= n * 50 THEN latency_ms END) AS latency_p50, "
        "MIN(CASE WHEN rn * 100 >= n * 95 THEN latency_ms END) AS latency_p95 "
        f"FROM (SELECT {bucket} AS bucket, will_cancel, cancel_probability, latency_ms, "
        f"ROW_NUMBER() OVER (PARTITION BY {bucket} "
        "ORDER BY CASE WHEN latency_ms IS NULL THEN 1 ELSE 0 END, latency_ms) AS rn, "
        f"COUNT(latency_ms) OVER (PARTITION BY {bucket}) AS n "
        f"FROM {PREDICTIONS} WHERE {prediction_window(dialect)}) AS t "
        "GROUP BY bucket ORDER BY bucket"
    )


def probability_histogram(dialect: Dialect, bins: int) -> str:
    # Probability 1.0 would fall in bin `bins`: LEAST/MIN differ between the two databases.
    raw = dialect.floor_int(f"cancel_probability * {bins}")
    bin_expr = f"CASE WHEN {raw} >= {bins} THEN {bins - 1} ELSE {raw} END"
    return (
        f"SELECT {bin_expr} AS bin, COUNT(*) AS predictions, "
        "SUM(CASE WHEN will_cancel THEN 1 ELSE 0 END) AS predicted_cancel "
        f"FROM {PREDICTIONS} WHERE {prediction_window(dialect)} AND cancel_probability IS NOT NULL "
        f"GROUP BY {bin_expr} ORDER BY 1"
    )


def training_histograms(dialect: Dialect) -> str:
    """Each input's distribution over the training window (arrivals before :validation_start)."""
    source = (
        f"SELECT {', '.join(BOOKING_FIELDS)} FROM {BOOKINGS} "
        f"WHERE arrival_date < {dialect.date_param('validation_start')}"
    )
    return grouped_counts(dialect, source, NUMERIC_FIELDS, CATEGORICAL_FIELDS)


def prediction_histograms(dialect: Dialect) -> str:
    fields = normalized_booking(dialect)
    source = (
        f"SELECT {', '.join(f'{expr} AS {name}' for name, expr in fields.items())} "
        f"FROM {PREDICTIONS} WHERE {prediction_window(dialect)}"
    )
    return grouped_counts(dialect, source, NUMERIC_FIELDS, CATEGORICAL_FIELDS)


def realised_outcomes(dialect: Dialect) -> str:
    """Confusion counts of logged predictions whose booking is in the dataset with an outcome.

    A prediction matches the bookings with the same 27 input fields. The dataset holds exact
    duplicates, so one prediction may match several rows: it counts once, and only when they agree
    on the outcome (``ambiguous`` counts the others).
    """
    fields = normalized_booking(dialect)
    selected = ", ".join(f"{expr} AS {name}" for name, expr in fields.items())
    conditions = " AND ".join(
        f"(p.{name} IS NULL OR p.{name} = b.{name})"
        if name in OPTIONAL_MATCH_FIELDS
        else f"p.{name} = b.{name}"
        for name in fields
    )
    # The bookings are first cut to the hotels and arrival days the predictions name: estimating
    # a 27-column equality, PostgreSQL otherwise sorts the whole table for a merge join (5x slower
    # on the full dataset); after the cut it hash-joins a few thousand rows.
    days = "hotel, arrival_date_year, arrival_date_month, arrival_date_day_of_month"
    candidates = (
        f"SELECT {', '.join(fields)}, is_canceled FROM {BOOKINGS} WHERE is_canceled IS NOT NULL "
        f"AND ({days}) IN (SELECT DISTINCT hotel, CAST(arrival_date_year AS INTEGER), arrival_date_month, "
        "CAST(arrival_date_day_of_month AS INTEGER) FROM p)"
    )
    return (
        f"WITH p AS (SELECT request_id, will_cancel, {selected} FROM {PREDICTIONS} "
        f"WHERE {prediction_window(dialect)}), "
        "m AS (SELECT p.request_id, MAX(CASE WHEN p.will_cancel THEN 1 ELSE 0 END) AS predicted, "
        "MIN(b.is_canceled) AS lowest, MAX(b.is_canceled) AS highest "
        f"FROM p JOIN ({candidates}) AS b ON {conditions} "
        "GROUP BY p.request_id) "
        "SELECT COUNT(*) AS matched, "
        "COALESCE(SUM(CASE WHEN lowest <> highest THEN 1 ELSE 0 END), 0) AS ambiguous, "
        "COALESCE(SUM(CASE WHEN lowest = highest AND predicted = 1 AND highest = 1 THEN 1 ELSE 0 END), 0) AS tp, "
        "COALESCE(SUM(CASE WHEN lowest = highest AND predicted = 1 AND highest = 0 THEN 1 ELSE 0 END), 0) AS fp, "
        "COALESCE(SUM(CASE WHEN lowest = highest AND predicted = 0 AND highest = 1 THEN 1 ELSE 0 END), 0) AS fn, "
        "COALESCE(SUM(CASE WHEN lowest = highest AND predicted = 0 AND highest = 0 THEN 1 ELSE 0 END), 0) AS tn "
        "FROM m"
    )
