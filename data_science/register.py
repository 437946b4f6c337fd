"""Log an evaluated model to MLflow, register it, and decide who is champion.

The registered model is a pyfunc that runs outside this repository: it carries the modules it
imports (``code_paths``), pinned requirements, a signature and an input example generated from
the column spec, and the drift reference (``profile.json``, inside the model's files).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from data_engineering.src.paths import FIGURES_DIR, METRICS_FILE, MODEL_DIR, PLOTS_DIR
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME, TARGET
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY
from data_science.load_check import promotion_refusal
from data_science.model import VOCABULARY_NAME, CancellationModel, ModelBundleError
from data_science.tracking import (
    BUNDLE_ARTIFACT,
    CHALLENGER,
    CHAMPION,
    MODEL_ARTIFACT,
    MODEL_NAME,
    ModelLoadError,
    NoModelError,
    ensure_experiment,
    resolve,
)

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

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


def input_signature() -> ModelSignature:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec] = [
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
    basis: str = ""  # which comparison decided
    champion_version: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    rows: int = 0


MIN_NEW_ROWS = 200  # fewer new bookings than this say too little to decide on


def _champion_report(run_id: str | None) -> dict[str, Any] | None:
    import mlflow

    if not run_id:
        return None
    with tempfile.TemporaryDirectory(prefix="champion-report-") as tmp:
        try:
            path = mlflow.MlflowClient().download_artifacts(run_id, "metrics.json", tmp)
        except Exception:
            return None
        report: dict[str, Any] = json.loads(Path(path).read_text())
        return report


def _same_folds(report: dict[str, Any], other: dict[str, Any] | None) -> bool:
    if not other or "backtest" not in other:
        return False
    windows = [(f["start"], f["end"]) for f in report["backtest"]["folds"]]
    theirs = [(f["start"], f["end"]) for f in other["backtest"]["folds"]]
    return windows == theirs and report.get("data_version") == other.get("data_version")


def gate(report: dict[str, Any], frame: pd.DataFrame, oof: pd.DataFrame, new_version: str) -> Gate:
    """Does the new model (the challenger) replace the champion? Decided on data neither was fitted on.

    1. Same data and the same folds as the champion's run: compare the two pipelines' backtests
       (each fold model was fitted on arrivals before its window only).
    2. Otherwise, the bookings that arrived after the champion's training cut-off: the champion
       never saw them, and the challenger's backtest scored them with fold models fitted before
       their window. Both are scored there by ROC AUC.
    3. Neither possible (no overlap, too few new bookings): the recorded backtest means, said so.
    The challenger wins on a strictly higher score. A champion trained with another vocabulary
    (other hotels, other room codes) cannot score these bookings at all: the challenger replaces it.
    """
    from sklearn.metrics import roc_auc_score

    try:
        champion = resolve(f"models:/{MODEL_NAME}@{CHAMPION}")
        if champion.version == new_version:
            return Gate(CHAMPION, f"{CHAMPION} (already)", "same version")
        old = CancellationModel.load(champion.local_dir, check_vocabulary=False)
    except (ModelLoadError, ModelBundleError) as exc:  # a champion nobody can load: anything loadable wins
        return Gate(
            CHAMPION, f"{CHAMPION} (the current champion cannot be loaded: {exc})", "champion unloadable"
        )
    except NoModelError:
        return Gate(CHAMPION, f"{CHAMPION} (first registered model)", "first model")
    mine = float(report["backtest"]["roc_auc_mean"])
    theirs_report = _champion_report(champion.run_id)
    differences = old.vocabulary_differences()
    if differences:
        text = (
            f"{CHAMPION} (version {champion.version} was trained with another vocabulary, "
            f"{', '.join(differences)} differ: it cannot score these bookings)"
        )
        return Gate(CHAMPION, text, "other vocabulary", str(champion.version))
    cutoff = old.metadata.get("window", {}).get("cutoff")
    if theirs_report is not None and _same_folds(report, theirs_report):
        basis, theirs, rows = (
            "backtest on the same folds",
            float(theirs_report["backtest"]["roc_auc_mean"]),
            0,
        )
    else:
        new_rows = (
            oof[pd.to_datetime(oof["arrival_date"]) >= pd.Timestamp(cutoff)] if cutoff else oof.iloc[:0]
        )
        if len(new_rows) >= MIN_NEW_ROWS and new_rows[TARGET].nunique() == 2:
            bookings = frame.set_index("booking_id").loc[new_rows["booking_id"]].reset_index()
            theirs = float(roc_auc_score(new_rows[TARGET], old.predict(bookings).probability))
            mine = float(roc_auc_score(new_rows[TARGET], new_rows["probability"]))
            basis, rows = f"bookings arriving on or after the champion's cut-off {cutoff}", len(new_rows)
        else:
            recorded = (theirs_report or {}).get("backtest", {}).get("roc_auc_mean")
            theirs = float(recorded) if recorded is not None else float("-inf")
            basis, rows = "recorded backtest means (different folds, no new bookings to compare on)", 0
    alias = CHAMPION if mine > theirs else CHALLENGER
    verdict = "beats" if alias == CHAMPION else "does not beat"
    text = f"{alias} (ROC AUC {mine:.4f} {verdict} version {champion.version}'s {theirs:.4f}; {basis})"
    return Gate(alias, text, basis, str(champion.version), mine, theirs, rows)


def log_and_register(
    model: CancellationModel,
    report: dict[str, Any],
    params: dict[str, Any],
    *,
    example: pd.DataFrame,
    frame: pd.DataFrame,
    oof: pd.DataFrame,
    commit: str,
) -> str:
    """One MLflow run with the model, its reports and the gate's comparison; returns the outcome."""
    import mlflow

    from data_science.pyfunc import HotelCancellationPyfunc, code_bundle

    # MLflow would copy this project's uv.lock into the model: its environment is the model's
    # requirements.txt, not the whole platform's.
    os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
    experiment_id = ensure_experiment()
    backtest, window = report["backtest"], report["training_window"]
    run_name = f"xgboost-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
        tempfile.TemporaryDirectory(prefix="pyfunc-code-") as code,
    ):
        mlflow.log_params(
            _flatten("", {k: params.get(k) for k in ("backtest", "train")})
            | {"transformation": model.transformation, "n_trees": model.metadata.get("n_trees")}
        )
        # The headline: the backtest means, "expected performance on future bookings".
        metrics = {f"backtest_{k}": v for k, v in backtest.items() if k.endswith("_mean")}
        metrics["threshold"] = model.threshold
        for name, values in report["baselines"].items():
            metrics |= {f"baseline_{name}_{k}": v for k, v in values.items() if k.endswith("_mean")}
        mlflow.log_metrics(metrics)
        for step, fold in enumerate(backtest["folds"], start=1):
            mlflow.log_metrics(
                {f"fold_{k}": fold[k] for k in ("roc_auc", "pr_auc", "brier", "log_loss", "f1")}, step=step
            )
        mlflow.set_tags(
            {
                "git_commit": commit,
                "data_version": report.get("data_version", "unknown"),
                "train_start": window["train_start"],
                "train_end": window["train_end"],
                "cutoff": window["cutoff"],
                "backtest_windows": ", ".join(f"{f['start']}..{f['end']}" for f in backtest["folds"]),
                "algorithm": report["model"],
                # Which categories it knows: the file and its hash (the values: the model's vocabulary.yaml).
                "vocabulary": model.metadata.get("vocabulary", {}).get("file", "the public dataset's"),
                "vocabulary_sha256": model.metadata.get("vocabulary", {}).get("sha256", "unknown"),
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
            code_paths=code_bundle(Path(code), MODEL_DIR / VOCABULARY_NAME),
            signature=input_signature(),
            input_example=example,
            registered_model_name=MODEL_NAME,
            # Pinned explicitly: inferring requirements would re-import the model in a subprocess.
            pip_requirements=requirements(),
        )
        new_version = str(info.registered_model_version)
        refusal = promotion_refusal(new_version)
        if refusal is not None:
            raise refusal
        decision = gate(report, frame, oof, new_version)
        if decision.champion_score is not None and decision.challenger_score is not None:
            mlflow.log_metrics(
                {
                    "gate_challenger_roc_auc": decision.challenger_score,
                    "gate_champion_roc_auc": decision.champion_score,
                }
            )
        mlflow.set_tags(
            {"alias_decision": decision.text, "gate_basis": decision.basis, "gate_rows": str(decision.rows)}
        )
        mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, decision.alias, new_version)
    return f"run {run.info.run_id}: registered {MODEL_NAME} version {new_version} as {decision.text}"
