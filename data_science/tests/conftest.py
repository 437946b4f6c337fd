"""Fixtures of the data science tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa


@pytest.fixture
def booking_scores() -> Callable[[str], pd.DataFrame]:
    """``read(url)``: the rows ``score-db`` wrote to ``booking_scores`` at that database."""

    def read(url: str) -> pd.DataFrame:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return pd.read_sql("SELECT * FROM booking_scores ORDER BY booking_id, as_of", conn)
        finally:
            engine.dispose()

    return read
