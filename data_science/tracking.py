"""MLflow conventions of the platform: where tracking lives, names, and loading a registered model.

Tracking URI: ``MLFLOW_TRACKING_URI``, else the embedded SQLite file ``mlflow.db`` in the workspace
(MLflow 3 deprecates the plain file store). Artifacts of the local store go to ``mlartifacts/``.
``TrackingSettings`` reads it and ``MODEL_URI`` (the platform's settings: ``data_engineering.src.settings``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from data_engineering.src.environment import library_defaults
from data_engineering.src.messages import first_line, masked_uri
from data_engineering.src.paths import (
    MLFLOW_ARTIFACTS_DEFAULT,
    MLFLOW_DB_DEFAULT,
)
from data_engineering.src.settings import HotelSettings

if TYPE_CHECKING:  # MLflow takes ~1.3 s to import: only where a registry is asked
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

EXPERIMENT = "hotel-cancellation"
MODEL_NAME = "hotel-cancellation"
CHAMPION = "champion"
CHALLENGER = "challenger"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
MODEL_ARTIFACT = "model"  # name of the pyfunc inside a run
BUNDLE_ARTIFACT = "cancellation_model"  # the CancellationModel folder inside the pyfunc


class NoModelError(RuntimeError):
    """No usable model at the requested URI: none registered there (this class), or one of the
    reasons below. Every caller that needs a model reports any of them as one line."""


class RegistryUnreachableError(NoModelError):
    """The tracking server does not answer: nothing can be said about which model is registered."""


class ModelLoadError(NoModelError):
    """A version is registered there, but its files cannot be downloaded or loaded."""

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version  # the registry's version that failed, when known


# How long a tracking server may take to answer its health check before it counts as down. MLflow's
# own client retries a refused connection 7 times with back-off (about four minutes) first.
PROBE_SECONDS = 3.0
# MLflow's error codes for "nothing of that name, version or alias" (an alias it does not know is
# an invalid parameter to it): the registry answered, and holds no such model.
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


class TrackingSettings(HotelSettings):
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking and registry: a database URL or a tracking server's http(s) URL",
        json_schema_extra={
            "default_shown": "the workspace's `mlflow.db` (SQLite; artifacts in `mlartifacts/`)"
        },
    )
    model_uri: str = Field(
        CHAMPION_URI,
        validation_alias="MODEL_URI",
        description="the model `serve-api`, `predict-batch` and `score-db` use (any MLflow model URI of "
        "this project's pyfunc; `--model-uri` overrides it)",
    )

    def resolved_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{MLFLOW_DB_DEFAULT}"


def tracking_uri() -> str:
    return TrackingSettings().resolved_tracking_uri()


def default_model_uri() -> str:
    return TrackingSettings().model_uri


def configure() -> None:
    # MLflow draws a progress bar per download: in a log it is carriage-return noise.
    library_defaults(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    import mlflow

    # Both: MLflow reads the registry from MLFLOW_REGISTRY_URI when set (and sets it in this
    # process's environment), so a registry elsewhere than the runs would split the two.
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())


def open_store() -> None:
    """Open the tracking store once in this process. A database store (SQLite, PostgreSQL) creates
    or migrates its schema when first opened; several servers starting at once on a new store would
    each run MLflow's migrations and all but one fail (``alembic_version``: 0 rows found). A server
    store migrates itself: nothing to do."""
    import mlflow

    if tracking_uri().startswith(("http://", "https://")):
        return
    configure()
    mlflow.MlflowClient().search_registered_models(max_results=1)


def ensure_experiment() -> str:
    """The experiment's id; created with its artifacts in ``mlartifacts/`` for the local store."""
    import mlflow

    configure()
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if tracking_uri().startswith("sqlite:"):
        MLFLOW_ARTIFACTS_DEFAULT.mkdir(parents=True, exist_ok=True)
        location = MLFLOW_ARTIFACTS_DEFAULT.as_uri()
    return mlflow.create_experiment(EXPERIMENT, artifact_location=location)


@dataclass(frozen=True)
class ResolvedModel:
    uri: str
    name: str | None
    version: str | None
    aliases: tuple[str, ...]
    run_id: str | None
    local_dir: Path  # the CancellationModel folder, downloaded
    metrics: dict[str, float]
    # When the run that logged it started (UTC, ISO): the bundle itself holds no timestamp, so
    # that a rerun on the same data reproduces it byte for byte (data_science/artifacts.py).
    trained_at: str | None = None
    model_dir: Path | None = None  # the MLflow model folder around it (MLmodel, input example)

    @property
    def label(self) -> str:
        """How messages name it: "champion version 2", "version 3", or the URI."""
        return model_label(self.uri, self.version)


