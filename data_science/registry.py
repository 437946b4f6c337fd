"""Log an evaluated model to MLflow, register it, and decide who is champion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from importlib.metadata import version as package_version
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from sklearn.metrics import roc_auc_score

from data_engineering.src.schema import COLUMNS_BY_NAME, TARGET
from data_engineering.transformation.v1 import NO_ID
from data_science.model import CancellationModel
from data_science.pyfunc import HotelCancellationPyfunc
from data_science.tracking import (
    BUNDLE_ARTIFACT,
    CHALLENGER,
    CHAMPION,
    MODEL_ARTIFACT,
    MODEL_NAME,
    NoModelError,
    ensure_experiment,
    resolve,
)
from data_science.train import MODEL_DIR

_MLFLOW_TYPES = {"int": "long", "float": "double", "category": "string", "text": "string", "date": "string"}


def _mlflow_type(field: str) -> str:
    column = COLUMNS_BY_NAME[field]
    # An integer column that may be missing arrives as float64 in pandas (MLflow's own advice).
    return "double" if column.kind == "int" and column.nullable else _MLFLOW_TYPES[column.kind]


def input_signature(fields: Sequence[str]) -> ModelSignature:
    columns = [ColSpec(_mlflow_type(f), f, required=not COLUMNS_BY_NAME[f].nullable) for f in fields]
    return ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec("double", "cancel_probability")]))


def input_example(valid_df: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """A few bookings as a hotel system would send them (ids missing rather than ``none``)."""
    example = valid_df[list(fields)].head(5).copy()
    for name in ("agent", "company"):
        example[name] = example[name].where(example[name] != NO_ID, None)
    for name in example.columns:
        if _mlflow_type(name) == "double":
            example[name] = example[name].astype("float64")
    return example


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


def _champion_auc(valid_df: pd.DataFrame) -> tuple[str, float] | None:
    """The current champion's ROC AUC re-measured on *this* validation window."""
    try:
        champion = resolve(f"models:/{MODEL_NAME}@{CHAMPION}")
    except NoModelError:
        return None
    model = CancellationModel.load(champion.local_dir)
    p = model.calibrate(model.margin_matrix(model.encoder.encode_frame(valid_df)))
    return str(champion.version), float(roc_auc_score(valid_df[TARGET], p))


def log_and_register(
    model: CancellationModel,
    valid_df: pd.DataFrame,
    report: dict[str, Any],
    params: dict[str, Any],
    *,
    commit: str,
    booking_fields: Sequence[str],
) -> str:
    experiment_id = ensure_experiment()
    window = report["validation_window"]
    run_name = f"xgboost-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params(
            _flatten("", {k: params.get(k) for k in ("split", "train")})
            | {"transformation": model.transformation, "n_trees": model.metadata.get("n_trees")}
        )
        metrics = {f"val_{k}": v for k, v in report.items() if isinstance(v, float)}
        for name, values in report["baselines"].items():
            metrics |= {f"baseline_{name}_{k}": v for k, v in values.items()}
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "git_commit": commit,
                "data_version": report.get("data_version", "unknown"),
                "validation_start": window["validation_start"],
                "validation_end": window["validation_end"],
                "algorithm": report["model"],
            }
        )
        mlflow.log_text("\n".join(model.feature_names) + "\n", "features.txt")
        from data_science.evaluate import FIGURES_DIR, METRICS_FILE, PLOTS_DIR

        mlflow.log_artifacts(str(FIGURES_DIR), "figures")
        mlflow.log_artifacts(str(PLOTS_DIR), "plots")
        mlflow.log_artifact(str(METRICS_FILE))
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=HotelCancellationPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(MODEL_DIR)},
            signature=input_signature(booking_fields),
            input_example=input_example(valid_df, booking_fields),
            registered_model_name=MODEL_NAME,
            # Pinned explicitly: inferring requirements would re-import the model in a subprocess.
            pip_requirements=[
                f"{name}=={package_version(name)}"
                for name in ("mlflow", "xgboost-cpu", "pandas", "numpy", "pandera", "scikit-learn")
            ],
        )
        new_version = str(info.registered_model_version)
        champion = _champion_auc(valid_df)
        client = mlflow.MlflowClient()
        if champion is None:
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, new_version)
            decision = f"{CHAMPION} (first registered model)"
        else:
            champion_version, champion_auc = champion
            mlflow.log_metric("champion_val_roc_auc", champion_auc)
            if report["roc_auc"] > champion_auc:
                client.set_registered_model_alias(MODEL_NAME, CHAMPION, new_version)
                decision = f"{CHAMPION} (ROC AUC {report['roc_auc']:.4f} beats version {champion_version}'s {champion_auc:.4f})"
            else:
                client.set_registered_model_alias(MODEL_NAME, CHALLENGER, new_version)
                decision = (
                    f"{CHALLENGER} (ROC AUC {report['roc_auc']:.4f} does not beat champion version "
                    f"{champion_version}'s {champion_auc:.4f})"
                )
        mlflow.set_tag("alias_decision", decision)
    return f"run {run.info.run_id}: registered {MODEL_NAME} version {new_version} as {decision}"
