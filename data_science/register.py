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

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from data_engineering.src.paths import FIGURES_DIR, METRICS_FILE, MODEL_DIR, PLOTS_DIR
from data_engineering.src.schema import (
    AS_OF,
    BOOKING_FIELDS,
    BOOKING_ID,
    COLUMNS_BY_NAME,
    SCORING_FIELDS,
    TARGET,
)
from data_engineering.transformation import get_transformation
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY
from data_science.backtest.params import CREATION, ON_THE_BOOKS
from data_science.load_check import promotion_refusal
from data_science.model import VOCABULARY_NAME, CancellationModel, ModelBundleError
from data_science.nightly import forecast
from data_science.quality import nightly_accuracy
from data_science.snapshots import as_of
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
# Logged per backtest fold (MLflow step = fold): both questions, and the estimate made before outcomes.
FOLD_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "f1",
    "estimated_roc_auc",
    "roc_auc_on_the_books",
    "estimated_roc_auc_on_the_books",
    "calibration_in_the_large",
    "calibration_in_the_large_on_the_books",
    "nightly_wape",
    "nightly_bias",
)


def signature_columns() -> list[tuple[str, str, bool]]:
    """(field, MLflow type, required) of every field a booking may be scored with: the API's
    contract too — the booking fields, the hotel's ``booking_id`` and the ``as_of`` day.

    Numbers and ids are ``Any``: like the API and ``predict-batch``, the model takes 9, 9.0 or
    "9.0" and its own validator says what it refuses and why; text fields (and the date) are strings.
    """
    return [
        (
            name,
            "any" if COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS else "string",
            not COLUMNS_BY_NAME[name].nullable,
        )
        for name in SCORING_FIELDS
    ]


def input_signature() -> ModelSignature:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec] = [
        ColSpec(AnyType() if kind == "any" else kind, name, required=required)
        for name, kind, required in signature_columns()
    ]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", BOOKING_ID, required=False),
        ColSpec("string", AS_OF),
        ColSpec("double", "cancel_probability"),
        ColSpec("boolean", "will_cancel"),
    ]
    return ModelSignature(inputs=Schema(columns), outputs=Schema(outputs))


def input_example(frame: pd.DataFrame, *, later_days: bool = True) -> pd.DataFrame:
    """A few bookings as a hotel system sends them: the cleaned placeholders back to missing, a
    reservation id, and (``later_days``: for a model that judges bookings as of any day) all but
    the first judged as of the day after their booking date."""
    example = frame[list(BOOKING_FIELDS)].head(5).astype(object)
    for name in ("agent", "company"):
        example[name] = example[name].where(example[name] != NO_ID, None)
    example["country"] = example["country"].where(example["country"] != UNKNOWN_COUNTRY, None)
    example.insert(0, BOOKING_ID, [f"EXAMPLE-{k + 1}" for k in range(len(example))])
    booked, arrival = (
        pd.to_datetime(frame["booking_date"].head(5)),
        pd.to_datetime(frame["arrival_date"].head(5)),
    )
    later = (booked + pd.Timedelta(days=1)).where(
        later_days & (arrival - booked > pd.Timedelta(days=1)), booked
    )
    example[AS_OF] = [None, *(str(day.date()) for day in later.iloc[1:])] if len(example) else []
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
    challenger_score: float | None = None  # ROC AUC at booking
    champion_score: float | None = None
    rows: int = 0
    challenger_wape: float | None = None  # nightly forecast WAPE of the bookings on the books
    champion_wape: float | None = None


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