def model_label(uri: str, version: str | None) -> str:
    alias = uri.split("@", 1)[1] if uri.startswith("models:/") and "@" in uri else None
    if version is None:
        return uri
    return f"{alias} version {version}" if alias else f"version {version}"


def _text(version: object) -> str | None:
    return None if version is None else str(version)


def check_reachable() -> None:
    """Raise RegistryUnreachableError at once when the tracking URI is a server that does not answer.

    Only a server (http/https) can be down; a database URL is opened by MLflow itself. Any HTTP
    answer counts as up (a proxy may ask for credentials): only a refused or timed-out connection
    is "down".
    """
    import requests

    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS)
    except requests.RequestException as exc:
        raise RegistryUnreachableError(
            f"the MLflow tracking server {masked_uri(uri)} does not answer ({_reason(exc)}): start it "
            "(./cli.sh start-mlflow-ui, or the stack's mlflow service) or point MLFLOW_TRACKING_URI at "
            "one that runs"
        ) from None


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without its URL (which may hold a login)."""
    import requests

    if isinstance(exc, requests.Timeout):
        return f"no answer within {PROBE_SECONDS:g} s"
    text = first_line(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host"):
        if known in text:
            return known.lower()
    return type(exc).__name__


def registered_model_version(client: MlflowClient, uri: str) -> ModelVersion:
    """The version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI names in the registry
    now: every lookup of an alias (the champion's above all) goes through here.

    Raises MLflow's own exception when the registry holds no such name, alias or version.
    """
    ref = uri.removeprefix("models:/")
    name, has_alias, alias = ref.partition("@")
    if has_alias:
        return client.get_model_version_by_alias(name, alias)
    name, number = ref.split("/", 1)
    return client.get_model_version(name, number)


def registered_version(uri: str) -> str | None:
    """The version a model URI names now (None for a URI outside the registry).

    A pinned ``models:/NAME/VERSION`` names itself without a query; an alias is one query. Raises
    RegistryUnreachableError within seconds when the tracking server does not answer.
    """
    if not uri.startswith("models:/"):
        return None
    import mlflow

    configure()
    check_reachable()
    ref = uri.removeprefix("models:/")
    if "@" not in ref:
        return ref.split("/", 1)[1]
    return str(registered_model_version(mlflow.MlflowClient(), uri).version)


def resolve(uri: str | None = None, *, dst: Path | None = None) -> ResolvedModel:
    """Resolve ``models:/NAME@ALIAS`` (or any model URI) and download its bundle.

    Raises NoModelError, with what to run, when nothing is registered under that URI;
    RegistryUnreachableError when the tracking server does not answer (within seconds, not after
    MLflow's minutes of retries); ModelLoadError, naming the version ("champion version 2: ..."),
    when what is registered cannot be downloaded or is not this project's model.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    configure()
    uri = uri or default_model_uri()
    check_reachable()
    client = mlflow.MlflowClient()
    name = version = run_id = trained_at = None
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = {}
    try:
        if uri.startswith("models:/"):
            mv = registered_model_version(client, uri)
            name = mv.name
            # MLflow's SQL registry gives the version as an int although it is typed as text.
            version, run_id, aliases = str(mv.version), mv.run_id, tuple(mv.aliases)
            if run_id:
                run = client.get_run(run_id)
                metrics = dict(run.data.metrics)
                started = dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC)
                trained_at = started.isoformat(timespec="seconds")
    except MlflowException as exc:
        if exc.error_code not in NOT_FOUND_CODES:
            raise RegistryUnreachableError(
                f"cannot read the registry at {masked_uri(tracking_uri())}: {first_line(exc)}"
            ) from exc
        raise NoModelError(
            f"no model found at {uri} (tracking: {masked_uri(tracking_uri())}): {first_line(exc)}. "
            "Run ./cli.sh dvc-init-pipeline to train and register one."
        ) from exc
    label = model_label(uri, _text(version))
    from mlflow.models import Model

    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None)
        flavor = Model.load(local).flavors.get("python_function", {})
    except (MlflowException, OSError) as exc:
        raise ModelLoadError(f"{label}: {first_line(exc)}", _text(version)) from exc
    relative = flavor.get("artifacts", {}).get(BUNDLE_ARTIFACT, {}).get("path")
    if not relative or not (Path(local) / relative).is_dir():
        raise ModelLoadError(
            f"{label}: not a hotel-cancellation model (no {BUNDLE_ARTIFACT} artifact)", _text(version)
        )
    bundle = Path(local) / relative
    return ResolvedModel(uri, name, version, aliases, run_id, bundle, metrics, trained_at, Path(local))


def describe(resolved: ResolvedModel) -> dict[str, Any]:
    return {
        "uri": resolved.uri,
        "name": resolved.name,
        "version": resolved.version,
        "aliases": list(resolved.aliases),
        "run_id": resolved.run_id,
    }
