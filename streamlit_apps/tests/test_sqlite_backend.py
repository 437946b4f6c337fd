"""The same pages on SQLite, the platform's default database: the SQL is written for both."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from data_science.performance_estimate import estimate
from streamlit_apps.lib import drift
from streamlit_apps.tests import oracles
from streamlit_apps.tests.helpers import messages, metrics, open_page
from streamlit_apps.tests.seed import (
    ID_SENT,
    SCORED_DAYS,
    insert_predictions,
    load_bookings,
    make_predictions,
    score_days,
)


@pytest.fixture(scope="module")
def sqlite_data(trained_workspace, tmp_path_factory) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    root = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{root / 'hotel.sqlite'}"
    bookings = load_bookings(url, root, trained_workspace.source)
    predictions = make_predictions(bookings)
    insert_predictions(url, predictions)
    score_days(url, root, trained_workspace.tracking_uri, SCORED_DAYS)
    return url, bookings, predictions


@pytest.fixture
def on_sqlite(sqlite_data, trained_workspace, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setenv("DATABASE_URL_READONLY", sqlite_data[0])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    return sqlite_data


def test_bookings_page_on_sqlite(on_sqlite) -> None:
    _, bookings, _ = on_sqlite
    at = open_page()
    assert metrics(at) == oracles.expected_kpis(bookings)
    table = at.dataframe[0].value
    hotels = table[table["dimension"] == "Hotel"].set_index("value")["bookings"].to_dict()
    assert hotels == bookings["hotel"].value_counts().to_dict()


def test_monitoring_page_on_sqlite(on_sqlite) -> None:
    _, bookings, predictions = on_sqlite
    at = open_page("pages/monitoring.py")
    week = oracles.recent(predictions)
    shown = metrics(at)
    assert shown["Predictions"] == str(len(week))
    assert shown["Latency p95 (ms)"] == f"{oracles.nearest_rank(oracles.call_latencies(week), 0.95):,.1f}"
    counts = oracles.realised(bookings, week)
    assert shown["Predictions with an outcome"] == str(sum(counts[k] for k in oracles.CONFUSION))
    assert counts["by_id"] == ID_SENT  # the ids of bookings loaded without ids: their content keys
    assert shown["Realised recall"] == f"{counts['tp'] / (counts['tp'] + counts['fn']):.1%}"
    table = next(df.value for df in at.dataframe if "PSI" in df.value.columns).set_index("feature")
    assert len(table) == 27 - len(drift.CALENDAR_BOUND)
    assert table.loc["lead_time", "severity"] == "alert"
    # The realised ROC AUC's ranks (ties shared) computed by SQLite, as by PostgreSQL.
    known = oracles.with_outcome(bookings, week)
    assert shown["Realised ROC AUC"] == f"{roc_auc_score(known['cancelled'], known['probability']):.3f}"
    threshold = float(week["threshold"].mean())
    assert (
        shown["Estimated ROC AUC"]
        == f"{estimate(week['cancel_probability'].to_numpy(), threshold).roc_auc:.3f}"
    )


def test_before_any_outcome_the_estimate_stands_alone(
    sqlite_data, trained_workspace, tmp_path, monkeypatch
) -> None:
    """Predictions sent with ids of bookings not loaded yet: realised figures wait, the estimate is there."""
    url = f"sqlite:///{tmp_path / 'hotel.sqlite'}"
    shutil.copy(str(sa.make_url(sqlite_data[0]).database), tmp_path / "hotel.sqlite")
    predictions = sqlite_data[2].copy()
    predictions["booking"] = [
        {**b, "booking_id": f"ON-THE-BOOKS-{i}"} for i, b in enumerate(predictions["booking"])
    ]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM predictions")
    engine.dispose()
    insert_predictions(url, predictions)
    monkeypatch.setenv("DATABASE_URL_READONLY", url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    at = open_page("pages/monitoring.py")
    week = oracles.recent(predictions)
    shown = metrics(at)
    assert shown["Realised ROC AUC"] == "–"
    assert shown["Estimated ROC AUC"] != "–"
    assert f"No outcome yet for any of the {len(week)} predictions of the period" in messages(at)
    assert any(
        f"{len(week)} predictions with a booking id have no outcome yet" in c.value for c in at.caption
    )
    assert "Predictions with an outcome" not in shown


def test_without_bookings_the_estimate_and_drift_still_show(
    sqlite_data, trained_workspace, tmp_path, monkeypatch
) -> None:
    url = f"sqlite:///{tmp_path / 'predictions-only.sqlite'}"
    insert_predictions(url, sqlite_data[2])
    monkeypatch.setenv("DATABASE_URL_READONLY", url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    at = open_page("pages/monitoring.py")
    shown = metrics(at)
    assert shown["Estimated ROC AUC"] != "–"
    assert shown["Realised ROC AUC"] == "–"
    assert "No `bookings_" in messages(at)
    assert any("PSI" in df.value.columns for df in at.dataframe)


def test_forecast_page_on_sqlite(on_sqlite) -> None:
    url, bookings, _ = on_sqlite
    at = open_page("pages/forecast.py")
    earlier, newest = SCORED_DAYS
    assert metrics(at)["Bookings on the books"] == f"{len(oracles.on_the_books(bookings, newest)):,}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        scores = pd.read_sql_query(sa.text("SELECT * FROM booking_scores"), conn)
    engine.dispose()
    expected = oracles.per_night(bookings, scores, earlier, 60)
    replay = next(df.value for df in at.dataframe if "realised_cancellations" in df.value.columns)
    assert replay["realised_cancellations"].tolist() == expected["realised"].tolist()
    assert replay["expected_cancellations"].to_numpy() == pytest.approx(
        expected["expected"].to_numpy(), abs=1e-9
    )
