"""The champion gate: does a newly registered model replace the champion?

Decided by the register step (``register.py``) on bookings neither model was fitted on; the
decision, and the figures it was based on, are recorded on the registering MLflow run.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from data_engineering.src.schema import TARGET
from data_engineering.transformation import get_transformation
from data_science.backtest.params import CREATION, ON_THE_BOOKS
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.nightly import forecast
from data_science.quality import nightly_accuracy
from data_science.snapshots import as_of
from data_science.tracking import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    ModelLoadError,
    NoModelError,
    resolve,
)


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
    """No worse on either question and better on one: ROC AUC at booking, and the nightly forecast's
    WAPE where both have one (a better forecast from the same at-booking head wins)."""
    gains = [mine[0] - theirs[0]]
    if mine[1] is not None and theirs[1] is not None:
        gains.append(theirs[1] - mine[1])
    return min(gains) >= 0 and max(gains) > 0


def gate(report: dict[str, Any], frame: pd.DataFrame, oof: pd.DataFrame, new_version: str) -> Gate:
    """Does the new model (the challenger) replace the champion? Decided on data neither was fitted on.

    Both questions count: neither ROC AUC at booking nor the nightly forecast of the bookings on
    the books (WAPE, where the champion has one) may be worse, and one must be better.

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
