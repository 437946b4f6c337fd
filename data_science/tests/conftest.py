"""Fixtures of the data science tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa

from data_science.model import CancellationModel
from data_science.tracking import MODEL_NAME, resolve


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


# ---------------------------------------------------------------- the model the `model` tests judge
@pytest.fixture(scope="module")
def model_uri(request: pytest.FixtureRequest, monkeypatch_module: pytest.MonkeyPatch) -> str:
    """``--model-uri`` when given; else the synthetic pipeline's champion (the pipeline runs only
    then: looked up here rather than requested, so a model test does not count as integration)."""
    given = request.config.getoption("--model-uri")
    if given:
        return str(given)
    trained = request.getfixturevalue("trained_workspace")
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    return f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="module")
def champion_dir(model_uri: str):
    return resolve(model_uri).local_dir


@pytest.fixture(scope="module")
def champion(champion_dir) -> CancellationModel:
    return CancellationModel.load(champion_dir)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
