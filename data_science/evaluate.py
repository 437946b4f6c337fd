"""Stage ``evaluate``: report the backtest, beside the baselines.

Every figure here comes from out-of-fold predictions: bookings each fold's model was never
fitted on (``train.py``). Writes ``reports/metrics.json`` (DVC metrics: the ``backtest`` section,
whose ``roc_auc_mean`` is the mean over past windows, beside each window's, and the baselines'),
plot data under ``reports/plots/`` (for ``dvc plots``) and PNGs under ``reports/figures/``. It
only computes: the MLflow run (figures, the model as a self-contained pyfunc, the champion gate's
comparison) is the register step's, after ``dvc repro`` (``register.py``), so a stage DVC
restores from its cache is registered all the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.paths import (
    BACKTEST_FILE,
    BASELINES_FILE,
    DVC_LOCK,
    FIGURES_DIR,
    METRICS_FILE,
    MODEL_DIR,
    OOF_FILE,
    PLOTS_DIR,
    REPO_ROOT,
    WORKSPACE,
    processed_file,
)
from data_engineering.src.schema import TARGET
from data_science.artifacts import save_figure, write_json
from data_science.backtest.params import CREATION, ON_THE_BOOKS
from data_science.backtest.reports import read_oof
from data_science.model import CancellationModel
from data_science.nightly import forecast

if TYPE_CHECKING:
    from matplotlib.figure import Figure

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

FOLD_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "f1", "roc_auc_on_the_books", "nightly_wape")
CAVEATS = (
    (
        "country is often only confirmed at check-in in this dataset (cancelled bookings keep the country "
        "typed at booking time, frequently PRT); required_car_parking_spaces and total_of_special_requests "
        "can be updated up to arrival. Feed the values as known when the booking is made."
    ),
    (
        "The backtest's windows mix bookings made before the fold's training data ended (long lead times) "
        "with bookings made after it: the latter are what a deployed model scores as bookings come in, and "
        "roc_auc_booked_after_cutoff_mean reports them alone (lower: they are the short-notice ones)."
    ),
    "booking_date_index (v3) assumes the newest patterns persist: refit regularly (the weekly retrain).",
    (
        "The hyperparameters in params.yaml were tuned (./cli.sh tune) on arrivals up to 2016-11-30: the "
        "backtest's folds in that range carry some selection optimism (about 0.002 ROC AUC, measured nested); "
        "later folds, and ./cli.sh holdout-check's March-May 2017, never influenced a choice."
    ),
)


def data_version(path: Path) -> str:
    """The DVC hash (md5) that ``dvc.lock`` records for ``path``, or why there is none.

    DVC already hashed the file when its stage ran; a pipeline run outside DVC (or in a workspace
    of its own) has no lock entry, and says so rather than inventing a version.
    """
    import yaml

    if WORKSPACE != REPO_ROOT or not DVC_LOCK.exists():
        return "unknown (not run by dvc repro)"
    relative = path.resolve().relative_to(REPO_ROOT).as_posix()
    stages = (yaml.safe_load(DVC_LOCK.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") == relative and out.get("md5"):
                return str(out["md5"])
    return f"unknown ({relative} is not in dvc.lock)"


def _write_csv(frame: pd.DataFrame, name: str) -> None:
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    frame.to_csv(PLOTS_DIR / name, index=False, float_format="%.6g")


def _save(fig: Figure, name: str) -> Path:
    fig.tight_layout()
    path = save_figure(fig, FIGURES_DIR / name)
    plt.close(fig)
    return path


def backtest_plot(backtest: dict[str, Any], baselines: dict[str, Any]) -> Path:
    """Per-fold metrics of the model and of the strongest baselines (plot data and PNG)."""
    reports = {"model": backtest, **{k: v for k, v in baselines.items() if k != "majority"}}
    table = pd.DataFrame(
        [
            {"model": name, "fold": fold["start"], **{m: fold[m] for m in FOLD_METRICS}}
            for name, report in reports.items()
            for fold in report["folds"]
        ]
    )
    _write_csv(table, "backtest.csv")
    titles = {
        "roc_auc": "ROC AUC at booking",
        "roc_auc_on_the_books": "ROC AUC on the books at the cut-off",
        "nightly_wape": "nightly forecast WAPE (lower is better)",
    }
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (metric, title) in zip(axes, titles.items(), strict=True):
        for name, part in table.groupby("model", sort=False):
            ax.plot(part["fold"], part[metric], "o-", label=name)
        ax.set_title(f"{title}, per fold (window start)", fontsize=10)
        ax.tick_params(axis="x", rotation=30)
    axes[0].axhline(backtest["roc_auc_mean"], linestyle="--", color="grey", label="model mean")
    axes[0].legend(loc="lower left", fontsize=7)
    return _save(fig, "backtest.png")


def nightly_plot(oof: pd.DataFrame, backtest: dict[str, Any]) -> Path:
    """The newest fold's nightly forecast (from the bookings on the books at its cut-off) against
    what happened, per hotel: the figure a revenue manager checks the model by."""
    last = backtest["folds"][-1]
    books = oof[(oof["fold"] == oof["fold"].max()) & (oof["population"] == ON_THE_BOOKS)]
    nights = forecast(
        books, first_night=pd.Timestamp(last["start"]), last_night=pd.Timestamp(last["end"]), hotels=None
    )
    _write_csv(nights, "nightly.csv")
    hotels = sorted(nights["hotel"].unique())
    fig, axes = plt.subplots(len(hotels), 1, figsize=(11, 3.2 * len(hotels)), squeeze=False)
    for ax, hotel in zip(axes[:, 0], hotels, strict=True):
        part = nights[nights["hotel"] == hotel]
        ax.fill_between(
            part["night"],
            part["cancellations_p10"],
            part["cancellations_p90"],
            alpha=0.3,
            label="80% interval",
        )
        ax.plot(part["night"], part["expected_cancellations"], label="expected")
        ax.plot(part["night"], part["realised_cancellations"], ".", color="black", label="realised")
        ax.set_title(
            f"{hotel}: cancellations per night among the bookings on the books on {last['on_the_books_as_of']}",
            fontsize=10,
        )
        ax.set_ylabel("cancelled rooms")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle(
        f"Nightly forecast, backtest (out of fold): WAPE {last['nightly_wape']:.2f}, bias {last['nightly_bias']:+.0%}, "
        f"80% interval held {last['nightly_coverage_80']:.0%} of nights",
        fontsize=11,
    )
    return _save(fig, "nightly.png")


def oof_plots(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> list[Path]:
    """ROC, precision-recall, calibration and confusion of the pooled out-of-fold predictions.

    Each booking at its fold's cross-fitted calibration and threshold (``backtest/``): what
    settings chosen without it did on it.
    """
    decision = (p >= thresholds).astype(int)
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    _write_csv(pd.DataFrame({"fpr": fpr, "tpr": tpr}), "roc.csv")
    _write_csv(pd.DataFrame({"recall": recall, "precision": precision}), "precision_recall.csv")
    _write_csv(
        pd.DataFrame({"mean_predicted": prob_pred, "fraction_cancelled": prob_true}), "calibration.csv"
    )
    _write_csv(pd.DataFrame({"actual": y, "predicted": decision}), "confusion.csv")
    paths = []

    fig, ax = plt.subplots(figsize=(5, 4.5))
    matrix = confusion_matrix(y, decision)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, f"{count:,}", ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], ["stays", "cancels"])
    ax.set_yticks([0, 1], ["stayed", "cancelled"])
    ax.set_xlabel(f"predicted (each fold at its threshold, {thresholds.min():.2f}-{thresholds.max():.2f})")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix, backtest (out of fold)")
    paths.append(_save(fig, "confusion_matrix.png"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(fpr, tpr, label="XGBoost, out of fold")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve, backtest (out of fold)")
    ax.legend(loc="lower right")
    paths.append(_save(fig, "roc_curve.png"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision, label="XGBoost, out of fold")
    ax.axhline(y.mean(), linestyle="--", color="grey", label=f"cancellation rate {y.mean():.2f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall, backtest (out of fold)")
    ax.legend(loc="lower left")
    paths.append(_save(fig, "precision_recall.png"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(prob_pred, prob_true, "o-", label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.set_xlabel("predicted probability (decile mean)")
    ax.set_ylabel("observed cancellation rate")
    ax.set_title("Calibration, backtest (out of fold)")
    ax.legend(loc="upper left")
    paths.append(_save(fig, "calibration.png"))
    return paths


def importance_plot(model: CancellationModel) -> Path:
    gain = model.booster.get_score(importance_type="total_gain")
    importance = (
        pd.DataFrame({"feature": model.feature_names})
        .assign(gain=lambda d: d["feature"].map(gain).fillna(0.0))
        .assign(share=lambda d: d["gain"] / d["gain"].sum())
        .sort_values("share", ascending=False)
    )
    _write_csv(importance[["feature", "share"]], "feature_importance.csv")
    top = importance.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["share"])
    ax.set_xlabel("share of total gain")
    ax.set_title("Feature importance of the champion (XGBoost gain)")
    return _save(fig, "feature_importance.png")


def evaluate(
    model: CancellationModel, backtest: dict[str, Any], baselines: dict[str, Any], oof: pd.DataFrame
) -> dict[str, Any]:
    at_booking = oof[oof["population"] == CREATION]
    y, p = at_booking[TARGET].to_numpy(), at_booking["probability"].to_numpy()
    backtest_plot(backtest, baselines)
    oof_plots(y, p, at_booking["threshold"].to_numpy())
    nightly_plot(oof, backtest)
    importance_plot(model)
    return {
        "model": model.metadata.get("algorithm", "XGBoost"),
        "transformation": model.transformation,
        "features": model.feature_names,
        "training_window": model.metadata["window"],
        "threshold": model.threshold,
        "cancellation_rate": float(y.mean()),
        "backtest": backtest,
        "baselines": baselines,
        "caveats": list(CAVEATS),
    }


def main() -> int:
    version = read_section("transform", TransformParams).version
    path = processed_file(version)
    model = CancellationModel.load(MODEL_DIR)
    backtest = json.loads(BACKTEST_FILE.read_text())
    # Today's creation-time pipeline (the as-of model's at-booking head, on both questions): a baseline.
    head = backtest.pop("at_booking_head", None)
    baselines = json.loads(BASELINES_FILE.read_text())
    if head is not None:
        baselines = {"creation_time_pipeline": head, **baselines}
    oof = read_oof(OOF_FILE)
    report = evaluate(model, backtest, baselines, oof)
    report["data_version"] = data_version(path)
    write_json(METRICS_FILE, report)
    plain = baselines["plain_xgboost"]
    print(
        f"evaluate: backtest mean of {len(backtest['folds'])} later windows: "
        f"ROC AUC {backtest['roc_auc_mean']:.4f}, PR AUC {backtest['pr_auc_mean']:.4f}, Brier "
        f"{backtest['brier_mean']:.4f}, F1 {backtest['f1_mean']:.4f} (each fold at settings chosen on the others); "
        f"plain XGBoost {plain['roc_auc_mean']:.4f} (F1 {plain['f1_mean']:.4f}); the champion's threshold "
        f"{model.threshold:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
