"""Receipts parked in the wrong shard, tried in the others (with `streams.shards` > 1).

A receipt goes to the shard of the handset it names (its source_addr, read back to E.164:
gateway/carrier/handset.py), as the message it reports on lives in its recipient's shard. An
SMSC that does not swap a receipt's addresses names the sender instead, and some write the
handset in a way no parser can read back: their receipts land in a shard where none of their
ids is mapped. apply.lua parks such a receipt there (as it parks one that beat its
submit_sm_resp) and, with shards, also indexes it in the shard's `orphans` set, due
`grace` seconds later (the carrier's response timeout and a second: time enough for its
submit_sm_resp to be recorded, if the message is in this shard after all).

This task, one per shard and instance, takes the due orphans of its shard every
`engine.scheduler_interval` (claim_orphans.lua: atomic, so each is taken once whichever
instances sweep, and one applied meanwhile is dropped) and tries each in every other shard at
once (apply.lua op `orphan`): by its ids, and by destination for its other address when
that is a number (the handset, if the SMSC did not swap them: it settles the one message held
there for it, whose submit_sm_resp never came); never parked again. The shard where it
matches applies it; the others answer 'unmatched' (counted in
`smsgw_receipts_rerouted_total` and, as it was unmatched on arrival,
`smsgw_receipts_matched_late_total`; one log line a sweep per carrier), and the orphan is then
dropped from its own shard (op `unpark`).

Taking an orphan does not remove it: claim_orphans.lua makes it due again, as long after as it
has been parked. One found nowhere (its submit_sm_resp recorded later than its grace, after a
Redis outage say) is tried again at 2, 4, 8... times its grace until its 10 minutes of parking
run out; then its message ends as a receipt that never came does (expired after its
receipt_timeout). An instance that dies between taking orphans and trying them costs them one
wait, not their try, and so does a shard that cannot answer (its master down): its part of the
try counts as 'unmatched' and the outage is its own tasks' to report, not this shard's.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import structlog

from gateway.engine.shard_state import ShardState
from gateway.errors import QueueUnavailableError
from gateway.ops.final_log import log_settled
from gateway.store.records import settled
from gateway.store.state_store import OpBatch, Orphan

log = structlog.get_logger()

SWEEP_BATCH: Final = 200
MIN_RETRY: Final = 1.0  # seconds: the least an orphan waits between two tries


class OrphanObserver(Protocol):
    def receipt_applied(self, carrier: str, result: str, receipt: None, handset: str) -> None: ...
    def receipts_rerouted(self, carrier: str, count: int) -> None: ...


async def reroute_due(
    home: ShardState, shards: Sequence[ShardState], observer: OrphanObserver, now: float,
    limit: int = SWEEP_BATCH,
) -> int:  # fmt: skip
    """Try the orphans of `home` due by `now` (up to `limit`) in every other shard; returns
    how many were taken."""
    orphans = await home.store.claim_orphans(now, limit, MIN_RETRY)
    if not orphans:
        return 0
    others = [shard for shard in shards if shard is not home]
    tries = await asyncio.gather(*(_try_in(s, orphans) for s in others), return_exceptions=True)
    answers = [
        _answers(shard, tried, len(orphans)) for shard, tried in zip(others, tries, strict=True)
    ]
    rerouted: Counter[str] = Counter()
    found = OpBatch()
    for position, orphan in enumerate(orphans):
        for results in answers:
            result = results[position]
            if result == "unmatched":
                continue
            found.unpark(home.ctx.scope, orphan)
            rerouted[orphan.carrier] += 1
            observer.receipt_applied(orphan.carrier, result, None, "")
            if (done := settled(result)) is not None:
                log_settled(done, orphan.carrier, orphan.error_code)
    if found.args:
        await home.receipt_writer.write(found)
    for carrier, count in rerouted.items():  # one line a sweep: a carrier may send thousands
        observer.receipts_rerouted(carrier, count)
        log.info("receipts_rerouted", carrier=carrier, count=count, from_shard=home.index,
                 tried=len(orphans))  # fmt: skip
    return len(orphans)


def _answers(shard: ShardState, tried: Sequence[str] | BaseException, count: int) -> Sequence[str]:
    """A shard's results for the orphans tried in it; all 'unmatched' when it cannot answer
    (they are due again later: claim_orphans.lua)."""
    if isinstance(tried, QueueUnavailableError):
        log.debug("orphans_not_tried", shard=shard.index, error=str(tried))
        return ["unmatched"] * count
    if isinstance(tried, BaseException):
        raise tried
    return tried


async def _try_in(shard: ShardState, orphans: Sequence[Orphan]) -> Sequence[str]:
    batch = OpBatch()
    for orphan in orphans:
        batch.apply_orphan(shard.ctx.scope, orphan)
    return await shard.receipt_writer.write(batch)


async def reroute_forever(
    home: ShardState, shards: Sequence[ShardState], observer: OrphanObserver, *,
    interval: float, clock: Callable[[], float],
) -> None:  # fmt: skip
    """The engine task of shard `home`: sweep, and sleep `interval` unless a full batch says
    more are due."""
    while True:
        if await reroute_due(home, shards, observer, clock()) < SWEEP_BATCH:
            await asyncio.sleep(interval)
