"""OpBatch builders for each message state change (the only place events are composed).

Each builder adds, in one batch: the hash update, the event on the events stream, the history
entry, and the bookkeeping that makes the change durable (deferred set, stream ack). Handing
the batch to the StateWriter applies it atomically with the others of the same tick.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.keys import Keys
from gateway.messages import Status, event_json, iso_ts
from gateway.state_store import OpBatch


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordContext:
    """What every record needs besides the message."""

    keys: Keys
    group: str
    events_maxlen: int
    ttl: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a message under work came from: a stream entry to ack, or the deferred set."""

    message_id: str
    entry_id: str | None
    from_deferred: bool


def _settle(batch: OpBatch, ctx: RecordContext, origin: Origin, *, keep_deferred: bool) -> None:
    """What settles whatever the message's state: the stream ack, the deferred set, and its
    destination's in-flight and held indexes (K re-adds a message being held)."""
    batch.settle_indexes(ctx.keys.prefix, origin.message_id)
    if origin.entry_id is not None:
        batch.ack(ctx.keys.outbound, ctx.group, origin.entry_id)
    if origin.from_deferred and not keep_deferred:
        batch.zrem(ctx.keys.deferred, origin.message_id)


def _event(batch: OpBatch, ctx: RecordContext, message_id: str, data: str) -> None:
    batch.xadd(ctx.keys.events, ctx.events_maxlen, data)
    batch.history(ctx.keys.history(message_id), data, ctx.ttl)


def record_final(
    batch: OpBatch,
    ctx: RecordContext,
    origin: Origin,
    status: Status,
    now: float,
    *,
    code: str | None,
    reason: str | None,
    carrier: str | None = None,
    attempt: int | None = None,
) -> None:
    """A final status decided by the engine (rejected, suppressed, expired, failed)."""
    message_id = origin.message_id
    fields: dict[str, str | int | float] = {"status": status.value, "ts": now, "inflight": ""}
    if code is not None:
        fields["error_code"] = code
    if reason is not None:
        fields["error_reason"] = reason
    with batch.guarded(ctx.keys.message(message_id), "open"):
        batch.hset(ctx.keys.message(message_id), fields)
        batch.expire(ctx.keys.message(message_id), ctx.ttl)
        data = event_json(
            message_id,
            status,
            now,
            carrier=carrier,
            attempt=attempt,
            error_code=code,
            error_reason=reason,
        )
        _event(batch, ctx, message_id, data)
    _settle(batch, ctx, origin, keep_deferred=False)


def record_rejected_entry(
    batch: OpBatch, ctx: RecordContext, entry_id: str, message_id: str | None, now: float,
    *, code: str, reason: str,
) -> None:  # fmt: skip
    """Bad input on the queue: a rejected event naming the stream entry, a state hash, and
    the entry acked. With no readable id, the entry id stands for it. The hash (and history)
    is written only when none exists, so a bad entry never overwrites the record of a good
    message with the same id."""
    message_id = message_id or entry_id
    data = event_json(message_id, Status.rejected, now, error_code=code, error_reason=reason,
                      entry_id=entry_id)  # fmt: skip
    batch.xadd(ctx.keys.events, ctx.events_maxlen, data)
    key = ctx.keys.message(message_id)
    with batch.guarded(key, "absent"):
        batch.hset(key, {"status": Status.rejected.value, "ts": now, "entry": entry_id,
                         "error_code": code, "error_reason": reason})  # fmt: skip
        batch.expire(key, ctx.ttl)
        batch.history(ctx.keys.history(message_id), data, ctx.ttl)
    batch.ack(ctx.keys.outbound, ctx.group, entry_id)


def record_deferred(
    batch: OpBatch,
    ctx: RecordContext,
    origin: Origin,
    now: float,
    due: float,
    *,
    code: str,
    reason: str,
    attempt: int,
    extra: dict[str, str | int | float] | None = None,
) -> None:
    """Park the message in the deferred set until `due` (survives restarts), then ack it."""
    message_id = origin.message_id
    fields: dict[str, str | int | float] = {
        "status": Status.deferred.value,
        "ts": now,
        "attempt": attempt,
        "inflight": "",
        "due": iso_ts(due),
    }
    fields.update(extra or {})
    with batch.guarded(ctx.keys.message(message_id), "open"):
        batch.hset(ctx.keys.message(message_id), fields)
        batch.zadd(ctx.keys.deferred, due, message_id)
        data = event_json(
            message_id, Status.deferred, now, attempt=attempt, error_code=code, error_reason=reason
        )
        _event(batch, ctx, message_id, data)
    _settle(batch, ctx, origin, keep_deferred=True)


