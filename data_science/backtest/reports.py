"""Out-of-fold predictions and the figures each fold reports, at choices made on the other folds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.schema import TARGET
from data_science.backtest.folds import (
    Fold,
    choose_threshold,
)
from data_science.backtest.params import (
    CREATION,
    ON_THE_BOOKS,
    ONE_DAY,
    ThresholdParams,
)
from data_science.nightly import forecast, stays
from data_science.performance_estimate import expected_roc_auc
from data_science.quality import (
    calibration_standard_error,
    classification_metrics,
    nightly_accuracy,
    probability_metrics,
)

OOF_COLUMNS = (
    "booking_id",
    "fold",
    "population",
    "as_of",
    "arrival_date",
    "booking_date",
    TARGET,
    "margin",
    "probability",
    "threshold",
)


def oof_part(
    rows: pd.DataFrame, fold: int, population: str, probability: np.ndarray, margin: np.ndarray | None = None
) -> pd.DataFrame:
    """One fold's predictions of one population, with what the reports and the forecast need."""
    part = pd.DataFrame(
        {
            "booking_id": rows["booking_id"].to_numpy(),
            "fold": fold,
            "population": population,
            "as_of": pd.to_datetime(rows["as_of"]).to_numpy(),
            "arrival_date": pd.to_datetime(rows["arrival_date"]).to_numpy(),
            "booking_date": pd.to_datetime(rows["booking_date"]).to_numpy(),
            TARGET: rows[TARGET].to_numpy(dtype=np.int64),
            "margin": margin if margin is not None else np.full(len(rows), np.nan),
            "probability": probability,
        }
    )
    forecast_input = stays(rows, probability)
    return pd.concat([part, forecast_input.drop(columns=["arrival_date", "probability"])], axis=1)


def read_oof(path: Path) -> pd.DataFrame:
    """OOF predictions written by ``train`` (or ``baselines``), with their types back."""
    return pd.read_csv(
        path,
        dtype={"booking_id": str, "hotel": str, "population": str},
        parse_dates=["as_of", "arrival_date", "booking_date"],
    )


def fold_report(fold: Fold, part: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """A fold's figures: at booking (all, and booked after the cut-off), on the books, nightly."""
    creation = part[part["population"] == CREATION]
    books = part[part["population"] == ON_THE_BOOKS]
    y, p = creation[TARGET].to_numpy(), creation["probability"].to_numpy()
    after = (creation["booking_date"] >= fold.start).to_numpy()
    party = creation["group"].to_numpy()
    late = probability_metrics(y[after], p[after], party[after])
    held = probability_metrics(
        books[TARGET].to_numpy(), books["probability"].to_numpy(), books["group"].to_numpy()
    )
    nights = forecast(books, first_night=fold.start, last_night=fold.stop - ONE_DAY, hotels=None)
    nightly = nightly_accuracy(nights)
    # What the model would have said of itself before any outcome was known (CBPE), beside the truth.
    estimated_auc, estimated_auc_books = (
        expected_roc_auc(p),
        expected_roc_auc(books["probability"].to_numpy()),
    )
    metrics = classification_metrics(y, p, threshold)
    return {
        **fold.window,
        "rows": len(creation),
        **metrics,
        "threshold": threshold,
        "calibration_in_the_large_se": calibration_standard_error(y, p, party),
        "realised_rate": float(y.mean()),
        "estimated_roc_auc": estimated_auc,
        "estimated_cancellation_rate": float(p.mean()),
        "estimate_error_roc_auc": abs(estimated_auc - metrics["roc_auc"]),
        "estimated_roc_auc_on_the_books": estimated_auc_books,
        "estimate_error_roc_auc_on_the_books": abs(estimated_auc_books - held["roc_auc"]),
        "rows_booked_after_cutoff": late["rows"],
        "roc_auc_booked_after_cutoff": late["roc_auc"],
        "brier_booked_after_cutoff": late["brier"],
        "calibration_in_the_large_booked_after_cutoff": late["calibration_in_the_large"],
        "calibration_in_the_large_booked_after_cutoff_se": late["calibration_in_the_large_se"],
        "on_the_books_as_of": str(fold.as_of.date()),
        "rows_on_the_books": held["rows"],
        "roc_auc_on_the_books": held["roc_auc"],
        "brier_on_the_books": held["brier"],
        "calibration_in_the_large_on_the_books": held["calibration_in_the_large"],
        "calibration_in_the_large_on_the_books_se": held["calibration_in_the_large_se"],
        "realised_rate_on_the_books": held["realised_rate"],
        "nights": nightly["nights"],
        "nightly_expected": nightly["expected"],
        "nightly_realised": nightly["realised"],
        "nightly_wape": nightly["wape"],
        "nightly_bias": nightly["bias"],
        "nightly_coverage_80": nightly["coverage_80"],
    }


# Averaged over the folds into ``<name>_mean``: what to expect on future bookings.
MEANS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "f1",
    "precision",
    "recall",
    "calibration_in_the_large",
    "roc_auc_booked_after_cutoff",
    "brier_booked_after_cutoff",
    "calibration_in_the_large_booked_after_cutoff",
    "roc_auc_on_the_books",
    "brier_on_the_books",
    "calibration_in_the_large_on_the_books",
    "nightly_wape",
    "nightly_bias",
    "nightly_coverage_80",
    "estimated_roc_auc",
    "estimate_error_roc_auc",  # its mean: the label-free estimate's mean absolute error
    "estimated_roc_auc_on_the_books",
    "estimate_error_roc_auc_on_the_books",
)


def summarise(
    folds: list[Fold], parts: list[pd.DataFrame], thresholds: list[float]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each fold's report (``parts``: its OOF rows of both populations) and the means over folds."""
    rows = [fold_report(fold, part, t) for fold, part, t in zip(folds, parts, thresholds, strict=True)]
    means = {f"{name}_mean": float(np.nanmean([row[name] for row in rows])) for name in MEANS}
    return rows, means


def others(k: int, n: int) -> list[int]:
    """The folds whose predictions choose fold ``k``'s settings: every fold but ``k``."""
    return [j for j in range(n) if j != k]


def at_booking(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["population"] == CREATION]


def cross_fitted_thresholds(parts: list[pd.DataFrame], rule: ThresholdParams) -> list[float]:
    """Fold k's threshold, chosen on the other folds' pooled OOF probabilities at booking."""
    thresholds = []
    for k in range(len(parts)):
        pooled = pd.concat([at_booking(parts[j]) for j in others(k, len(parts))], ignore_index=True)
        thresholds.append(choose_threshold(pooled[TARGET].to_numpy(), pooled["probability"].to_numpy(), rule))
    return thresholds
