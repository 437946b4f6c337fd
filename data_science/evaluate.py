"""Stage ``evaluate``: measure the trained model on the validation window, track and register it.

Writes ``reports/metrics.json`` (DVC metrics), plot data under ``reports/plots/`` (for
``dvc plots``) and the same plots as PNGs under ``reports/figures/`` (for the README and MLflow).
Then logs one MLflow run (params, metrics, plots, feature list, data version, git commit) with the
model as a pyfunc that takes raw booking fields, registers it as ``hotel-cancellation`` and moves
the ``champion`` alias to it only if it beats the current champion's ROC AUC on the same window;
otherwise the new version becomes ``challenger``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import matplotlib as mpl
import numpy as np
import pandas as pd
import yaml
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.io import read_processed
from data_engineering.src.params import read_section
from data_engineering.src.paths import (
    BASELINES_FILE,
    FIGURES_DIR,
    METRICS_FILE,
    MODEL_DIR,
    PARAMS_FILE,
    PLOTS_DIR,
    REPO_ROOT,
    processed_file,
)
from data_engineering.src.schema import TARGET
from data_science.model import CancellationModel
from data_science.tracking import data_version
from data_science.train import SplitParams, time_split

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    decision = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
        "f1": float(f1_score(y, decision)),
        "precision": float(precision_score(y, decision, zero_division=0)),
        "recall": float(recall_score(y, decision)),
        "accuracy": float(accuracy_score(y, decision)),
    }


def _write_csv(frame: pd.DataFrame, name: str) -> None:
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    frame.to_csv(PLOTS_DIR / name, index=False, float_format="%.6g")


def write_plots(y: np.ndarray, p: np.ndarray, model: CancellationModel, metrics: dict) -> list[Path]:
    """Plot data for dvc plots, and the same five plots as PNGs."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    decision = (p >= model.threshold).astype(int)
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    gain = model.booster.get_score(importance_type="total_gain")
    importance = (
        pd.DataFrame({"feature": model.feature_names})
        .assign(gain=lambda d: d["feature"].map(gain).fillna(0.0))
        .assign(share=lambda d: d["gain"] / d["gain"].sum())
        .sort_values("share", ascending=False)
    )
    _write_csv(pd.DataFrame({"fpr": fpr, "tpr": tpr}), "roc.csv")
    _write_csv(pd.DataFrame({"recall": recall, "precision": precision}), "precision_recall.csv")
    _write_csv(
        pd.DataFrame({"mean_predicted": prob_pred, "fraction_cancelled": prob_true}), "calibration.csv"
    )
    _write_csv(pd.DataFrame({"actual": y, "predicted": decision}), "confusion.csv")
    _write_csv(importance[["feature", "share"]], "feature_importance.csv")
    curves = {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall}
    calibration = {"prob_true": prob_true, "prob_pred": prob_pred}
    return _draw_figures(y, decision, curves, calibration, importance, model, metrics)


def _draw_figures(  # noqa: PLR0917 - one call site, each input a distinct plot ingredient
    y: np.ndarray,
    decision: np.ndarray,
    curves: dict[str, np.ndarray],
    calibration: dict[str, np.ndarray],
    importance: pd.DataFrame,
    model: CancellationModel,
    metrics: dict,
) -> list[Path]:
    fpr, tpr, precision, recall = curves["fpr"], curves["tpr"], curves["precision"], curves["recall"]
    prob_true, prob_pred = calibration["prob_true"], calibration["prob_pred"]
    paths = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = FIGURES_DIR / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(5, 4.5))
    matrix = confusion_matrix(y, decision)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{count:,}",
            ha="center",
            va="center",
            color="white" if count > matrix.max() / 2 else "black",
        )
    ax.set_xticks([0, 1], ["stays", "cancels"])
    ax.set_yticks([0, 1], ["stayed", "cancelled"])
    ax.set_xlabel(f"predicted (threshold {model.threshold:.2f})")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix, validation window")
    save(fig, "confusion_matrix.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(fpr, tpr, label=f"XGBoost (AUC {metrics['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve, validation window")
    ax.legend(loc="lower right")
    save(fig, "roc_curve.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision, label=f"XGBoost (AP {metrics['pr_auc']:.3f})")
    ax.axhline(y.mean(), linestyle="--", color="grey", label=f"cancellation rate {y.mean():.2f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall, validation window")
    ax.legend(loc="lower left")
    save(fig, "precision_recall.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(prob_pred, prob_true, "o-", label=f"model (Brier {metrics['brier']:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.set_xlabel("predicted probability (decile mean)")
    ax.set_ylabel("observed cancellation rate")
    ax.set_title("Calibration, validation window")
    ax.legend(loc="upper left")
    save(fig, "calibration.png")

    top = importance.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["share"])
    ax.set_xlabel("share of total gain")
    ax.set_title("Feature importance (XGBoost gain)")
    save(fig, "feature_importance.png")
    return paths


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


def evaluate(
    frame: pd.DataFrame, split: SplitParams
) -> tuple[CancellationModel, pd.DataFrame, dict[str, Any]]:
    model = CancellationModel.load(MODEL_DIR)
    _, valid_df, _ = time_split(frame, split.validation_months)
    y = valid_df[TARGET].to_numpy()
    p = model.predict(valid_df).probability
    metrics = classification_metrics(y, p, model.threshold)
    baselines = joblib.load(BASELINES_FILE)
    baseline_metrics = {
        name: classification_metrics(y, estimator.predict_proba(valid_df)[:, 1], 0.5)
        for name, estimator in baselines.items()
    }
    report = {
        "model": model.metadata.get("algorithm", "XGBoost"),
        "validation_window": model.metadata["window"],
        "threshold": model.threshold,
        "cancellation_rate": float(y.mean()),
        **metrics,
        "baselines": baseline_metrics,
    }
    write_plots(y, p, model, metrics)
    return model, valid_df, report


def main() -> int:
    split = read_section("split", SplitParams)
    version = read_section("transform", TransformParams).version
    path = processed_file(version)
    frame = read_processed(version, path)
    model, valid_df, report = evaluate(frame, split)
    report["data_version"] = data_version(path)
    METRICS_FILE.parent.mkdir(parents=True, exist_ok=True)
    METRICS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"evaluate: validation ROC AUC {report['roc_auc']:.4f}, PR AUC {report['pr_auc']:.4f}, "
        f"Brier {report['brier']:.4f}, F1 {report['f1']:.4f} at threshold {report['threshold']:.3f} "
        f"(logistic regression baseline ROC AUC {report['baselines']['logistic_regression']['roc_auc']:.4f})"
    )
    from data_science.register import input_example, log_and_register

    params = yaml.safe_load(PARAMS_FILE.read_text())
    outcome = log_and_register(
        model,
        report,
        params,
        example=input_example(valid_df),
        compare=(valid_df, valid_df[TARGET].to_numpy()),
        commit=git_commit(),
    )
    print(f"evaluate: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