def record_inflight(batch: OpBatch, ctx: RecordContext, message_id: str, carrier: str,
                    ref: int, parts: int, destination: str) -> None:  # fmt: skip
    """Written (durably) before the first byte of a submit goes out: a process that dies
    after this line leaves a record that says the outcome may be unknown. The destination's
    in-flight index keeps receipts from settling another message held for it meanwhile."""
    batch.hset(
        ctx.keys.message(message_id),
        {"inflight": carrier, "ref": ref, "parts": parts, "carrier": carrier, "dest": destination},
    )
    batch.sadd(ctx.keys.inflight(destination), message_id, ctx.ttl)


def record_not_sent(batch: OpBatch, ctx: RecordContext, message_id: str) -> None:
    """The in-flight mark taken back: nothing of the submit left this process (a drain at
    shutdown stopped it first), so the message is as it was before the mark."""
    batch.settle_indexes(ctx.keys.prefix, message_id)
    with batch.guarded(ctx.keys.message(message_id), "open"):
        batch.hset(ctx.keys.message(message_id), {"inflight": ""})


def record_submitted(
    batch: OpBatch,
    ctx: RecordContext,
    origin: Origin,
    now: float,
    *,
    carrier: str,
    carrier_ids: Sequence[str],
    id_keys: Sequence[Sequence[str]],
    attempt: int,
    receipt_due: float | None = None,
) -> None:
    """Every part accepted by the carrier: submitted, ids mapped for receipts, entry acked.

    With `receipt_due` (CarrierConfig.receipt_deadline) the id goes into the receipt-due set
    until a final receipt removes it (apply.lua finish()) or, when none came by then,
    expire_receipts.lua settles it `expired` (code receipt_timeout). It is added before the
    ids are mapped: a receipt that came first is applied by the mapping and must find it."""
    message_id = origin.message_id
    with batch.guarded(ctx.keys.message(message_id), "open"):
        _submitted_state(batch, ctx, message_id, now, carrier, carrier_ids, attempt)
        if receipt_due is not None:
            batch.zadd(ctx.keys.receipt_due, receipt_due, message_id)
    ts = iso_ts(now)
    for part, keys in enumerate(id_keys):
        for key in keys:
            batch.map_carrier_id(
                ctx.keys.prefix, carrier, key, message_id, part, ctx.ttl,
                ctx.keys.events, ctx.events_maxlen, ts,
            )  # fmt: skip
    _settle(batch, ctx, origin, keep_deferred=False)


def _submitted_state(
    batch: OpBatch, ctx: RecordContext, message_id: str, now: float, carrier: str,
    carrier_ids: Sequence[str], attempt: int,
) -> None:  # fmt: skip
    joined = ",".join(carrier_ids)
    batch.hset(
        ctx.keys.message(message_id),
        {
            "status": Status.submitted.value,
            "ts": now,
            "submitted_at": now,
            "carrier": carrier,
            "carrier_message_id": joined,
            "cids": json.dumps(list(carrier_ids)),
            "parts": len(carrier_ids),
            "attempt": attempt,
            "inflight": "",
            "outcome": "",
        },
    )
    data = event_json(
        message_id,
        Status.submitted,
        now,
        carrier=carrier,
        carrier_message_id=joined,
        parts=len(carrier_ids),
        attempt=attempt,
    )
    _event(batch, ctx, message_id, data)


def record_partial(
    batch: OpBatch,
    ctx: RecordContext,
    message_id: str,
    now: float,
    *,
    carrier: str,
    carrier_ids: Sequence[str | None],
    id_keys: Sequence[Sequence[str]],
) -> None:
    """Parts already accepted before a failure: map their ids so their receipts still match,
    and remember them so a retry sends only the missing parts."""
    batch.hset(ctx.keys.message(message_id), {"cids": json.dumps(list(carrier_ids))})
    ts = iso_ts(now)
    for part, keys in enumerate(id_keys):
        for key in keys:
            batch.map_carrier_id(
                ctx.keys.prefix, carrier, key, message_id, part, ctx.ttl,
                ctx.keys.events, ctx.events_maxlen, ts,
            )  # fmt: skip


def record_unknown_outcome(
    batch: OpBatch, ctx: RecordContext, message_id: str, carrier: str, destination: str
) -> None:
    """Index a held outcome-unknown message by destination so a receipt can resolve it, and
    apply a receipt for that destination that came first. Put it after the `deferred`
    record in the batch: a receipt applied here makes the message final."""
    with batch.guarded(ctx.keys.message(message_id), "open"):
        batch.hset(ctx.keys.message(message_id), {"outcome": "unknown", "carrier": carrier})
    batch.hold_unknown(
        ctx.keys.prefix, carrier, destination, message_id, ctx.ttl, ctx.keys.events,
        ctx.events_maxlen,
    )  # fmt: skip
