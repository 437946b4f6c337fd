"""The micro-batcher: single bookings that arrive together are scored in one call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from api.loading import ModelHolder
from api.scoring import BookingAnswer, answer_bookings
from api.state import NoModelLoadedError


class MicroBatcher:
    """BookingAnswer-booking requests that arrive together are validated and scored together.

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
        self._pending: list[tuple[dict[str, Any], asyncio.Future[BookingAnswer]]] = []
        self._scheduled = False
        self._seen = 0  # pending bookings at the previous turn
        self._turns = 0

    def submit(self, booking: dict[str, Any]) -> asyncio.Future[BookingAnswer]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BookingAnswer] = loop.create_future()
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
        state = self.holder.state  # one model for the whole batch, even if a reload swaps it now
        try:
            if state is None:
                raise NoModelLoadedError("no model loaded yet")
            if self.on_batch is not None:
                self.on_batch(len(batch))
            answers = answer_bookings(state, [booking for booking, _ in batch], self.top)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)
