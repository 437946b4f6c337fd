"""The backtest's and the booster's parameters: typed sections of ``params.yaml``."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

CREATION = "creation"
ON_THE_BOOKS = "on_the_books"
ONE_DAY = pd.Timedelta(days=1)


class BacktestParams(BaseModel):
    folds: int = Field(
        4, ge=2, le=12, description="consecutive windows, the last ending with the newest month"
    )
    fold_months: int = Field(3, ge=1, le=12, description="months of arrivals per window")


class ThresholdParams(BaseModel):
    strategy: Literal["f1", "cost"] = "f1"
    cost_false_alarm: float = Field(1.0, gt=0, description="cost of flagging a booking that stays")
    cost_missed_cancellation: float = Field(3.0, gt=0, description="cost of missing a cancellation")


Method = Literal["none", "platt"]


class CalibrationParams(BaseModel):
    """Per head: ``none`` (the booster's own probabilities) or ``platt`` (a logistic fit of the
    pooled out-of-fold margins). See data_science/README.md for the evidence behind the defaults."""

    at_booking: Method = "platt"
    on_the_books: Method = "none"


class TrainParams(BaseModel):
    seed: int = 42
    max_trees: int = Field(800, ge=1, description="longest fit per fold; the size is chosen out of fold")
    checkpoint_every: int = Field(25, ge=1)
    learning_rate: float = Field(0.03, gt=0, le=1)
    max_depth: int = Field(4, ge=1, le=16)
    min_child_weight: float = Field(11, ge=0)
    subsample: float = Field(0.65, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(0.4, ge=0)
    max_cat_to_onehot: int = Field(1, ge=1, description="categories: set splits, not one-hot")
    half_life_days: float = Field(90, ge=0, description="recency weighting by arrival date; 0 turns it off")
    half_life_days_on_the_books: float | None = Field(
        None, ge=0, description="the later head's own half-life (None: half_life_days)"
    )
    snapshot_every_days: int = Field(
        30,
        ge=0,
        description="days between a booking's snapshots while on the books (0: its booking date only)",
    )
    learn_from_pending: bool = Field(
        True,
        description="the later head also learns from the bookings not arrived at the cut-off, as known then",
    )
    calibration: CalibrationParams = CalibrationParams()
    threshold: ThresholdParams = ThresholdParams()

    def on_the_books(self) -> TrainParams:
        """The settings the later head is fitted with: its own recency half-life, if it has one.

        Its question, the level of cancellations among the bookings still on the books, moves
        between windows more than the ranking the at-booking head is tuned for (see
        data_science/README.md), so it may forget faster.
        """
        if self.half_life_days_on_the_books is None:
            return self
        return self.model_copy(update={"half_life_days": self.half_life_days_on_the_books})

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "tree_method": "hist",
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "seed": self.seed,
            "nthread": 0,
        }
