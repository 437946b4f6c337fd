"""The pieces under the pages: PSI arithmetic, the training profile, the SQL constructs compiled
per dialect."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data_science import drift_reference as profiles
from data_science.drift_reference import bin_counts, quantile_edges, training_profile
from data_science.performance_estimate import estimate
from streamlit_apps.lib import drift, monitoring_sql, performance, sql


@pytest.mark.parametrize(
    ("value", "level"), [(0.0, "ok"), (0.0999, "ok"), (0.1, "watch"), (0.25, "watch"), (0.2501, "alert")]
)
def test_severity_bands(value: float, level: str) -> None:
    assert drift.severity(value) == level


def test_psi_by_hand() -> None:
    assert drift.psi(np.array([50, 50]), np.array([5, 5])) == 0.0
    # 50/50 -> 80/20: (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
    expected = 0.3 * np.log(1.6) - 0.3 * np.log(0.4)
    assert drift.psi(np.array([1, 1]), np.array([8, 2])) == pytest.approx(expected)
    # An empty bin is floored at EPSILON, so a category never seen in training stays finite.
    assert np.isfinite(drift.psi(np.array([10, 0]), np.array([5, 5])))


def test_quantile_edges_from_a_histogram_match_numpy_on_the_rows() -> None:
    rng = np.random.default_rng(5)
    for values in (
        rng.gamma(1.2, 80, 5000).round(),
        rng.integers(0, 3, 5000),
        rng.normal(100, 30, 3000).round(2),
    ):
        distinct, counts = np.unique(values, return_counts=True)
        edges = quantile_edges(distinct, counts)
        expected = np.unique(np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf"))
        expected = expected[expected < values.max()] if len(expected) > 1 else expected
        np.testing.assert_array_equal(edges, expected)
        binned = bin_counts(distinct, counts, edges)
        assert binned.sum() == len(values)
        assert len(drift.bin_labels(edges)) == len(binned)


def test_a_constant_input_has_two_bins_and_no_drift_when_unchanged() -> None:
    edges = quantile_edges(np.array([0.0]), np.array([100]))
    assert edges.tolist() == [0.0]
    reference = {"kind": "numeric", "edges": edges.tolist(), "counts": [100, 0]}
    current = pd.DataFrame({"num_value": [0.0, None], "n": [10, 3]})
    result = drift.numeric_drift("babies", reference, current)
    assert result.psi == 0.0
    assert (result.predictions, result.missing) == (10, 3)


def test_categories_unseen_in_training_count_as_other() -> None:
    reference = {"kind": "categorical", "counts": {"A": 60, "B": 40, "(other)": 0}}
    current = pd.DataFrame({"cat_value": ["A", "Z"], "n": [6, 4]})
    result = drift.categorical_drift("reserved_room_type", reference, current)
    assert result.severity == "alert"
    assert result.largest_shift == "B: 40% → 0%"  # ties go to the first bin: B before (other)


def test_drift_table_is_worst_first() -> None:
    profile = {
        "rows": 80,
        "fields": {
            "lead_time": {"kind": "numeric", "edges": [1.0, 2.0], "counts": [10, 10, 10]},
            "hotel": {"kind": "categorical", "counts": {"City Hotel": 50, "Resort Hotel": 50, "(other)": 0}},
        },
    }
    current = pd.DataFrame(
        {
            "feature": ["lead_time", "hotel", "hotel"],
            "num_value": [3.0, None, None],
            "cat_value": [None, "City Hotel", "Resort Hotel"],
            "n": [30, 5, 5],
        }
    )
    table = drift.drift_table(profile, current)
    assert table["feature"].tolist() == ["lead_time", "hotel"]
    assert table.loc[1, "psi"] == 0.0


def test_the_training_profile_is_what_drift_reads() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"arrival_date": pd.date_range("2016-01-01", periods=400, freq="D")})
    for name in profiles.NUMERIC_FIELDS:
        frame[name] = rng.integers(0, 5, 400)
    for name in profiles.CATEGORICAL_FIELDS:
        frame[name] = rng.choice(["a", "b", "c"], 400)
    profile = training_profile(frame)
    assert profile["rows"] == 400
    assert profile["window"] == {"first_arrival": "2016-01-01", "last_arrival": "2017-02-03"}
    hotel = profile["fields"]["hotel"]["counts"]
    assert sum(hotel.values()) == 400
    assert hotel["(other)"] == 0
    lead = profile["fields"]["lead_time"]
    assert sum(lead["counts"]) == 400
    assert len(lead["counts"]) == len(lead["edges"]) + 1
    # The same bookings logged again: no drift anywhere.
    current = pd.concat(
        [
            frame[name].value_counts().rename_axis("num_value").reset_index(name="n").assign(feature=name)
            for name in profiles.NUMERIC_FIELDS
        ]
        + [
            frame[name].value_counts().rename_axis("cat_value").reset_index(name="n").assign(feature=name)
            for name in profiles.CATEGORICAL_FIELDS
        ],
        ignore_index=True,
    )
    table = drift.drift_table(profile, current)
    assert len(table) == len(drift.JUDGED_NUMERIC) + len(drift.JUDGED_CATEGORICAL)
    assert (table["psi"] == 0).all()


def _scalar(engine: sa.Engine, expression) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(expression)).scalar_one()


STAMP = dt.datetime(2026, 11, 27, 8, 41, 37, 500000, tzinfo=dt.UTC)
BUCKETS = [("minute", "2026-11-27 08:41:00"), ("hour", "2026-11-27 08:00:00"), ("day", "2026-11-27 00:00:00")]


@pytest.mark.parametrize(("unit", "expected"), BUCKETS)
def test_time_buckets_on_sqlite(unit: sql.Bucket, expected: str) -> None:
    engine = sa.create_engine("sqlite://")
    stamp = sa.literal(STAMP, sa.DateTime(timezone=True))
    assert str(pd.Timestamp(_scalar(engine, sql.TimeBucket(stamp, unit)))) == expected


@pytest.mark.postgres
@pytest.mark.parametrize(("unit", "expected"), BUCKETS)
def test_time_buckets_on_postgres(pg_url: str, unit: sql.Bucket, expected: str) -> None:
    engine = sa.create_engine(pg_url)
    stamp = sa.literal(STAMP, sa.DateTime(timezone=True))
    assert str(pd.Timestamp(_scalar(engine, sql.TimeBucket(stamp, unit)))) == expected
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_floor_is_the_floor_on_both_databases(backend: str, request: pytest.FixtureRequest) -> None:
    engine = sa.create_engine("sqlite://" if backend == "sqlite" else request.getfixturevalue("pg_url"))
    for value, floor in ((0.0, 0), (0.95 * 20, 19), (0.999 * 20, 19), (7.5, 7)):
        assert _scalar(engine, sql.FloorInt(sa.literal(value, sa.Double))) == floor
    engine.dispose()


def test_calendar_bound_inputs_are_never_judged() -> None:
    """However far the arrival dates moved, they are not rows of the drift table."""
    profile = {
        "rows": 100,
        "fields": {
            "arrival_date_year": {"kind": "numeric", "edges": [2015.0, 2016.0], "counts": [50, 50, 0]},
            "arrival_date_month": {"kind": "categorical", "counts": {"July": 100, "(other)": 0}},
            "lead_time": {"kind": "numeric", "edges": [10.0], "counts": [50, 50]},
        },
    }
    current = pd.DataFrame(
        {
            "feature": ["arrival_date_year", "arrival_date_month", "lead_time"],
            "num_value": [2026.0, None, 5.0],
            "cat_value": [None, "December", None],
            "n": [10, 10, 10],
        }
    )
    assert drift.drift_table(profile, current)["feature"].tolist() == ["lead_time"]
    assert set(drift.CALENDAR_BOUND) <= set(profiles.NUMERIC_FIELDS + profiles.CATEGORICAL_FIELDS)
    assert not set(drift.CALENDAR_BOUND) & set(drift.JUDGED_NUMERIC + drift.JUDGED_CATEGORICAL)


def test_estimated_and_realised_table_says_what_each_figure_rests_on() -> None:
    rng = np.random.default_rng(4)
    period = estimate(rng.uniform(0, 1, 500), 0.5)
    known = estimate(rng.uniform(0, 1, 300), 0.5)
    realised = performance.Realised(predictions=300, cancelled=120, roc_auc=0.95)
    table = performance.comparison(800, period, known, realised).set_index("").T
    assert list(table.columns) == [
        "estimated: the newest 500 of 800 predictions of the period",
        "estimated: 300 with an outcome",
        "realised: 300 with an outcome",
        "gap: realised − estimated on the same predictions",
    ]
    assert table.loc["cancellation rate"].iloc[2] == "40.0%"
    gap = 0.95 - known.roc_auc
    assert gap > 0
    assert known.intervals["roc_auc"][1] < 0.95
    assert table.loc["ROC AUC"].iloc[3] == f"+{gap:.3f}, outside the interval"
    # A gap of rates is in percentage points, not a relative percentage.
    rate_gap = 0.40 - known.cancellation_rate
    low, high = known.intervals["cancellation_rate"]
    where = "inside" if low <= 0.40 <= high else "outside"
    sign = "+" if rate_gap >= 0 else "−"
    assert (
        table.loc["cancellation rate"].iloc[3] == f"{sign}{abs(rate_gap) * 100:.1f} pts, {where} the interval"
    )
    nothing = performance.Realised(predictions=0, cancelled=0, roc_auc=None)
    empty = performance.comparison(800, period, None, nothing).set_index("").T
    assert list(empty.loc["ROC AUC"])[1:] == ["–", "–", "–"]
    assert monitoring_sql.realised_roc_auc(None, 0, 0) is None
    assert monitoring_sql.realised_roc_auc(10.0, 4, 0) is None  # one outcome only: no curve
    # Mann-Whitney by hand: cancelled ranked 3 and 4 of 4 -> AUC 1; ranks 1 and 2 -> 0.
    assert monitoring_sql.realised_roc_auc(7.0, 2, 2) == 1.0
    assert monitoring_sql.realised_roc_auc(3.0, 2, 2) == 0.0
