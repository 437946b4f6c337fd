"""What the API serves: one immutable ``ServingState`` (model + its description), swapped whole.

A request reads ``holder.state`` once and uses that object to the end, so a reload that swaps
the reference mid-request cannot mix two models: in-flight requests finish on the old state,
new ones get the new state, and nothing on the prediction path takes a lock.

``ChampionWatcher`` closes the retrain -> serve loop: every worker checks, every
``API_MODEL_REFRESH_SECONDS``, which version the registry alias names, and loads it when it
moved. Each worker process runs its own watcher, so all of them switch within that bound, and
the swap is the same atomic one as ``/admin/reload``'s: no request is dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from api.schemas import ModelInfo
from data_engineering.src.messages import first_line
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, SCORING_FIELDS
from data_engineering.src.validate import Problem, records_to_columns
from data_science.model import CancellationModel

log = logging.getLogger("api.serving")


@dataclass(frozen=True)
class ServingState:
    model: CancellationModel
    name: str | None
    version: str | None
    uri: str
    info: dict[str, Any]  # the body of GET /model
    info_json: bytes = field(repr=False)  # ... serialized once per load

    @property
    def threshold(self) -> float:
        return self.model.threshold


@dataclass(frozen=True)
class Single:
    """One booking's answer: its prediction, or why it was refused."""

    state: ServingState | None
    probability: float = 0.0
    will_cancel: bool = False
    booking_id: str | None = None
    as_of: str | None = None  # YYYY-MM-DD: the day it was judged as of
    reasons: list[dict[str, Any]] = field(default_factory=list)
    logged: dict[str, Any] = field(default_factory=dict)  # the booking as cleaned, for the log
    problems: list[Problem] = field(default_factory=list)


LOGGED_FIELDS = (*BOOKING_FIELDS, BOOKING_ID, AS_OF)


def answer_bookings(state: ServingState, bookings: Sequence[dict[str, Any]], top: int) -> list[Single]:
    """Each JSON booking's answer from ``state``'s model, in order (one ``answer`` call for all)."""
    answers = state.model.answer(records_to_columns(bookings, SCORING_FIELDS), reasons=top)
    out: list[Single] = [Single(None)] * len(bookings)
    for index, problems in zip(answers.rejected.tolist(), answers.problems, strict=True):
        out[index] = Single(None, problems=problems)
    if not len(answers.accepted):
        return out
    days = np.datetime_as_string(answers.as_of, unit="D").tolist()
    features = answers.features
    columns = [features[name].tolist() for name in BOOKING_FIELDS]
    probabilities, decisions = answers.probability.tolist(), answers.will_cancel.tolist()
    ids = answers.booking_id.tolist()
    for k, (index, row) in enumerate(zip(answers.accepted.tolist(), zip(*columns, strict=True), strict=True)):
        logged = dict(zip(BOOKING_FIELDS, row, strict=True))
        logged[BOOKING_ID], logged[AS_OF] = ids[k], days[k]
        out[index] = Single(
            state,
            probabilities[k],
            decisions[k],
            ids[k],
            days[k],
            answers.reasons[k] if answers.reasons is not None else [],
            logged,
        )
    return out


class NoModelLoadedError(RuntimeError):
    pass


