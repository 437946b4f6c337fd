"""``tracking.registered_model_version``: the one lookup of an alias, against a real registry.

A SQLite registry with two versions (no artifacts: the lookup never reads them) and the champion
alias on the second; every caller (the API's watcher, ``resolve``, the dashboards, the summary)
relies on the answers and the MLflow error codes checked here.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from data_science.tracking import CHAMPION, registered_model_version, registered_version

NAME = "resolver-test"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, source=str(tmp_path / "nowhere"))
    client.set_registered_model_alias(NAME, CHAMPION, "2")
    return client


# MLflow's SQL registry answers the version as an int although it types it as text: str() it.
def test_an_alias_resolves_to_the_version_it_names_now(registry: mlflow.MlflowClient) -> None:
    assert str(registered_model_version(registry, f"models:/{NAME}@{CHAMPION}").version) == "2"
    registry.set_registered_model_alias(NAME, CHAMPION, "1")
    assert str(registered_model_version(registry, f"models:/{NAME}@{CHAMPION}").version) == "1"
    assert registered_version(f"models:/{NAME}@{CHAMPION}") == "1"


def test_a_pinned_version_resolves_to_itself(registry: mlflow.MlflowClient) -> None:
    assert str(registered_model_version(registry, f"models:/{NAME}/1").version) == "1"
    # The watcher asks for a pinned version every period: it names itself, without a query.
    assert registered_version(f"models:/{NAME}/7") == "7"


def test_a_uri_outside_the_registry_names_no_version(registry: mlflow.MlflowClient) -> None:
    assert registered_version("runs:/0123456789abcdef/model") is None


def test_an_unknown_alias_and_an_unknown_model_say_which(registry: mlflow.MlflowClient) -> None:
    # The dashboards read "registered, no champion" from the first code, "nothing registered"
    # from the second.
    with pytest.raises(MlflowException) as no_alias:
        registered_model_version(registry, f"models:/{NAME}@challenger")
    assert no_alias.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as no_model:
        registered_model_version(registry, f"models:/elsewhere@{CHAMPION}")
    assert no_model.value.error_code == "RESOURCE_DOES_NOT_EXIST"
