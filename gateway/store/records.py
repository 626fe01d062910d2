"""OpBatch builders for each message state change: the one place in Python message events are
composed (the `accepted` event included: `accept_row` builds it for accept.lua). Two kinds of
event are composed in Lua instead, where the state they report is read: a receipt's final
event (`delivered`, `undelivered`, ... by `finish()` in apply.lua, as the receipt is matched
to its message inside the call) and the receipt timeout's `expired` (expire_receipts.lua).

Each builder adds one apply.lua domain op that does, atomically: the hash update, the event on
the events stream and the history (the JSON built here once), and the bookkeeping that makes
the change durable (deferred set, indexes, stream ack). Handing the batch to the StateWriter
applies it with the others of the same tick in one script call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.json_text import compact_ascii
from gateway.messages import Status, event_json, iso_ts
from gateway.store.keys import Keys
from gateway.store.state_store import OpBatch, Scope


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordContext:
    """What every record needs besides the message."""

    keys: Keys
    group: str
    events_maxlen: int
    ttl: int
    scope: Scope = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scope = Scope(self.keys.prefix, self.keys.events, self.events_maxlen, self.ttl,
                      self.keys.outbound, self.group)  # fmt: skip
        object.__setattr__(self, "scope", scope)


@dataclass(slots=True, kw_only=True)
class Origin:
    """Where a message under work came from: a stream entry to ack, or the deferred set.

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    message_id: str
    entry_id: str | None
    from_deferred: bool


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
    data = event_json(message_id, status, now, carrier=carrier, attempt=attempt,
                      error_code=code, error_reason=reason)  # fmt: skip
    batch.final(ctx.scope, message_id, status.value, now, code=code, reason=reason, event=data,
                entry_id=origin.entry_id, from_deferred=origin.from_deferred)  # fmt: skip


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
    batch.rejected(ctx.scope, message_id, entry_id, now, code=code, reason=reason, event=data)


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
    data = event_json(
        message_id, Status.deferred, now, attempt=attempt, error_code=code, error_reason=reason
    )
    batch.deferred(ctx.scope, message_id, now, attempt=attempt, due=due, due_iso=iso_ts(due),
                   event=data, entry_id=origin.entry_id, extra=extra or {})  # fmt: skip


def accept_row(message_id: str, entry_id: str, payload: str, destination: str,
               now: float) -> list[str]:  # fmt: skip
    """accept.lua's five words for one message: id, entry id, payload, the `accepted` event
    (written only if the id is new), destination."""
    return [message_id, entry_id, payload, event_json(message_id, Status.accepted, now),
            destination]  # fmt: skip


def record_inflight(batch: OpBatch, ctx: RecordContext, message_id: str, carrier: str,
                    ref: int, parts: int, destination: str) -> None:  # fmt: skip
    """Written (durably) before the first byte of a submit goes out: a process that dies
    after this line leaves a record that says the outcome may be unknown. The destination's
    in-flight index keeps receipts from settling another message held for it meanwhile."""
    batch.inflight(ctx.scope, message_id, carrier, ref, parts, destination)


def record_not_sent(batch: OpBatch, ctx: RecordContext, message_id: str) -> None:
    """The in-flight mark taken back: nothing of the submit left this process (a drain at
    shutdown stopped it first), so the message is as it was before the mark."""
    batch.not_sent(ctx.scope, message_id)


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
    joined = ",".join(carrier_ids)
    parts = len(carrier_ids)
    data = event_json(message_id, Status.submitted, now, carrier=carrier,
                      carrier_message_id=joined, parts=parts, attempt=attempt)  # fmt: skip
    batch.submitted(
        ctx.scope, message_id, now, carrier=carrier, joined=joined,
        cids=compact_ascii(list(carrier_ids)), parts=parts, attempt=attempt, event=data,
        receipt_due=receipt_due, entry_id=origin.entry_id, from_deferred=origin.from_deferred,
        id_keys=id_keys,
    )  # fmt: skip


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
    batch.partial(ctx.scope, message_id, carrier, compact_ascii(list(carrier_ids)), id_keys)


def record_unknown_outcome(
    batch: OpBatch, ctx: RecordContext, message_id: str, carrier: str, destination: str
) -> None:
    """Index a held outcome-unknown message by destination so a receipt can resolve it, and
    apply a receipt for that destination that came first. Put it after the `deferred`
    record in the batch: a receipt applied here makes the message final."""
    batch.hold(ctx.scope, message_id, carrier, destination)


def record_receipt(
    batch: OpBatch, ctx: RecordContext, carrier: str, candidates: Sequence[str], state: str,
    *, final: bool, error_code: str, ts: str, destination: str, orphan_due: float | None = None,
    alternative: str = "",
) -> None:  # fmt: skip
    """A delivery receipt from `destination`, looked up under `candidates` (most preferred
    first); its result word says what it did (apply.lua). `alternative` is its other address
    when that is a number too (the handset, if the SMSC did not swap them), tried by
    destination when `destination` finds no message. With `orphan_due` (shards), one parked
    unmatched is also indexed for the orphan sweep to try in the other shards then."""
    batch.apply_receipt(ctx.scope, carrier, candidates, state, final, error_code, ts,
                        destination, orphan_due, alternative)  # fmt: skip


FINAL_STATUSES = frozenset({"delivered", "undelivered", "expired"})
"""The final statuses a receipt gives a message (apply.lua's result words)."""


@dataclass(frozen=True, slots=True)
class Settled:
    """A result of apply.lua saying a receipt finished its message."""

    status: str
    submitted_at: str  # epoch seconds of the accepted submit, or "" if unknown
    message_id: str
    early: bool  # the receipt came before the write that applied it


@functools.lru_cache(maxsize=1)
def settled(result: str) -> Settled | None:
    """Read '<status> <submitted_at> <msg>' (a receipt that finished its message) or the same
    behind 'early:' (one parked until its submit was recorded); None for any other result.

    Memoised for the last result: each receipt's is read twice in a row, for its metrics
    (EngineObserver.receipt_applied) and for its log line, and a Settled is immutable."""
    early = result.startswith("early:")
    status, _, rest = result.removeprefix("early:").partition(" ")
    if status not in FINAL_STATUSES:
        return None
    submitted_at, _, message_id = rest.partition(" ")
    return Settled(status, submitted_at, message_id, early)
