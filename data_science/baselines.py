"""Stage ``baselines``: what a simpler choice would get, on the same folds, judged the same way.

Each baseline goes through the same rolling-origin backtest as the model (fit on every arrival
before a window, score the window) and gets its decision threshold chosen the same way: each
fold is reported at a threshold chosen (``train.threshold``'s rule) on its own other folds'
out-of-fold probabilities, as the model's folds are. F1 and recall compare like for like.

- ``majority``: the training rows' cancellation rate for every booking (ROC AUC 0.5 by definition);
- ``logistic_regression``: one-hot categories and standardised numbers of the model's features;
- ``plain_xgboost``: XGBoost on the raw booking-time columns (text as pandas categories), 400
  trees, depth 8, learning rate 0.05, no tuning, no features of ours: the 20-line model to beat.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.io import read_processed
from data_engineering.src.params import read_section
from data_engineering.src.paths import BASELINES_FILE, BASELINES_OOF_FILE, processed_file
from data_engineering.src.progress import progress
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME, TARGET
from data_engineering.transformation import Transformation, get_transformation
from data_science.artifacts import write_csv, write_json
from data_science.backtest import (
    BacktestParams,
    ThresholdParams,
    TrainParams,
    choose_threshold,
    cross_fitted_thresholds,
    make_folds,
    summarise,
)

Fit = Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]  # (train, fold) -> fold probabilities


class PlainXGBoostParams(BaseModel):
    n_estimators: int = Field(400, ge=1)
    max_depth: int = Field(8, ge=1)
    learning_rate: float = Field(0.05, gt=0)


class BaselineParams(BaseModel):
    seed: int = 42
    plain_xgboost: PlainXGBoostParams = PlainXGBoostParams()


def majority(train: pd.DataFrame, fold: pd.DataFrame) -> np.ndarray:
    return np.full(len(fold), float(train[TARGET].mean()))


def logistic_regression(transformation: Transformation, seed: int) -> Fit:
    numeric, categorical = list(transformation.numeric_features), list(transformation.categorical_features)

    def fit(train: pd.DataFrame, fold: pd.DataFrame) -> np.ndarray:
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("numeric", StandardScaler(), numeric),
                    (
                        "categorical",
                        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
                        categorical,
                    ),
                ]
            ),
            LogisticRegression(max_iter=2000, random_state=seed),
        )
        model.fit(train[numeric + categorical], train[TARGET])
        probabilities: np.ndarray = model.predict_proba(fold[numeric + categorical])[:, 1]
        return probabilities

    return fit


def raw_columns(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """The booking-time columns as a data scientist would hand them to XGBoost: numbers as they
    are, text as pandas categories (the training rows' categories)."""
    out: dict[str, np.ndarray | pd.Categorical[Any]] = {}
    for name in BOOKING_FIELDS:
        if COLUMNS_BY_NAME[name].kind in ("int", "float"):
            out[name] = frame[name].astype("float64").to_numpy()
        else:
            text = frame[name].astype(str)
            known = text.where(text.isin(categories[name]))  # unseen in training: missing
            out[name] = pd.Categorical(known, categories=categories[name])
    return pd.DataFrame(out)


def plain_xgboost(params: PlainXGBoostParams, seed: int) -> Fit:
    def fit(train: pd.DataFrame, fold: pd.DataFrame) -> np.ndarray:
        text = [n for n in BOOKING_FIELDS if COLUMNS_BY_NAME[n].kind not in ("int", "float")]
        categories = {name: sorted(train[name].astype(str).unique()) for name in text}
        model = xgb.XGBClassifier(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth,
            learning_rate=params.learning_rate,
            tree_method="hist",
            enable_categorical=True,
            random_state=seed,
        )
        model.fit(raw_columns(train, categories), train[TARGET].to_numpy())
        return model.predict_proba(raw_columns(fold, categories))[:, 1]

    return fit


def backtest_baseline(
    name: str, fit: Fit, frame: pd.DataFrame, params: BacktestParams, threshold: ThresholdParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    started = time.perf_counter()
    folds = make_folds(frame["arrival_date"], params)
    arrival = pd.to_datetime(frame["arrival_date"])
    parts, train_rows = [], []
    with progress(total=len(folds), desc=f"baselines: {name}", unit="folds") as bar:
        for number, fold in enumerate(folds, start=1):
            train = frame[arrival < fold.start]
            test = frame[(arrival >= fold.start) & (arrival < fold.stop)]
            parts.append(
                pd.DataFrame(
                    {
                        "booking_id": test["booking_id"].to_numpy(),
                        "fold": number,
                        "booking_date": test["booking_date"].to_numpy(),
                        TARGET: test[TARGET].to_numpy(),
                        "probability": fit(train, test),
                    }
                )
            )
            train_rows.append(len(train))
            bar.update(1)
    # Like the model's: each fold at a threshold chosen on the other folds, and one on all of
    # them as the baseline's own (what it would deploy with).
    thresholds = cross_fitted_thresholds(parts, threshold)
    parts = [part.assign(threshold=t) for part, t in zip(parts, thresholds, strict=True)]
    oof = pd.concat(parts, ignore_index=True)
    chosen = choose_threshold(oof[TARGET].to_numpy(), oof["probability"].to_numpy(), threshold)
    rows, means = summarise(folds, parts, train_rows, thresholds)
    print(
        f"baselines: {name}: backtest ROC AUC mean {means['roc_auc_mean']:.4f}, F1 {means['f1_mean']:.4f} at its "
        f"own threshold {chosen:.3f} ({time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    return {"folds": rows, **means, "threshold": chosen}, oof.assign(baseline=name)


def main() -> int:
    backtest = read_section("backtest", BacktestParams)
    params = read_section("baselines", BaselineParams)
    rule = read_section("train", TrainParams).threshold  # the model's rule, for like for like
    version = read_section("transform", TransformParams).version
    transformation = get_transformation(version)
    frame = read_processed(version, processed_file(version))
    fits = {
        "majority": majority,
        "logistic_regression": logistic_regression(transformation, params.seed),
        "plain_xgboost": plain_xgboost(params.plain_xgboost, params.seed),
    }
    report, oofs = {}, []
    try:
        for name, fit in fits.items():
            report[name], oof = backtest_baseline(name, fit, frame, backtest, rule)
            oofs.append(oof)
    except ValueError as exc:
        print(f"baselines: error: {exc}", file=sys.stderr)
        return 1
    write_csv(pd.concat(oofs, ignore_index=True), BASELINES_OOF_FILE)
    write_json(BASELINES_FILE, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
