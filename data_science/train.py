"""Stage ``train``: XGBoost on the v2 features, validated on the most recent arrivals.

- Time-aware split: train on arrivals before the last ``split.validation_months`` months, validate
  on those months. No random split: exact duplicates share an arrival date and would otherwise
  sit on both sides, and the model will always score bookings later than its training data.
- Early stopping on the validation window (log loss, a proper score, so the number of trees that
  ranks best is also the one that is best calibrated).
- Platt calibration of the margin and the decision threshold are both chosen on that window.
- Baselines on the same split: the majority class and a logistic regression.
Outputs: ``models/model/`` (booster, encoder, metadata) and ``models/baselines.joblib``.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Literal

import joblib
import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.io import read_processed
from data_engineering.src.params import read_section
from data_engineering.src.paths import BASELINES_FILE, MODEL_DIR, processed_file
from data_engineering.src.schema import TARGET
from data_engineering.transformation import get_transformation
from data_engineering.transformation.encoding import FeatureEncoder
from data_science.model import CancellationModel
from data_science.profile import training_profile


class SplitParams(BaseModel):
    validation_months: int = Field(3, ge=1, le=12, description="most recent months used for validation")


class ThresholdParams(BaseModel):
    strategy: Literal["f1", "cost"] = "f1"
    cost_false_alarm: float = Field(1.0, gt=0, description="cost of flagging a booking that stays")
    cost_missed_cancellation: float = Field(3.0, gt=0, description="cost of missing a cancellation")


class TrainParams(BaseModel):
    seed: int = 42
    n_estimators: int = Field(2000, ge=1, description="upper bound; early stopping picks the number")
    early_stopping_rounds: int = Field(100, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(6, ge=1, le=16)
    min_child_weight: float = Field(5, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    category_smoothing: float = Field(20, ge=0)
    calibration: Literal["none", "platt"] = "platt"
    threshold: ThresholdParams = ThresholdParams()


def time_split(
    frame: pd.DataFrame, validation_months: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Rows arriving before the cutoff train; the last ``validation_months`` months validate."""
    arrival = pd.to_datetime(frame["arrival_date"])
    last_month = arrival.max().to_period("M")
    cutoff = (last_month - (validation_months - 1)).to_timestamp()
    train_mask = arrival < cutoff
    if train_mask.all() or not train_mask.any():
        raise ValueError(f"cannot split at {cutoff.date()}: one side would be empty")
    return frame[train_mask], frame[~train_mask], cutoff


def fit_platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the outcome on the margin: p = sigmoid(a * margin + b)."""
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(margin.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def choose_threshold(y: np.ndarray, p: np.ndarray, params: ThresholdParams) -> float:
    """F1-maximising or expected-cost-minimising threshold on the validation window."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]
    if params.strategy == "f1":
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        return float(thresholds[int(np.argmax(f1))])
    positives = y.sum()
    tp = recall * positives
    fp = np.where(precision > 0, tp / np.clip(precision, 1e-12, None) - tp, 0)
    cost = params.cost_false_alarm * fp + params.cost_missed_cancellation * (positives - tp)
    return float(thresholds[int(np.argmin(cost))])


def logistic_baseline(seed: int, numeric: list[str], categorical: list[str]):
    """One-hot categoricals + standardised numbers: the strongest simple model to beat."""
    return make_pipeline(
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


def train(
    frame: pd.DataFrame, split: SplitParams, params: TrainParams, version: str = "v2"
) -> tuple[CancellationModel, dict]:
    train_df, valid_df, cutoff = time_split(frame, split.validation_months)
    y_train = train_df[TARGET].to_numpy()
    y_valid = valid_df[TARGET].to_numpy()
    transformation = get_transformation(version)
    numeric, categorical = transformation.numeric_features, transformation.categorical_features
    encoder = FeatureEncoder.fit(
        train_df, y_train, numeric=numeric, categorical=categorical, smoothing=params.category_smoothing
    )
    x_train, x_valid = encoder.encode(train_df), encoder.encode(valid_df)
    names = encoder.feature_names
    dtrain = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    dvalid = xgb.DMatrix(x_valid, label=y_valid, feature_names=names)
    booster_params = {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],  # the last one drives early stopping
        "tree_method": "hist",
        "learning_rate": params.learning_rate,
        "max_depth": params.max_depth,
        "min_child_weight": params.min_child_weight,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "lambda": params.reg_lambda,
        "seed": params.seed,
        "nthread": 0,
    }
    print(
        f"train: {len(train_df):,} bookings arriving before {cutoff.date()}, "
        f"validation: {len(valid_df):,} arriving {cutoff.date()} to {valid_df['arrival_date'].max().date()}"
    )
    started = time.perf_counter()
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=params.n_estimators,
        evals=[(dtrain, "train"), (dvalid, "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=100,  # progress on long work
    )
    best_iteration = booster.best_iteration
    booster = booster[: best_iteration + 1]  # keep only the trees early stopping chose
    fit_seconds = time.perf_counter() - started
    margin = booster.inplace_predict(x_valid, predict_type="margin")
    calibration = fit_platt(margin, y_valid) if params.calibration == "platt" else (1.0, 0.0)
    model = CancellationModel(
        booster, encoder, calibration=calibration, transformation=version, profile=training_profile(train_df)
    )
    p_valid = model.calibrate(margin)
    model.threshold = choose_threshold(y_valid, p_valid, params.threshold)
    window = {
        "train_rows": len(train_df),
        "train_start": str(train_df["arrival_date"].min().date()),
        "train_end": str(train_df["arrival_date"].max().date()),
        "validation_rows": len(valid_df),
        "validation_start": str(cutoff.date()),
        "validation_end": str(valid_df["arrival_date"].max().date()),
    }
    model.metadata = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "algorithm": "XGBoost gradient-boosted trees (binary:logistic, hist), Platt-calibrated"
        if params.calibration == "platt"
        else "XGBoost gradient-boosted trees (binary:logistic, hist)",
        "best_iteration": int(best_iteration),
        "n_trees": int(booster.num_boosted_rounds()),
        "fit_seconds": round(fit_seconds, 2),
        "window": window,
        "threshold_strategy": params.threshold.strategy,
    }
    print(
        f"train: {model.metadata['n_trees']} trees in {fit_seconds:.1f}s, calibration a={calibration[0]:.3f} "
        f"b={calibration[1]:.3f}, threshold {model.threshold:.3f} ({params.threshold.strategy})"
    )
    baselines = {
        "majority": DummyClassifier(strategy="prior").fit(train_df[list(numeric)], y_train),
        "logistic_regression": logistic_baseline(params.seed, list(numeric), list(categorical)).fit(
            train_df, y_train
        ),
    }
    return model, baselines


def main() -> int:
    split = read_section("split", SplitParams)
    params = read_section("train", TrainParams)
    version = read_section("transform", TransformParams).version  # which processed file to read
    frame = read_processed(version, processed_file(version))
    model, baselines = train(frame, split, params, version)
    model.save(MODEL_DIR)
    joblib.dump(baselines, BASELINES_FILE)
    print(f"train: saved {MODEL_DIR} and {BASELINES_FILE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