class MicroBatcher:
    """Single-booking requests that arrive together are validated and scored together.

    A request hands its booking over and waits; the batch runs on the event loop once the requests
    already received have joined it: the flush waits one more loop turn (``call_soon``) as long as
    the batch is still growing (at most ``SETTLE_TURNS``), because a request read in the same turn
    needs a few turns of its own to reach ``submit``. A lone request waits one turn (microseconds),
    while under concurrency the per-call costs — XGBoost's per-call setup, each numpy operation —
    are paid once per batch instead of once per booking. Answers are each booking's own, exactly as
    if it came alone: every step is columnar and row-independent (``one booking is a batch of one``).
    """

    SETTLE_TURNS = 8

    def __init__(
        self,
        holder: ModelHolder,
        *,
        top: int,
        max_batch: int = 64,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.holder = holder
        self.top = top
        self.max_batch = max_batch
        self.on_batch = on_batch  # told each batch's size (the metrics' histogram)
        self._pending: list[tuple[dict[str, Any], asyncio.Future[Single]]] = []
        self._scheduled = False
        self._seen = 0  # pending bookings at the previous turn
        self._turns = 0

    def submit(self, booking: dict[str, Any]) -> asyncio.Future[Single]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Single] = loop.create_future()
        self._pending.append((booking, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if (
            len(self._pending) > self._seen
            and len(self._pending) < self.max_batch
            and self._turns < self.SETTLE_TURNS
        ):
            self._seen, self._turns = len(self._pending), self._turns + 1
            loop.call_soon(self._flush)  # still growing: give the requests in flight another turn
            return
        self._seen = self._turns = 0
        self._scheduled = False
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if self._pending:
            self._scheduled = True
            loop.call_soon(self._flush)
        try:
            answers = self.score([booking for booking, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    def score(self, bookings: Sequence[dict[str, Any]]) -> list[Single]:
        state = self.holder.state  # one model for the whole batch, even if a reload swaps it now
        if state is None:
            raise NoModelLoadedError("no model loaded yet")
        if self.on_batch is not None:
            self.on_batch(len(bookings))
        return answer_bookings(state, bookings, self.top)


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


_FOLD_FIELDS = (
    "start",
    "end",
    "train_rows",
    "rows",
    "roc_auc",
    "pr_auc",
    "brier",
    "f1",
    "roc_auc_booked_after_cutoff",
    "on_the_books_as_of",
    "rows_on_the_books",
    "roc_auc_on_the_books",
    "calibration_in_the_large_on_the_books",
    "nightly_wape",
    "nightly_bias",
    "nightly_coverage_80",
)


def load_state(model_uri: str | None) -> ServingState:
    """Resolve the URI in the registry and load the model it names into memory.

    Raises ``data_science.tracking.NoModelError`` (or its subclasses: the registry does not
    answer, the version cannot be loaded) with the reason; never lets XGBoost read a damaged file.
    """
    # Imports MLflow (~1.3 s): only when loading. It turns MLflow's download progress bars off.
    from data_science.load_check import load_registered

    # A private copy of the artifacts, deleted once loaded: the model then lives in memory only,
    # and a reload can never read files another load is replacing.
    with tempfile.TemporaryDirectory(prefix="hotel-api-model-") as tmp:
        resolved, model = load_registered(model_uri, Path(tmp), nthread=1)
    meta = model.metadata
    backtest = meta.get("backtest", {})
    version = _version(resolved.version)
    info = {
        "name": resolved.name,
        "version": version,
        "aliases": list(resolved.aliases),
        "uri": resolved.uri,
        "run_id": resolved.run_id,
        "trained_at": resolved.trained_at or meta.get("trained_at"),  # older bundles recorded it
        "algorithm": meta.get("algorithm"),
        "transformation": model.transformation,
        "n_trees": meta.get("n_trees"),
        "training_window": meta.get("window", {}),
        # What to expect on future bookings: the rolling-origin backtest (each fold scored by
        # a model fitted only on earlier arrivals), never the refit's fit on its own data.
        "backtest_metrics": {
            key.removesuffix("_mean"): float(value)
            for key, value in backtest.items()
            if key.endswith("_mean") and isinstance(value, int | float)
        },
        "backtest_windows": [
            {key: fold[key] for key in _FOLD_FIELDS if key in fold} for fold in backtest.get("folds", [])
        ],
        "threshold": model.threshold,
        "calibration": list(model.calibration),
        "features": model.feature_names,
        "numeric_features": list(model.encoder.numeric),
        "categorical_features": list(model.encoder.categorical),
        "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return ServingState(
        model=model,
        name=resolved.name,
        version=version,
        uri=resolved.uri,
        info=info,
        # Checked against the documented response once, here, rather than on every GET /model.
        info_json=ModelInfo.model_validate(info).model_dump_json().encode(),
    )


@dataclass(frozen=True)
class LoadFailure:
    """Why the model the registry names is not the one served (or why none is)."""

    reason: str  # "champion version 2: booster.ubj is damaged (...)"
    version: str | None  # the version that failed to load, when the registry said which

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason}


class ModelHolder:
    """The one attribute that references the serving state, and why a newer one is not served."""

    def __init__(self) -> None:
        self.state: ServingState | None = None
        self.failure: LoadFailure | None = None
        self._reload_lock = threading.Lock()  # reloads queue up; predictions never wait on it

    def load(self, model_uri: str | None) -> tuple[str | None, ServingState]:
        """Load a state and swap it in; returns the previous version and the new state.

        On failure the state served stays, and ``failure`` says why (the exception propagates).
        """
        from data_science.tracking import ModelLoadError, NoModelError, RegistryUnreachableError

        with self._reload_lock:
            try:
                new = load_state(model_uri)
            except RegistryUnreachableError:
                raise  # says nothing about the model: what is served stays as good as it was
            except (NoModelError, ModelLoadError) as exc:
                version = exc.version if isinstance(exc, ModelLoadError) else None
                self.failure = LoadFailure(str(exc), version)
                raise
            previous = self.state
            self.state = new  # the swap: one reference assignment, atomic under the GIL
            self.failure = None
        log.info(
            "serving %s version %s (%d trees, threshold %.3f)",
            new.name or new.info["uri"],
            new.version,
            new.info["n_trees"] or 0,
            new.threshold,
        )
        return (previous.version if previous else None), new


def registered_version(uri: str) -> str | None:
    """The version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI names now (one query).

    Raises RegistryUnreachableError within seconds when the tracking server does not answer.
    """
    import mlflow

    from data_science.tracking import check_reachable, configure

    if not uri.startswith("models:/"):
        return None
    configure()
    check_reachable()
    ref = uri.removeprefix("models:/")
    client = mlflow.MlflowClient()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return str(client.get_model_version_by_alias(name, alias).version)
    return ref.split("/", 1)[1]


class ChampionWatcher:
    """A daemon thread that loads the model the registry names when it is not the one served.

    A version that cannot be loaded (damaged, missing files, another vocabulary) leaves the
    served one in place; ``holder.failure`` says why (``/ready``, ``/model``, the
    ``hotel_api_model_load_failed`` gauge) and it is not retried until the alias moves again.
    A registry that does not answer is only logged: what is served stays as good as it was.
    With no model at all (a start without ``--require-model``) it tries every period.
    """

    def __init__(
        self,
        holder: ModelHolder,
        *,
        model_uri: str | None,
        every_seconds: float,
        on_change: Any = None,
        on_failure: Callable[[LoadFailure | None], None] | None = None,
    ) -> None:
        self.holder = holder
        self.model_uri = model_uri
        self.every_seconds = every_seconds
        self.on_change = on_change
        self.on_failure = on_failure  # told the failure when one starts or ends
        self.last_error: str | None = None
        self.checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> bool:
        """Load the model the alias names if it is not the one served; True when it changed."""
        self.checks += 1
        state = self.holder.state
        if state is not None:
            now = registered_version(state.uri)
            if now is None or now == state.version:
                self._report(None)  # the alias is (back) on the version served
                return False
            failure = self.holder.failure
            if failure is not None and failure.version == now:
                return False  # known not to load: reported once, not retried every period
        try:
            previous, new = self.holder.load(self.model_uri)
        finally:
            self._report(self.holder.failure)
        log.info("registry moved %s from version %s to %s: now serving it", new.uri, previous, new.version)
        if self.on_change is not None:
            self.on_change(new, previous)
        return True

    def _report(self, failure: LoadFailure | None) -> None:
        self.holder.failure = failure
        if self.on_failure is not None:
            self.on_failure(failure)

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                self.check()
                self.last_error = None
            except Exception as exc:  # NoModelError & co., MLflow's own errors: keep serving
                message = first_line(exc)
                if message != self.last_error:  # once per new reason, not every period
                    log.warning("champion watcher: %s (still serving version %s)", message, self._served())
                self.last_error = message

    def _served(self) -> str | None:
        state = self.holder.state
        return state.version if state else None
