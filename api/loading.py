"""Loading the model the registry names into a ``ServingState``, and the holder that swaps it in."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from api.schemas import ModelInfo
from api.state import LoadFailure, ServingState

log = logging.getLogger("api.loading")


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
