"""The registered models as the Model and Monitoring pages show them (MLflow registry).

``import mlflow`` costs ~1.3 s, so it happens inside the cached client factory, once per process,
and only on the pages that need it; ``warm_up`` lets the app start it in the background.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import streamlit as st

from data_engineering.src.environment import library_defaults
from data_engineering.src.messages import first_line
from data_science.tracking import (
    CHALLENGER,
    CHAMPION,
    CHAMPION_URI,
    MODEL_NAME,
    registered_model_version,
    tracking_uri,
)
from streamlit_apps.lib.config import MODEL_TTL_SECONDS

# Against an unreachable tracking server MLflow retries with back-off for minutes by default; a
# page should say so within seconds instead. Downloads print tqdm bars to the server's stderr on
# every page view otherwise.
library_defaults(
    MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    MLFLOW_HTTP_REQUEST_TIMEOUT="5",
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
)

FIGURES = {
    "backtest": "Backtest: each fold's metrics, model and baselines",
    "confusion_matrix": "Confusion matrix",
    "roc_curve": "ROC curve",
    "precision_recall": "Precision-recall",
    "calibration": "Calibration",
    "feature_importance": "Feature importance",
}
# Backtest means as the evaluate stage logs them (backtest_<name>_mean), in display order.
METRICS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
}
BASELINES = {
    "plain_xgboost": "Plain XGBoost",
    "logistic_regression": "Logistic regression",
    "majority": "Majority class",
}
ALIAS_ORDER = (CHAMPION, CHALLENGER)


class ModelUnavailable(Exception):  # noqa: N818 - a state the pages report, not a programming error
    def __init__(self, kind: Literal["no_store", "no_model", "error"], detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class VersionSummary:
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    registered_at: dt.datetime | None
    trained_at: dt.datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def threshold(self) -> float | None:
        return self.metrics.get("threshold")

    def backtest(self, metric: str) -> float | None:
        """The backtest mean of ``metric`` over the later windows (each scored by a model trained before it)."""
        return self.metrics.get(f"backtest_{metric}_mean")


@dataclass(frozen=True)
class Registry:
    name: str
    tracking_uri: str
    versions: tuple[VersionSummary, ...]  # newest first
    aliases: dict[str, str]  # alias -> version

    def by_alias(self, alias: str) -> VersionSummary | None:
        version = self.aliases.get(alias)
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True)
class RunArtifacts:
    figures: dict[str, bytes]  # figure name (FIGURES key) -> PNG bytes
    report: dict[str, Any] | None  # the run's metrics.json


def _millis(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC) if value else None


def _check_store(uri: str) -> None:
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            # Opening it would create an empty store: say what to run instead.
            raise ModelUnavailable("no_store", f"no MLflow tracking store at {path}")


@st.cache_resource(show_spinner=False)
def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


P = ParamSpec("P")
T = TypeVar("T")


def _call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an MLflow call, turning its failures into ModelUnavailable."""
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args, **kwargs)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelUnavailable("no_model", first_line(exc)) from exc
        raise ModelUnavailable("error", first_line(exc)) from exc
    except OSError as exc:
        raise ModelUnavailable("error", f"{exc.__class__.__name__}: {first_line(exc)}") from exc


@st.cache_data(ttl=MODEL_TTL_SECONDS, show_spinner=False)
def load_registry(uri: str, name: str = MODEL_NAME, limit: int = 20) -> Registry:
    """Every registered version of ``name`` (newest ``limit``) with its run's metrics and tags."""
    _check_store(uri)
    client = _client(uri)
    model = _call(client.get_registered_model, name)
    # search_model_versions leaves ``aliases`` empty on some stores: the registered model's
    # alias map is the reliable source.
    aliases = {alias: str(version) for alias, version in (model.aliases or {}).items()}
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    found = _call(client.search_model_versions, f"name='{name}'", max_results=200)
    found = sorted(found, key=lambda mv: int(mv.version), reverse=True)[:limit]
    versions = []
    for mv in found:
        run = _call(client.get_run, mv.run_id) if mv.run_id else None
        order = {a: i for i, a in enumerate(ALIAS_ORDER)}
        versions.append(
            VersionSummary(
                version=str(mv.version),
                aliases=tuple(sorted(by_version.get(str(mv.version), []), key=lambda a: order.get(a, 99))),
                run_id=mv.run_id,
                registered_at=_millis(mv.creation_timestamp),
                trained_at=_millis(run.info.start_time) if run else None,
                metrics=dict(run.data.metrics) if run else {},
                tags={k: v for k, v in (run.data.tags if run else {}).items() if not k.startswith("mlflow.")},
                params=dict(run.data.params) if run else {},
            )
        )
    return Registry(name, uri, tuple(versions), aliases)


