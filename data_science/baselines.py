"""Stage ``baselines``: what a simpler choice would get, on the same folds, judged the same way.

Each baseline goes through the same rolling-origin backtest as the model (fit on every arrival
before a window, then asked both questions of ``backtest``: every booking of the window at
booking, and the bookings on the books at the cut-off, per booking and summed per night) and gets
its decision threshold chosen the same way: each fold is reported at a threshold chosen
(``train.threshold``'s rule) on its own other folds' out-of-fold probabilities, as the model's
folds are. F1 and recall compare like for like.

- (``creation_time_pipeline``, today's pipeline before the as-of question — ``v3`` features,
  trained on bookings at their booking date only, judging a booking on the books as if it had just
  been made — is the as-of model's at-booking head: ``train`` reports it, ``evaluate`` lists it here);
- ``historical_curve``: the revenue manager's spreadsheet — the cancellation rate of the bookings
  on the books by hotel and days-to-arrival band, from the snapshots before the cut-off;
- ``majority``: the training rows' cancellation rate for every booking (ROC AUC 0.5 by definition);
- ``logistic_regression``: one-hot categories and standardised numbers of the model's features;
- ``plain_xgboost``: XGBoost on the raw booking-time columns (text as pandas categories), 400
  trees, depth 8, learning rate 0.05, no tuning, no features of ours: the 20-line model to beat.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from data_engineering.src.files.writing import read_processed
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.paths import BASELINES_FILE, BASELINES_OOF_FILE, processed_file
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME, TARGET
from data_engineering.transformation import Transformation, get_transformation
from data_science.artifacts import write_csv, write_json
from data_science.backtest.params import BacktestParams, TrainParams
from data_science.backtest.run import Fit, Predictor, backtest_predictor
from data_science.snapshots import snapshots

# Days-to-arrival bands of the historical curve (upper bounds), as revenue managers read them.
CURVE_BANDS = (7, 14, 30, 60, 90, 120, 180, 270, 365)


class PlainXGBoostParams(BaseModel):
    n_estimators: int = Field(400, ge=1)
    max_depth: int = Field(8, ge=1)
    learning_rate: float = Field(0.05, gt=0)


class BaselineParams(BaseModel):
    seed: int = 42
    plain_xgboost: PlainXGBoostParams = PlainXGBoostParams()


def majority(train: pd.DataFrame, cutoff: pd.Timestamp) -> Predictor:
    rate = float(train[TARGET].mean())
    return lambda rows: np.full(len(rows), rate)


def days_to_arrival_band(rows: pd.DataFrame) -> np.ndarray:
    days = (pd.to_datetime(rows["arrival_date"]) - pd.to_datetime(rows["as_of"])).dt.days.to_numpy()
    band: np.ndarray = np.searchsorted(CURVE_BANDS, days, side="left")
    return band


def historical_curve(params: TrainParams) -> Fit:
    def fit(train: pd.DataFrame, cutoff: pd.Timestamp) -> Predictor:
        # The bookings on the books on the days before the cut-off, whatever the pipeline's features.
        history = snapshots(
            train, get_transformation("v4"), params.snapshot_every_days or 30, seed=params.seed
        )
        rates = history.groupby([history["hotel"].to_numpy(), days_to_arrival_band(history)])[TARGET].mean()
        overall = float(history[TARGET].mean())

        def predict(rows: pd.DataFrame) -> np.ndarray:
            keys = pd.MultiIndex.from_arrays([rows["hotel"].to_numpy(), days_to_arrival_band(rows)])
            return rates.reindex(keys).fillna(overall).to_numpy(dtype=np.float64)

        return predict

    return fit


def logistic_regression(transformation: Transformation, seed: int) -> Fit:
    numeric, categorical = list(transformation.numeric_features), list(transformation.categorical_features)

    def fit(train: pd.DataFrame, cutoff: pd.Timestamp) -> Predictor:
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
        return lambda rows: model.predict_proba(rows[numeric + categorical])[:, 1]

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
    def fit(train: pd.DataFrame, cutoff: pd.Timestamp) -> Predictor:
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
        return lambda rows: model.predict_proba(raw_columns(rows, categories))[:, 1]

    return fit


def main() -> int:
    backtest = read_section("backtest", BacktestParams)
    params = read_section("baselines", BaselineParams)
    train_params = read_section("train", TrainParams)  # the model's rule and booster, for like for like
    version = read_section("transform", TransformParams).version
    transformation = get_transformation(version)
    frame = read_processed(version, processed_file(version))
    fits: dict[str, Fit] = {
        "historical_curve": historical_curve(train_params),
        "majority": majority,
        "logistic_regression": logistic_regression(transformation, params.seed),
        "plain_xgboost": plain_xgboost(params.plain_xgboost, params.seed),
    }
    report, oofs = {}, []
    try:
        for name, fit in fits.items():
            report[name], oof = backtest_predictor(
                name,
                fit,
                frame,
                transformation=transformation,
                backtest=backtest,
                threshold=train_params.threshold,
            )
            oofs.append(oof)
    except ValueError as exc:
        print(f"baselines: error: {exc}", file=sys.stderr)
        return 1
    write_csv(pd.concat(oofs, ignore_index=True), BASELINES_OOF_FILE)
    write_json(BASELINES_FILE, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
