"""Bookings page against the seeded PostgreSQL: the numbers it shows are the table's."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from streamlit_apps.lib import sql
from streamlit_apps.tests.helpers import metrics, open_page
from streamlit_apps.tests.oracles import expected_kpis

pytestmark = pytest.mark.postgres


def test_kpis_are_the_tables_counts(dashboard_env) -> None:
    at = open_page()
    engine = sa.create_engine(dashboard_env.app_url)
    with engine.connect() as conn:
        count, cancelled = conn.execute(
            sa.text(f"SELECT COUNT(*), SUM(is_canceled) FROM {sql.BOOKINGS}")
        ).one()
    engine.dispose()
    shown = metrics(at)
    assert shown["Bookings"] == f"{count:,}"
    assert shown == expected_kpis(dashboard_env.bookings)
    assert shown["Cancellation rate"] == f"{cancelled / count:.1%}"
    assert at.metric[1].help == f"{cancelled:,} of {count:,} bookings were cancelled"


def test_filters_by_hotel_and_arrival_dates(dashboard_env) -> None:
    at = open_page()
    start, end = dt.date(2016, 1, 1), dt.date(2016, 6, 30)
    at.multiselect(key="hotels").set_value(["Resort Hotel"])
    at.date_input(key="arrivals").set_value((start, end))
    at.run()
    assert not at.exception
    b = dashboard_env.bookings
    arrival = pd.to_datetime(b["arrival_date"]).dt.date
    chosen = b[(b["hotel"] == "Resort Hotel") & (arrival >= start) & (arrival <= end)]
    assert 0 < len(chosen) < len(b)
    assert metrics(at) == expected_kpis(chosen)


def test_breakdowns_are_grouped_on_the_database(dashboard_env) -> None:
    at = open_page()
    table = at.dataframe[0].value
    b = dashboard_env.bookings
    for dimension, label in sql.BREAKDOWNS.items():
        expected = b.groupby(dimension)["is_canceled"].agg(["size", "sum"])
        shown = table[table["dimension"] == label].set_index("value")
        assert shown["bookings"].to_dict() == expected["size"].to_dict(), dimension
        assert shown["cancellations"].to_dict() == expected["sum"].to_dict(), dimension
        rates = (shown["cancellations"] / shown["bookings"]).round(12)
        assert (shown["cancellation_rate"].round(12) == rates).all()


def test_no_hotel_chosen_asks_for_one(dashboard_env) -> None:
    at = open_page()
    at.multiselect(key="hotels").set_value([])
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Choose at least one hotel in the sidebar."]
    assert not at.metric