@st.cache_data(show_spinner=False, max_entries=16)
def run_artifacts(uri: str, run_id: str) -> RunArtifacts:
    """The evaluate stage's figures and metrics.json of one run (a run's artifacts never change)."""
    client = _client(uri)
    figures: dict[str, bytes] = {}
    report = None
    with tempfile.TemporaryDirectory(prefix="dashboard-artifacts-") as tmp:
        listed = {a.path for a in _call(client.list_artifacts, run_id, "figures")}
        if listed:
            local = Path(_call(client.download_artifacts, run_id, "figures", tmp))
            for name in FIGURES:
                path = local / f"{name}.png"
                if path.exists():
                    figures[name] = path.read_bytes()
        if "metrics.json" in {a.path for a in _call(client.list_artifacts, run_id)}:
            path = Path(_call(client.download_artifacts, run_id, "metrics.json", tmp))
            report = json.loads(path.read_text())
    return RunArtifacts(figures, report)


@dataclass(frozen=True)
class Reference:
    """The champion's drift reference: the profile of the data it was trained on."""

    version: str
    profile: dict[str, Any]


def _champion_version(client: Any) -> str | None:
    """The version the champion alias names, or None when the model is registered without one."""
    from mlflow.exceptions import MlflowException

    try:
        return str(registered_model_version(client, CHAMPION_URI).version)
    except MlflowException as exc:
        if exc.error_code == "INVALID_PARAMETER_VALUE":  # MLflow's answer to an alias it does not know
            return None
        raise  # no such model (RESOURCE_DOES_NOT_EXIST: _call says no_model) or a registry error


@st.cache_data(ttl=MODEL_TTL_SECONDS, show_spinner=False)
def champion_profile(uri: str) -> Reference | None:
    """The champion's ``profile.json`` (saved inside its model files), or None without a champion."""
    import mlflow
    import yaml

    from data_science.model_bundle import PROFILE_FILE
    from data_science.tracking import BUNDLE_ARTIFACT

    _check_store(uri)
    client = _client(uri)
    version = _call(_champion_version, client)
    if version is None:
        return None
    location = _call(client.get_model_version_download_uri, MODEL_NAME, str(version))
    with tempfile.TemporaryDirectory(prefix="dashboard-profile-") as tmp:
        # Two small files, not the whole model: where the bundle sits, then its profile.
        mlmodel = _call(mlflow.artifacts.download_artifacts, artifact_uri=f"{location}/MLmodel", dst_path=tmp)
        flavor = yaml.safe_load(Path(mlmodel).read_text())["flavors"]["python_function"]
        bundle = flavor["artifacts"][BUNDLE_ARTIFACT]["path"]
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location}/{bundle}/{PROFILE_FILE}", dst_path=tmp
            )
        except Exception as exc:
            raise ModelUnavailable(
                "no_model",
                f"champion version {version} has no {PROFILE_FILE} (trained before drift profiles)",
            ) from exc
        return Reference(str(version), json.loads(Path(path).read_text()))


def current_tracking_uri() -> str:
    return tracking_uri()


_warm = threading.Lock()


def warm_up() -> None:
    """Import mlflow in a background thread, once: the Model page is then quick on first visit."""
    if not _warm.acquire(blocking=False):
        return

    def load() -> None:
        import mlflow  # noqa: F401 - the import is the work

    threading.Thread(target=load, name="mlflow-warm-up", daemon=True).start()
