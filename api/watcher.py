"""``ChampionWatcher`` closes the retrain -> serve loop.

Every worker checks, every ``API_MODEL_REFRESH_SECONDS``, which version the registry alias names,
and loads it when it moved. Each worker process runs its own watcher, so all of them switch within
that bound, and the swap is the same atomic one as ``/admin/reload``'s: no request is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from api.loading import ModelHolder
from api.periodic import Periodic
from api.state import LoadFailure
from data_engineering.src.messages import first_line
from data_science.tracking import registered_version

log = logging.getLogger("api.watcher")


class ChampionWatcher(Periodic):
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
        super().__init__(every_seconds, name="champion-watcher")
        self.holder = holder
        self.model_uri = model_uri
        self.on_change = on_change
        self.on_failure = on_failure  # told the failure when one starts or ends
        self.last_error: str | None = None
        self.checks = 0

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

    def tick(self) -> None:
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
