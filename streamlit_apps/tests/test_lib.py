"""The pieces under the pages: PSI arithmetic, SQL dialect helpers, what may be shown of a URL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from streamlit_apps.lib import config, drift, sql


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
        edges = drift.quantile_edges(distinct, counts)
        expected = np.unique(np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf"))
        expected = expected[expected < values.max()] if len(expected) > 1 else expected
        np.testing.assert_array_equal(edges, expected)
        binned = drift.bin_counts(distinct, counts, edges)
        assert binned.sum() == len(values)
        assert len(drift.bin_labels(edges)) == len(binned)


def test_a_constant_input_has_two_bins_and_no_drift_when_unchanged() -> None:
    edges = drift.quantile_edges(np.array([0.0]), np.array([100]))
    assert edges.tolist() == [0.0]
    training = pd.DataFrame({"num_value": [0.0], "n": [100]})
    current = pd.DataFrame({"num_value": [0.0, None], "n": [10, 3]})
    result = drift.numeric_drift("babies", training, current)
    assert result.psi == 0.0
    assert (result.predictions, result.missing) == (10, 3)


def test_categories_unseen_in_training_count_as_other() -> None:
    training = pd.DataFrame({"cat_value": ["A", "B"], "n": [60, 40]})
    current = pd.DataFrame({"cat_value": ["A", "Z"], "n": [6, 4]})
    result = drift.categorical_drift("reserved_room_type", training, current)
    assert result.severity == "alert"
    assert result.largest_shift == "B: 40% → 0%"  # ties go to the first bin: B before (other)


def test_drift_table_is_worst_first() -> None:
    training = pd.DataFrame(
        {
            "feature": ["lead_time"] * 3 + ["hotel"] * 2,
            "num_value": [1.0, 2.0, 3.0, None, None],
            "cat_value": [None, None, None, "City Hotel", "Resort Hotel"],
            "n": [10, 10, 10, 50, 50],
        }
    )
    current = pd.DataFrame(
        {
            "feature": ["lead_time", "hotel", "hotel"],
            "num_value": [3.0, None, None],
            "cat_value": [None, "City Hotel", "Resort Hotel"],
            "n": [30, 5, 5],
        }
    )
    table = drift.drift_table(training, current, ("lead_time",), ("hotel",))
    assert table["feature"].tolist() == ["lead_time", "hotel"]
    assert table.loc[1, "psi"] == 0.0


def _bucket(engine: sa.Engine, unit: str, stamp: str) -> str:
    dialect = sql.Dialect(engine.dialect.name)
    with engine.connect() as conn:
        if dialect.postgres:
            expression = dialect.bucket("CAST(:t AS TIMESTAMPTZ)", unit)
        else:
            expression = dialect.bucket(":t", unit)
        value = conn.execute(sa.text(f"SELECT {expression}"), {"t": stamp}).scalar_one()
    return str(pd.Timestamp(value))


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("minute", "2026-11-27 08:41:00"), ("hour", "2026-11-27 08:00:00"), ("day", "2026-11-27 00:00:00")],
)
def test_time_buckets_on_sqlite(unit: str, expected: str) -> None:
    engine = sa.create_engine("sqlite://")
    assert _bucket(engine, unit, "2026-11-27 10:41:37.5+02:00") == expected


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("unit", "expected"),
    [("minute", "2026-11-27 08:41:00"), ("hour", "2026-11-27 08:00:00"), ("day", "2026-11-27 00:00:00")],
)
def test_time_buckets_on_postgres(pg_url: str, unit: str, expected: str) -> None:
    engine = sa.create_engine(pg_url)
    assert _bucket(engine, unit, "2026-11-27 10:41:37.5+02:00") == expected
    engine.dispose()


def test_identifiers_are_cleaned_like_v1_on_sqlite() -> None:
    engine = sa.create_engine("sqlite://")
    expression = sql.Dialect("sqlite").identifier(":v")
    with engine.connect() as conn:
        clean = [
            conn.execute(sa.text(f"SELECT {expression}"), {"v": v}).scalar_one()
            for v in (None, "", "009", "9.0", "240")
        ]
    assert clean == ["none", "none", "9", "9", "240"]


def test_urls_shown_on_pages_never_carry_passwords() -> None:
    assert config.masked("postgresql+psycopg://reader:s3cret@db:5432/hotel") == (  # pragma: allowlist secret
        "postgresql+psycopg://reader:***@db:5432/hotel"
    )
    assert (
        config.masked_uri("https://user:s3cret@mlflow.example.com:5000")  # pragma: allowlist secret
        == "https://user:***@mlflow.example.com:5000"
    )
    fake = "postgresql://u:s3cret@h/mlflow"  # pragma: allowlist secret
    assert config.masked_uri(fake) == "postgresql://u:***@h/mlflow"
    assert config.masked_uri("sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"
