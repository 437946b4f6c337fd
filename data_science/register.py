"""``./cli.sh register``: log the evaluated model to MLflow, register it, and decide who is champion.

The pipeline's step after ``dvc repro`` (``./cli.sh dvc-init-pipeline``, the Airflow DAG's
``register`` task): the DVC stages only compute, so outputs DVC restored from its cache are
registered like fresh ones. Idempotent: a model version carries the fingerprint of the files it
was registered from (the model bundle and ``reports/metrics.json``), and a bundle this registry
already holds is not registered again, nor does any alias move.

The registered model is a pyfunc that runs outside this repository: it carries the modules it
imports (``code_paths``), pinned requirements, a signature and an input example generated from
the column spec, and the drift reference (``profile.json``, inside the model's files).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from data_engineering.src.environment import library_defaults
from data_engineering.src.files.writing import read_processed
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.paths import (
    FIGURES_DIR,
    METRICS_FILE,
    MODEL_DIR,
    OOF_FILE,
    PARAMS_FILE,
    PLOTS_DIR,
    REPO_ROOT,
    processed_file,
)
from data_science.backtest.reports import read_oof
from data_science.champion_gate import gate
from data_science.load_check import PromotionRefusedError, promotion_refusal
from data_science.model import CancellationModel
from data_science.model_bundle import VOCABULARY_NAME
from data_science.model_signature import input_example, input_signature, requirements
from data_science.tracking import (
    BUNDLE_ARTIFACT,
    MODEL_ARTIFACT,
    MODEL_NAME,
    configure,
    ensure_experiment,
)

if TYPE_CHECKING:
    pass

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


FINGERPRINT_TAG = "bundle_sha256"


def fingerprint(files: tuple[Path, ...] = (MODEL_DIR, METRICS_FILE)) -> str:
    """sha256 over the files a registration uploads (their paths under each root, and bytes): the
    same model and report give the same fingerprint, whether trained now or restored by DVC."""
    digest = hashlib.sha256()
    for root in files:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                digest.update(f"{path.relative_to(root.parent)}\0{path.stat().st_size}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def version_holding(bundle: str) -> str | None:
    """The version of this registry holding the bundle with fingerprint ``bundle``, if any."""
    import mlflow

    configure()
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{MODEL_NAME}'")
    held = [v.version for v in versions if v.tags.get(FINGERPRINT_TAG) == bundle]
    return str(min(held, key=int)) if held else None


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return result.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


def log_and_register(
    model: CancellationModel,
    report: dict[str, Any],
    params: dict[str, Any],
    *,
    example: pd.DataFrame,
    frame: pd.DataFrame,
    oof: pd.DataFrame,
    commit: str,
    fingerprint: str,
) -> str:
    """One MLflow run with the model, its reports and the gate's comparison; returns the outcome."""
    import mlflow

    from data_science.pyfunc import HotelCancellationPyfunc, code_bundle

    # MLflow would copy this project's uv.lock into the model: its environment is the model's
    # requirements.txt, not the whole platform's.
    library_defaults(MLFLOW_LOG_UV_FILES="false")
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
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(MODEL_NAME, decision.alias, new_version)
        # Last: a version whose registration stopped half-way is not one to skip next time.
        client.set_model_version_tag(MODEL_NAME, new_version, FINGERPRINT_TAG, fingerprint)
    return f"run {run.info.run_id}: registered {MODEL_NAME} version {new_version} as {decision.text}"


def main() -> int:
    if not METRICS_FILE.exists():
        print(
            "register: no reports/metrics.json: run the pipeline first (./cli.sh dvc-repro)", file=sys.stderr
        )
        return 1
    bundle = fingerprint()
    held = version_holding(bundle)
    if held is not None:
        print(
            f"register: {MODEL_NAME} version {held} is this model already: nothing registered, no alias moved"
        )
        return 0
    version = read_section("transform", TransformParams).version
    model = CancellationModel.load(MODEL_DIR)
    frame = read_processed(version, processed_file(version))
    try:
        outcome = log_and_register(
            model,
            json.loads(METRICS_FILE.read_text()),
            yaml.safe_load(PARAMS_FILE.read_text()),
            example=input_example(frame, later_days=model.answers_as_of),
            frame=frame,
            oof=read_oof(OOF_FILE),
            commit=git_commit(),
            fingerprint=bundle,
        )
    except PromotionRefusedError as exc:  # the run is marked failed and its tags say why
        print(f"register: error: {exc}", file=sys.stderr)
        return 1
    print(f"register: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
