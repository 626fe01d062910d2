"""Submitted messages whose final receipt never came: settled `expired`, code receipt_timeout.

`record_submitted` puts a message in the receipt-due set (score: submitted + the carrier's
`receipt_timeout`) when its carrier's `registered_delivery` asks for a receipt on every final
outcome; a final receipt takes it out (apply.lua finish()). The engine's `receipt_timeout`
task runs expire_receipts.lua every `engine.scheduler_interval` seconds: one atomic call
settles up to `SWEEP_BATCH` due messages, so several instances may sweep at once.

`expired`, not `undelivered`: we did not learn that the handset never got the message (after a
carrier crash it often did), only that the carrier never told us within its validity period,
which is what SMPP's EXPIRED state says. A receipt that comes later is a duplicate: the message
is final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Protocol

import structlog

from gateway.ops.final_log import log_final
from gateway.store.records import RecordContext
from gateway.store.state_store import StateStore

log = structlog.get_logger()

CODE: Final = "receipt_timeout"
REASON: Final = "no final delivery receipt within the carrier's receipt_timeout"
SWEEP_BATCH: Final = 500


class TimeoutObserver(Protocol):
    def receipt_timed_out(self, carrier: str, handset: str) -> None: ...


async def expire_due(
    store: StateStore, ctx: RecordContext, observer: TimeoutObserver, now: float,
    limit: int = SWEEP_BATCH,
) -> int:  # fmt: skip
    """Settle the messages due by `now` (up to `limit` ids); returns how many were taken."""
    taken, settled = await store.expire_receipts(
        now, limit, code=CODE, reason=REASON, maxlen=ctx.events_maxlen, ttl=ctx.ttl
    )
    for message in settled:
        observer.receipt_timed_out(message.carrier, message.dest)
        log_final(message.id, "expired", reason="receipt_timeout", carrier=message.carrier)
    return taken


async def expire_forever(
    store: StateStore, ctx: RecordContext, observer: TimeoutObserver, *,
    interval: float, clock: Callable[[], float],
) -> None:  # fmt: skip
    """The engine task: sweep, and sleep `interval` unless a full batch says more are due."""
    while True:
        if await expire_due(store, ctx, observer, clock()) < SWEEP_BATCH:
            await asyncio.sleep(interval)