def _scored_as_of(model: CancellationModel, frame: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """``model``'s probabilities for OOF rows (booking ids and as-of days) of the processed bookings."""
    bookings = frame.set_index("booking_id").loc[rows["booking_id"]].reset_index()
    days = rows["as_of"].to_numpy(dtype="datetime64[D]")
    judged = as_of(bookings, np.arange(len(bookings)), days, get_transformation(model.transformation))
    return model.predict(judged).probability


def _nightly_wape(rows: pd.DataFrame, probability: np.ndarray) -> float:
    """The nightly forecast's WAPE over the folds of ``rows`` (on-the-books OOF rows)."""
    scored = rows.assign(probability=probability)
    nights = [
        forecast(
            part,
            first_night=part["as_of"].iloc[0] + pd.Timedelta(days=1),
            last_night=part["arrival_date"].max(),
            hotels=None,
        )
        for _, part in scored.groupby("fold")
    ]
    return float(nightly_accuracy(pd.concat(nights, ignore_index=True))["wape"])


def _wins(mine: tuple[float, float | None], theirs: tuple[float, float | None]) -> bool:
    """Better at booking (ROC AUC), and no worse a nightly forecast (WAPE) where both have one."""
    if mine[1] is not None and theirs[1] is not None and mine[1] > theirs[1]:
        return False
    return mine[0] > theirs[0]


def gate(report: dict[str, Any], frame: pd.DataFrame, oof: pd.DataFrame, new_version: str) -> Gate:
    """Does the new model (the challenger) replace the champion? Decided on data neither was fitted on.

    Both questions count: ROC AUC at booking must be higher, and the nightly forecast of the
    bookings on the books no worse (WAPE), where the champion has one.

    1. Same data and the same folds as the champion's run: compare the two pipelines' backtests
       (each fold model was fitted on arrivals before its window only).
    2. Otherwise, the bookings after the champion's training cut-off: those arriving after it at
       booking, and those on the books at a backtest cut-off after it, as of that day. The
       champion never saw their outcomes, and the challenger's backtest scored them with fold
       models fitted before their window.
    3. Neither possible (no overlap, too few new bookings): the recorded backtest means, said so.
    A champion trained with another vocabulary (other hotels, other room codes) cannot score these
    bookings at all: the challenger replaces it.
    """
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
    backtest = report["backtest"]
    mine: tuple[float, float | None] = (float(backtest["roc_auc_mean"]), backtest.get("nightly_wape_mean"))
    theirs_report = _champion_report(champion.run_id)
    differences = old.vocabulary_differences()
    if differences:
        text = (
            f"{CHAMPION} (version {champion.version} was trained with another vocabulary, "
            f"{', '.join(differences)} differ: it cannot score these bookings)"
        )
        return Gate(CHAMPION, text, "other vocabulary", str(champion.version))
    cutoff = old.metadata.get("window", {}).get("cutoff")
    rows = 0
    if theirs_report is not None and _same_folds(report, theirs_report):
        recorded = theirs_report["backtest"]
        basis = "backtest on the same folds"
        theirs: tuple[float, float | None] = (
            float(recorded["roc_auc_mean"]),
            recorded.get("nightly_wape_mean"),
        )
    else:
        day = pd.Timestamp(cutoff) if cutoff else None
        booked = oof[oof["population"] == CREATION]
        held = oof[oof["population"] == ON_THE_BOOKS]
        new_rows = booked[booked["arrival_date"] >= day] if day is not None else booked.iloc[:0]
        new_books = held[held["as_of"] >= day - pd.Timedelta(days=1)] if day is not None else held.iloc[:0]
        if len(new_rows) >= MIN_NEW_ROWS and new_rows[TARGET].nunique() == 2:
            y = new_rows[TARGET].to_numpy()
            mine = (float(roc_auc_score(y, new_rows["probability"])), None)
            theirs = (float(roc_auc_score(y, _scored_as_of(old, frame, new_rows))), None)
            if len(new_books) >= MIN_NEW_ROWS:
                mine = (mine[0], _nightly_wape(new_books, new_books["probability"].to_numpy()))
                theirs = (theirs[0], _nightly_wape(new_books, _scored_as_of(old, frame, new_books)))
            basis, rows = f"bookings after the champion's cut-off {cutoff}", len(new_rows) + len(new_books)
        else:
            recorded = (theirs_report or {}).get("backtest", {})
            theirs = (float(recorded.get("roc_auc_mean", float("-inf"))), recorded.get("nightly_wape_mean"))
            basis = "recorded backtest means (different folds, no new bookings to compare on)"
    alias = CHAMPION if _wins(mine, theirs) else CHALLENGER
    verdict = "beats" if alias == CHAMPION else "does not beat"
    forecast = (
        f", nightly WAPE {mine[1]:.3f} against {theirs[1]:.3f}"
        if mine[1] is not None and theirs[1] is not None
        else ""
    )
    text = (
        f"{alias} (ROC AUC {mine[0]:.4f} against {theirs[0]:.4f}{forecast}: {verdict} version "
        f"{champion.version}; {basis})"
    )
    return Gate(alias, text, basis, str(champion.version), mine[0], theirs[0], rows, mine[1], theirs[1])


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
        # The backtest means; per fold below, the spread a later window can fall in and the label-free
        # estimate beside each realised figure.
        metrics = {f"backtest_{k}": v for k, v in backtest.items() if k.endswith("_mean")}
        metrics["threshold"] = model.threshold
        for name, values in report["baselines"].items():
            metrics |= {f"baseline_{name}_{k}": v for k, v in values.items() if k.endswith("_mean")}
        mlflow.log_metrics(metrics)
        for step, fold in enumerate(backtest["folds"], start=1):
            mlflow.log_metrics(
                {f"fold_{k}": fold[k] for k in FOLD_METRICS if fold.get(k) is not None}, step=step
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
        gate_metrics = {
            "gate_challenger_roc_auc": decision.challenger_score,
            "gate_champion_roc_auc": decision.champion_score,
            "gate_challenger_nightly_wape": decision.challenger_wape,
            "gate_champion_nightly_wape": decision.champion_wape,
        }
        mlflow.log_metrics({k: v for k, v in gate_metrics.items() if v is not None})
        mlflow.set_tags(
            {"alias_decision": decision.text, "gate_basis": decision.basis, "gate_rows": str(decision.rows)}
        )
        mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, decision.alias, new_version)
    return f"run {run.info.run_id}: registered {MODEL_NAME} version {new_version} as {decision.text}"
