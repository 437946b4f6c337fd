"""Response models of the API: what each route answers, as its OpenAPI schema publishes it.

The request side (the ``Booking`` JSON Schema, generated from the column spec) is
``api/booking_schema.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Reason(BaseModel):
    feature: str = Field(description="model feature (see GET /model)")
    text: str = Field(description="the reason in words, e.g. 'Non-refundable deposit raises the risk'")
    direction: Literal["raises", "lowers"]
    contribution: float = Field(description="change of the calibrated log-odds due to this feature")
    probability_change: float = Field(
        description="cancel_probability minus what it would be without this contribution"
    )


class Prediction(BaseModel):
    request_id: str
    booking_id: str | None = Field(description="the booking's booking_id, as sent (null when none was)")
    as_of: str = Field(
        description="the day the booking was judged as of (its booking date unless as_of was sent)"
    )
    cancel_probability: float = Field(
        ge=0,
        le=1,
        description="probability the booking is cancelled after as_of, given it is on the books then",
    )
    will_cancel: bool = Field(description="cancel_probability >= threshold")
    threshold: float
    model_version: str | None
    reasons: list[Reason] = Field(description="the strongest contributions, strongest first")


class BatchItem(BaseModel):
    request_id: str
    booking_id: str | None
    as_of: str
    cancel_probability: float = Field(ge=0, le=1)
    will_cancel: bool
    reasons: list[Reason] | None = Field(None, description="present when ?reasons=true")


class BatchPrediction(BaseModel):
    model_version: str | None
    threshold: float
    count: int
    predictions: list[BatchItem] = Field(description="one per booking, in request order")


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    index: int | None = Field(None, description="position of the offending booking in a batch")
    field: str | None = Field(None, description="the offending booking field")


class ValidationErrorResponse(BaseModel):
    message: str
    detail: list[ErrorItem]


class Message(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    pid: int = Field(description="the answering process: replicas behind a balancer tell apart by it")
    model_version: str | None = Field(description="the version it serves (null: none loaded yet)")


class LogStatus(BaseModel):
    enabled: bool
    queued: int = Field(description="answered predictions on disk, not yet in the database")
    written: int
    refused: int = Field(description="predictions refused (503) because they could not be put on disk")
    failed_writes: int
    last_error: str | None
    spill_dir: str = Field(description="where they wait (api/spill.py)")


class LoadFailure(BaseModel):
    version: str | None = Field(description="the registry's version that failed to load, when known")
    reason: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    reasons: list[str] = Field(description="why the service is not ready (empty when ready)")
    model_version: str | None
    model_load_failure: LoadFailure | None = Field(
        None, description="why the model the registry names is not the one served (or why none is)"
    )
    database_reachable: bool | None = Field(description="null when the prediction log is off")
    prediction_log: LogStatus


class ModelInfo(BaseModel):
    name: str | None
    version: str | None
    aliases: list[str]
    uri: str
    run_id: str | None
    trained_at: str | None
    algorithm: str | None
    transformation: str
    n_trees: int | None
    training_window: dict[str, Any] = Field(description="arrivals the model was refit on, and its cut-off")
    backtest_metrics: dict[str, float] = Field(
        description="the rolling-origin backtest's means over past windows (they moved between windows: see backtest_windows); for the bookings on the books now, the label-free estimate (hotel_api_estimated_roc_auc on /metrics, ./cli.sh estimate-performance)"
    )
    backtest_windows: list[dict[str, Any]] = Field(
        description="each backtest fold: window, bookings, ROC AUC"
    )
    threshold: float
    calibration: list[float]
    features: list[str]
    numeric_features: list[str]
    categorical_features: list[str]
    loaded_at: str
    load_failure: LoadFailure | None = Field(
        None,
        description="the registry names another version, which could not be loaded: still serving this one",
    )


class ForecastNight(BaseModel):
    hotel: str
    night: str = Field(description="the stay night (YYYY-MM-DD)")
    rooms_on_books: int = Field(
        description="rooms booked for the night among the bookings on the books at as_of"
    )
    expected_cancellations: float = Field(description="sum of their probabilities of cancelling after as_of")
    cancellations_p10: int = Field(description="80% interval of the night's cancellations: lower end")
    cancellations_p90: int = Field(description="80% interval of the night's cancellations: upper end")
    expected_rooms_kept: float
    revenue_at_risk: float = Field(description="sum of probability times the booking's daily rate")
    capacity: int | None = Field(description="rooms of the hotel (the capacity file); null: not configured")
    overbook_rooms: int | None = Field(
        description="bookings beyond capacity to hold for the night (newsvendor)"
    )
    rooms_to_sell: int | None = Field(description="rooms to sell now under that rule")
    note: str | None = Field(description="why there is no overbooking advice, when there is none")


class ForecastResponse(BaseModel):
    as_of: str
    model_version: str | None
    bookings_on_the_books: int
    nights: list[ForecastNight] = Field(description="one per hotel and night, hotel then night order")


class ReloadResult(BaseModel):
    previous_version: str | None
    model_version: str | None
    changed: bool
    model: ModelInfo
