"""Log an evaluated model to MLflow, register it, and decide who is champion.

The registered model is a pyfunc that runs outside this repository: it carries the modules it
imports (``code_paths``), pinned requirements, a signature and an input example generated from
the column spec, and the drift reference (``profile.json``, inside the model's files).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import pandas as pd

from data_engineering.src.paths import FIGURES_DIR, METRICS_FILE, MODEL_DIR, PLOTS_DIR
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY
from data_science.model import CancellationModel
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

NUMERIC_KINDS = ("int", "float", "id")


def signature_columns() -> list[tuple[str, str, bool]]:
    """(field, MLflow type, required) of every booking field: the API's contract too.

    Numbers and ids are ``Any``: like the API and ``predict-batch``, the model takes 9, 9.0 or
    "9.0" and its own validator says what it refuses and why; text fields are strings.
    """
    return [
        (
            name,
            "any" if COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS else "string",
            not COLUMNS_BY_NAME[name].nullable,
        )
        for name in BOOKING_FIELDS
    ]


def input_signature():
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    columns = [
        ColSpec(AnyType() if kind == "any" else kind, name, required=required)
        for name, kind, required in signature_columns()
    ]
    return ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec("double", "cancel_probability")]))


def input_example(frame: pd.DataFrame) -> pd.DataFrame:
    """A few bookings as a hotel system sends them: the cleaned placeholders back to missing."""
    example = frame[list(BOOKING_FIELDS)].head(5).astype(object)
    for name in ("agent", "company"):
        example[name] = example[name].where(example[name] != NO_ID, None)
    example["country"] = example["country"].where(example["country"] != UNKNOWN_COUNTRY, None)
    return example


def requirements() -> list[str]:
    from data_science.pyfunc import REQUIREMENTS

    return [f"{name}=={package_version(name)}" for name in REQUIREMENTS]


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


@dataclass(frozen=True)
class Gate:
    """The champion/challenger decision and what it was based on."""

    alias: str
    text: str
    champion_version: str | None = None
    champion_score: float | None = None


def _gate(score: float, compare: Any, new_version: str) -> Gate:
    """Champion if no champion yet or if the new model scores higher on the same bookings."""
    from sklearn.metrics import roc_auc_score

    try:
        champion = resolve(f"models:/{MODEL_NAME}@{CHAMPION}")
    except NoModelError:
        return Gate(CHAMPION, f"{CHAMPION} (first registered model)")
    if champion.version == new_version:
        return Gate(CHAMPION, f"{CHAMPION} (already)")
    frame, target = compare
    old = CancellationModel.load(champion.local_dir)
    old_score = float(roc_auc_score(target, old.predict(frame).probability))
    if score > old_score:
        text = f"{CHAMPION} (ROC AUC {score:.4f} beats version {champion.version}'s {old_score:.4f})"
        return Gate(CHAMPION, text, str(champion.version), old_score)
    text = f"{CHALLENGER} (ROC AUC {score:.4f} does not beat champion version {champion.version}'s {old_score:.4f})"
    return Gate(CHALLENGER, text, str(champion.version), old_score)


def log_and_register(
    model: CancellationModel,
    report: dict[str, Any],
    params: dict[str, Any],
    *,
    example: pd.DataFrame,
    compare: tuple[pd.DataFrame, Sequence[int]],
    commit: str,
) -> str:
    """One MLflow run with the model, its reports and the gate's comparison; returns the outcome."""
    import mlflow

    from data_science.pyfunc import HotelCancellationPyfunc, code_bundle

    # MLflow would copy this project's uv.lock into the model: its environment is the model's
    # requirements.txt, not the whole platform's.
    os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")

    experiment_id = ensure_experiment()
    window = report["validation_window"]
    run_name = f"xgboost-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
        tempfile.TemporaryDirectory(prefix="pyfunc-code-") as code,
    ):
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
        mlflow.log_artifacts(str(FIGURES_DIR), "figures")
        mlflow.log_artifacts(str(PLOTS_DIR), "plots")
        mlflow.log_artifact(str(METRICS_FILE))
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=HotelCancellationPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(MODEL_DIR)},
            code_paths=code_bundle(Path(code)),
            signature=input_signature(),
            input_example=example,
            registered_model_name=MODEL_NAME,
            # Pinned explicitly: inferring requirements would re-import the model in a subprocess.
            pip_requirements=requirements(),
        )
        new_version = str(info.registered_model_version)
        gate = _gate(float(report["roc_auc"]), compare, new_version)
        if gate.champion_score is not None:
            mlflow.log_metric("champion_val_roc_auc", gate.champion_score)
        mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, gate.alias, new_version)
        mlflow.set_tag("alias_decision", gate.text)
    return f"run {run.info.run_id}: registered {MODEL_NAME} version {new_version} as {gate.text}"
