"""The life of one message inside the engine, from accepted to submitted or a final status.

For each message: expired? scheduled for later? then the compliance verdict (numbers, sender,
quiet hours, opt-outs, caps), a route, the carrier's encoding, the carrier's shared rate, a
durable "in flight" mark, the submits, and one record of what happened. Retries, deferrals and
held outcomes go to the deferred set, so every decision survives a restart.

Outcome-unknown submits (no response: timeout or connection lost, or a process that died after
marking the message in flight) are never blindly resent. Per carrier `on_unknown_outcome`:
`hold` (default) parks the message for `engine.unknown_outcome_hold` seconds, indexed by
destination, so the carrier's receipt can still resolve it; if nothing comes it fails with
`outcome_unknown`. `resend` treats it as a transient error and sends again (a duplicate is
possible; that is the carrier's documented trade-off).

Stopping (`stop()`, at SIGTERM): no new submit starts. Work waiting for the carrier's rate
is cancelled, a submit that had not left this process takes its in-flight mark back, and the
message is left as it was — its stream entry pending, or its deferred lease running — for
the next instance. Only submits already on the wire are waited for and recorded.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import structlog

from common.json_text import compact_ascii
from compliance.encoding import EncodedMessage, TooManyPartsError
from compliance.policy import Prepared
from compliance.segment import encode_message
from compliance.verdict import Outcome, Verdict
from gateway.carrier.bind import Bind
from gateway.carrier.pool import Carrier, CarrierPool
from gateway.carrier.receipts import candidate_ids
from gateway.engine.outcomes import (
    Attempt,
    Decision,
    Fail,
    Failover,
    Hold,
    Retry,
    Submitted,
    fold_answers,
    judge_attempt,
    retry_later,
)
from gateway.engine.plan import (
    Admit,
    Defer,
    Finish,
    PlanContext,
    Rules,
    due_now,
    fit_reference,
    plan_message,
    refusal,
)
from gateway.messages import OutboundMessage, Status
from gateway.ops.final_log import log_final, log_settled
from gateway.smpp.pdu import SubmitSm
from gateway.store.records import (
    Origin,
    RecordContext,
    record_deferred,
    record_final,
    record_inflight,
    record_not_sent,
    record_partial,
    record_submitted,
    record_unknown_outcome,
    settled,
)
from gateway.store.state_store import OpBatch, StateWriter

if TYPE_CHECKING:
    from gateway.engine.shard_state import ShardState
from routing.errors import NoCarrierAvailableError, NoRouteError
from routing.model import RoutingTable
from routing.retry import Disposition, RetryPolicy
from routing.select import select_carriers

log = structlog.get_logger()

MAX_THROTTLED_ROUNDS = 20


class Gate(Rules, Protocol):
    """The compliance policy as the dispatcher uses it: checks without shared state
    (`prepare`, in the plan), then the shared-state checks (`admit`: one store call)."""

    async def admit(self, prepared: Prepared) -> Verdict: ...
    async def admit_many(self, prepared: Sequence[Prepared]) -> list[Verdict]: ...


class DispatchObserver(Protocol):
    """Metrics hooks (implemented in gateway/ops/engine_metrics.py)."""

    def stage(self, stage: str, since: float) -> None: ...
    def finished(
        self, status: Status, carrier: str | None, reason: str | None, country: str | None = None
    ) -> None: ...
    def submitted(
        self, carrier: str, parts: int, encoding: str, queued_seconds: float,
        country: str | None = None,
    ) -> None: ...  # fmt: skip
    def submit_answered(self, carrier: str, command_status: int, seconds: float) -> None: ...
    def retried(self, carrier: str | None, reason: str) -> None: ...
    def throttled(self, carrier: str) -> None: ...
    def receipt_matched_late(self, carrier: str) -> None: ...
    def throttle_waited(self, carrier: str, seconds: float) -> None: ...
    def verdict(self, outcome: str, reason: str) -> None: ...


@dataclass(slots=True, kw_only=True)
class Work:
    """One message under work and what earlier attempts left behind."""

    message: OutboundMessage
    entry_id: str | None
    enqueued_at: float
    attempt: int = 0
    inflight: str = ""
    outcome: str = ""
    ref: int | None = None
    cids: list[str | None] | None = None
    dest: str = ""
    from_deferred: bool = False
    excluded: frozenset[str] = frozenset()
    failover: tuple[str, str, str] | None = None  # (code, detail, carrier) of the last failover
    country: str | None = None  # the destination's country, once compliance has parsed it
    # the shard the message came from, where all its state is written (None: the engine's
    # only shard, the Dispatcher's own ctx and writer)
    shard: ShardState | None = None

    @property
    def origin(self) -> Origin:
        return Origin(
            message_id=self.message.id, entry_id=self.entry_id, from_deferred=self.from_deferred
        )


class StoppedError(Exception):
    """Raised inside `process` when stopping reaches a message before its submit left."""


@dataclass(slots=True, kw_only=True)
class Dispatcher:
    """The per-message path: `process(work)` for messages the batch path hands over
    (gateway/engine/pipeline.py); also what both paths share (records, observer)."""

    ctx: RecordContext
    writer: StateWriter
    pool: CarrierPool
    gate: Gate
    routes: RoutingTable
    default_retry: RetryPolicy
    observer: DispatchObserver
    unknown_outcome_hold: float
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    _next_ref: int = 0
    _stopping: bool = False
    _waiting_for_rate: set[asyncio.Task[object]] = field(default_factory=set)

    def stop(self) -> None:
        """Start no more submits (see the module docstring); cancels work waiting for the
        carrier's rate, which has marked nothing yet."""
        self._stopping = True
        for task in list(self._waiting_for_rate):
            task.cancel()

    def is_stopping(self) -> bool:
        return self._stopping

    def ctx_of(self, work: Work) -> RecordContext:
        """What `work`'s records are written under: its shard's."""
        return self.ctx if work.shard is None else work.shard.ctx

    def writer_of(self, work: Work) -> StateWriter:
        """The writer of `work`'s shard."""
        return self.writer if work.shard is None else work.shard.writer

    async def process(self, work: Work) -> None:
        """Take one message as far as it can go now; never raises for the message's faults."""
        await self._guarded(work, self._process(work))

    async def send(self, work: Work, verdict: Verdict, plan: Admit) -> None:
        """Route and send an admitted message (the batch path hands over route errors and
        carriers that went down)."""
        await self._guarded(work, self._route_and_send(work, verdict, plan))

    async def continue_attempt(
        self, work: Work, verdict: Verdict, plan: Admit, carrier: Carrier,
        encoded: EncodedMessage, result: Attempt, *, throttled: bool,
    ) -> None:  # fmt: skip
        """Carry on with a first submit the batch path made whose answers were not all
        "accepted": as `_submit_parts` would have after its first round."""
        await self._guarded(
            work, self._continue_attempt(work, verdict, plan, carrier, encoded, result, throttled)
        )

    async def take_back(self, work: Work) -> None:
        """Stopping before the batch path's submits left: take the in-flight mark back."""
        await self._guarded(work, self._take_back(work, Attempt([])))

    async def _guarded(self, work: Work, body: Awaitable[None]) -> None:
        # bind + reset by token, as bound_contextvars() does but without its copy and scan of
        # the whole context for every message
        tokens = structlog.contextvars.bind_contextvars(message_id=work.message.id)
        try:
            await body
        except StoppedError:
            log.info("message_left_for_next_run")
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _continue_attempt(
        self, work: Work, verdict: Verdict, plan: Admit, carrier: Carrier,
        encoded: EncodedMessage, result: Attempt, throttled: bool,
    ) -> None:  # fmt: skip
        work.cids = result.cids
        if self.is_stopping() and result.not_sent and not result.unknown:
            await self._take_back(work, result, carrier)
        if throttled and result.disposition is Disposition.SUCCESS:
            self.observer.throttled(carrier.name)
            carrier.throttled()
            await asyncio.sleep(carrier.retry_pause(0))
            result = await self._submit_parts(work, verdict, carrier, encoded)
        if await self._record_attempt(work, carrier, encoded, result, verdict):
            return
        work.excluded = work.excluded | {carrier.name}
        await self._route_and_send(work, verdict, Admit(plan.prepared, (), None))

    async def _process(self, work: Work) -> None:
        now = self.clock()
        message = work.message
        timing = due_now(message, now)
        if isinstance(timing, Finish):
            await self._final(work, timing.status, timing.code, timing.detail)
            return
        if (work.inflight or work.outcome == "unknown") and await self._settle_unknown(work, now):
            return
        if work.ref is None:
            work.ref = self.next_reference()
        plan = plan_message(
            message, now, self.plan_context(), reference=work.ref, exclude=work.excluded
        )
        verdict: Verdict | None = None
        plan_after: Finish | Defer | Admit = plan
        if isinstance(plan, Admit):
            verdict = await self.gate.admit(plan.prepared)
            if verdict.outcome is not Outcome.allow:
                plan_after = refusal(verdict)
        else:
            verdict = plan.verdict
        work.country = plan_after.country
        if verdict is not None:
            self.observer.verdict(verdict.outcome.value, verdict.reason.value)
        if isinstance(plan_after, Finish):
            await self._final(work, plan_after.status, plan_after.code, plan_after.detail)
        elif isinstance(plan_after, Defer):
            await self._defer(work, plan_after.due, plan_after.code, plan_after.detail)
        elif verdict is not None:
            await self._route_and_send(work, verdict, plan_after)

    def add_submitted(
        self, batch: OpBatch, work: Work, carrier: Carrier, cids: Sequence[str], now: float
    ) -> None:
        """The record of `work` accepted by `carrier` (this attempt), into `batch`."""
        record_submitted(
            batch, self.ctx_of(work), work.origin, now,
            carrier=carrier.name, carrier_ids=cids,
            id_keys=[candidate_ids(c) for c in cids], attempt=work.attempt + 1,
            receipt_due=carrier.config.receipt_deadline(now),
        )  # fmt: skip

    def count_submitted(
        self, work: Work, carrier: str, encoded: EncodedMessage, applied: Sequence[str],
        now: float,
    ) -> None:  # fmt: skip
        """Metrics for a recorded submit; `applied` is what its record's write answered."""
        self.observer.submitted(carrier, len(encoded.parts), encoded.encoding.value,
                                now - work.enqueued_at, work.country)  # fmt: skip
        self.count_early(applied, carrier, work.country)

    def plan_context(self) -> PlanContext:
        """What `plan_message` needs from the dispatcher's world, as of now."""
        return PlanContext(
            policy=self.gate,
            routes=self.routes,
            is_available=self.pool.is_available,
            profile=lambda name: self.pool.get(name).profile,
            rng=self.rng,
        )

    async def _route_and_send(self, work: Work, verdict: Verdict, plan: Admit) -> None:
        """Send on the planned route; fail over along it (re-routing without the carriers
        already tried) until a carrier takes or finally refuses the message."""
        destination = verdict.destination_addr or ""
        carriers, encoded, error = plan.carriers, plan.encoded, plan.route_error
        while True:
            if error is None and not carriers:
                try:
                    carriers = tuple(select_carriers(
                        self.routes,
                        destination=destination,
                        country=verdict.country,
                        is_available=self.pool.is_available,
                        rng=self.rng,
                        exclude=work.excluded,
                    ))  # fmt: skip
                except (NoCarrierAvailableError, NoRouteError) as failed:
                    error = failed
            if isinstance(error, NoCarrierAvailableError):
                if work.failover is not None and self._route_exhausted(work, verdict):
                    code, detail, name = work.failover
                    reason = f"{detail}; no other carrier on the route takes it"
                    await self._final(work, Status.failed, code, reason, carrier=name)
                    return
                await self._retry_later(work, "no_carrier_available", str(error),
                                        self.default_retry)  # fmt: skip
                return
            if error is not None:
                await self._final(work, Status.failed, "no_route", str(error))
                return
            carrier = self.pool.get(carriers[0])
            if await self._send_on(work, verdict, carrier, encoded):
                return
            work.excluded = work.excluded | {carrier.name}
            carriers, encoded = (), None

    def _route_exhausted(self, work: Work, verdict: Verdict) -> bool:
        """True when every carrier of the route already failed this message over, so waiting
        for a bind to come back cannot help (as opposed to carriers that are only down)."""
        try:
            select_carriers(
                self.routes,
                destination=verdict.destination_addr or "",
                country=verdict.country,
                is_available=lambda _: True,
                rng=self.rng,
                exclude=work.excluded,
            )
        except NoCarrierAvailableError:
            return True
        return False

    async def _send_on(
        self, work: Work, verdict: Verdict, carrier: Carrier, encoded: EncodedMessage | None
    ) -> bool:
        """Submit on `carrier` (`encoded`: the text as planned for it, if it was); False means
        "fail over to the next carrier"."""
        if encoded is None:
            message = work.message
            reference = fit_reference(work.ref or self.next_reference(), carrier.profile)
            try:
                encoded = encode_message(message.text, carrier.profile, reference=reference)
            except TooManyPartsError as error:
                await self._final(work, Status.rejected, "too_many_parts", str(error))
                return True
            limit = verdict.max_parts or carrier.profile.max_parts
            if len(encoded.parts) > limit:
                detail = f"{len(encoded.parts)} parts, the limit for this destination is {limit}"
                await self._final(work, Status.rejected, "too_many_parts", detail)
                return True
        if work.cids is None or len(work.cids) != len(encoded.parts):
            work.cids = [None] * len(encoded.parts)
        result = await self._submit_parts(work, verdict, carrier, encoded)
        return await self._record_attempt(work, carrier, encoded, result, verdict)

    async def _submit_parts(
        self, work: Work, verdict: Verdict, carrier: Carrier, encoded: EncodedMessage
    ) -> Attempt:
        cids = list(work.cids or [])
        result = Attempt(cids)
        marked = False
        for _ in range(MAX_THROTTLED_ROUNDS):
            todo = [i for i, cid in enumerate(cids) if cid is None]
            bind = carrier.pick_bind()
            if bind is None:
                result.not_sent = True
                result.disposition = Disposition.FAILOVER
                result.detail = "no bind up"
                return result
            await self.wait_for_rate(carrier, len(todo))
            if not marked:  # in flight from here: a crash now leaves the outcome unknown
                await self._mark_inflight(work, verdict, carrier, len(encoded.parts))
                marked = True
            if self.is_stopping():
                await self._take_back(work, result)
            started = time.perf_counter()
            answers = await _submit_all(
                bind, [submit_sm(verdict, carrier, encoded, i) for i in todo]
            )
            elapsed = time.perf_counter() - started
            throttled = self.collect(result, carrier, todo, answers, elapsed)
            if self.is_stopping() and result.not_sent and not result.unknown:
                await self._take_back(work, result, carrier)
            if not throttled or result.disposition is not Disposition.SUCCESS:
                return result
            self.observer.throttled(carrier.name)
            carrier.throttled()
            await asyncio.sleep(carrier.retry_pause(_))  # 0 while the carrier's bucket paces
        result.disposition = Disposition.RETRY
        result.detail = "still throttled after repeated rounds"
        return result

    async def wait_for_rate(self, carrier: Carrier, tokens: int) -> None:
        """The carrier's shared rate; `stop()` cancels the wait (nothing is marked yet)."""
        if self.is_stopping():
            raise StoppedError
        task: asyncio.Task[object] | None = asyncio.current_task()
        if task is not None:
            self._waiting_for_rate.add(task)
        waited_from = time.perf_counter()
        try:
            await carrier.acquire(tokens)
        except asyncio.CancelledError:
            if self.is_stopping() and task is not None and task.uncancel() == 0:
                raise StoppedError from None
            raise
        finally:
            if task is not None:
                self._waiting_for_rate.discard(task)
        self.observer.throttle_waited(carrier.name, time.perf_counter() - waited_from)

    async def _take_back(self, work: Work, result: Attempt, carrier: Carrier | None = None) -> None:
        """Stopping, and what is left of the submit never left this process: keep the parts
        the carrier accepted (so only the others are sent next time), take the in-flight mark
        back, and leave the message for the next run."""
        batch = OpBatch()
        if carrier is not None and any(c is not None for c in result.cids):
            id_keys = [candidate_ids(c) if c else () for c in result.cids]
            record_partial(batch, self.ctx_of(work), work.message.id, self.clock(),
                           carrier=carrier.name, carrier_ids=result.cids,
                           id_keys=id_keys)  # fmt: skip
        record_not_sent(batch, self.ctx_of(work), work.message.id)
        await self.writer_of(work).write(batch)
        raise StoppedError

    def count_early(self, results: Sequence[str], carrier: str, country: str | None) -> None:
        """Count receipts that arrived before the write that applied them (apply.lua answers
        'early', or 'early:<status>' when the receipt finished the message): each was counted
        unmatched on arrival, and is now matched late."""
        for result in results:
            if not result.startswith("early"):
                continue
            self.observer.receipt_matched_late(carrier)
            done = settled(result)
            if done is not None:
                self.observer.finished(Status(done.status), carrier, None, country)
                log_settled(done, carrier)

    async def _mark_inflight(
        self, work: Work, verdict: Verdict, carrier: Carrier, parts: int
    ) -> None:
        batch = OpBatch()
        record_inflight(batch, self.ctx_of(work), work.message.id, carrier.name, work.ref or 0,
                        parts, verdict.destination_addr or "")  # fmt: skip
        await self.writer_of(work).write(batch)

    def collect(
        self,
        result: Attempt,
        carrier: Carrier,
        todo: Sequence[int],
        answers: Sequence[object],
        elapsed: float,
    ) -> bool:
        """Fold one round's answers into `result`; True when some part was throttled."""
        folded = fold_answers(result, todo, answers, carrier.retry.classify)
        for status in folded.statuses:
            self.observer.submit_answered(carrier.name, status, elapsed)
        return folded.throttled

    async def _record_attempt(
        self, work: Work, carrier: Carrier, encoded: EncodedMessage, result: Attempt,
        verdict: Verdict,
    ) -> bool:  # fmt: skip
        """Carry out what the attempt's answers mean (outcomes.judge_attempt); False means
        "fail over to the next carrier"."""
        now = self.clock()
        work.cids = result.cids
        attempt = work.attempt + 1
        decision = judge_attempt(result, attempt=attempt, retry=carrier.retry,
                                 on_unknown_outcome=carrier.config.on_unknown_outcome,
                                 rng=self.rng)  # fmt: skip
        if isinstance(decision, Submitted):
            batch = OpBatch()
            self.add_submitted(batch, work, carrier, decision.cids, now)
            applied = await self.writer_of(work).write(batch)
            self.count_submitted(work, carrier.name, encoded, applied, now)
            return True
        if any(c is not None for c in result.cids):
            batch = OpBatch()
            id_keys = [candidate_ids(c) if c else () for c in result.cids]
            record_partial(batch, self.ctx_of(work), work.message.id, now, carrier=carrier.name,
                           carrier_ids=result.cids, id_keys=id_keys)  # fmt: skip
            await self.writer_of(work).write(batch)
        work.attempt = attempt
        return await self._carry_out(work, carrier, decision, verdict)

    async def _carry_out(
        self, work: Work, carrier: Carrier, decision: Decision, verdict: Verdict
    ) -> bool:
        """Record a decision other than Submitted; False means "fail over"."""
        if isinstance(decision, Hold):
            await self._hold(work, carrier, verdict.destination_addr or "", decision.detail)
        elif isinstance(decision, Failover):
            if not decision.counted:
                work.attempt -= 1  # nothing reached the carrier: not an attempt
            self.observer.retried(carrier.name, "failover")
            log.info("submit_failover", carrier=carrier.name, reason=decision.detail)
            if decision.remembered:
                work.failover = (decision.code, decision.detail, carrier.name)
            return False
        elif isinstance(decision, Fail):
            await self._final(work, Status.failed, decision.code, decision.reason,
                              carrier=carrier.name)  # fmt: skip
        elif isinstance(decision, Retry):
            await self._retry(work, decision, carrier.name)
        return True

    async def _hold(self, work: Work, carrier: Carrier, destination: str, detail: str) -> None:
        now = self.clock()
        batch = OpBatch()
        record_deferred(
            batch, self.ctx_of(work), work.origin, now, now + self.unknown_outcome_hold,
            code="outcome_unknown", reason=f"held for a receipt: {detail}",
            attempt=work.attempt, extra={"outcome": "unknown"},
        )  # fmt: skip
        record_unknown_outcome(batch, self.ctx_of(work), work.message.id, carrier.name, destination)
        self.count_early(await self.writer_of(work).write(batch), carrier.name, work.country)
        self.observer.retried(carrier.name, "outcome_unknown")

    async def _settle_unknown(self, work: Work, now: float) -> bool:
        """A message whose last submit has an unknown outcome. True when handled here."""
        carrier_name = work.inflight or ""
        policy = "hold"
        if carrier_name and carrier_name in {c.name for c in self.pool}:
            policy = self.pool.get(carrier_name).config.on_unknown_outcome
        if work.outcome == "unknown":  # the hold ran out without a receipt
            if policy == "resend":
                work.outcome = ""
                return False
            await self._final(work, Status.failed, "outcome_unknown",
                              "no submit_sm_resp and no receipt within the hold time")  # fmt: skip
            return True
        if policy == "resend":
            log.warning("inflight_resent", carrier=carrier_name)
            work.inflight = ""
            return False
        carrier = self.pool.get(carrier_name) if carrier_name else None
        if carrier is None:
            await self._final(work, Status.failed, "outcome_unknown", "carrier no longer exists")
            return True
        await self._hold(work, carrier, work.dest, "process stopped mid-submit")
        return True

    async def _retry_later(
        self, work: Work, code: str, detail: str, policy: RetryPolicy, *, carrier: str | None = None
    ) -> None:
        decision = retry_later(work.attempt, code, detail, policy, self.rng)
        if isinstance(decision, Fail):
            await self._final(work, Status.failed, code, decision.reason, carrier=carrier)
        else:
            await self._retry(work, decision, carrier)

    async def _retry(self, work: Work, decision: Retry, carrier: str | None) -> None:
        self.observer.retried(carrier, decision.code)
        extra: dict[str, str | int | float] = {}
        if work.cids is not None:
            extra["cids"] = compact_ascii(work.cids)
        due = self.clock() + decision.delay
        await self._defer(work, due, decision.code, f"retry scheduled: {decision.detail}", extra)

    async def _defer(
        self, work: Work, due: float, code: str, reason: str,
        extra: dict[str, str | int | float] | None = None,
    ) -> None:  # fmt: skip
        batch = OpBatch()
        record_deferred(batch, self.ctx_of(work), work.origin, self.clock(), due, code=code,
                        reason=reason, attempt=work.attempt, extra=extra)  # fmt: skip
        await self.writer_of(work).write(batch)
        self.observer.finished(Status.deferred, None, code, work.country)

    async def _final(
        self, work: Work, status: Status, code: str, reason: str, *, carrier: str | None = None
    ) -> None:
        batch = OpBatch()
        record_final(batch, self.ctx_of(work), work.origin, status, self.clock(), code=code,
                     reason=reason, carrier=carrier, attempt=work.attempt or None)  # fmt: skip
        await self.writer_of(work).write(batch)
        self.observer.finished(status, carrier, code, work.country)
        log_final(work.message.id, status.value, reason=code, carrier=carrier)

    def next_reference(self) -> int:
        """A concatenation reference seed (1..65535, fitted to a carrier's 8 or 16 bits by
        plan.fit_reference): a running counter from a random start, so references for one
        recipient do not repeat in quick succession."""
        if self._next_ref == 0:
            self._next_ref = self.rng.randrange(1, 0xFFFF)
        self._next_ref = self._next_ref % 0xFFFF + 1
        return self._next_ref


async def _submit_all(bind: Bind, pdus: Sequence[SubmitSm]) -> Sequence[object]:
    """Each PDU's response or exception, in order. Most messages have one part: awaiting it
    directly spares the task that asyncio.gather would create for it."""
    if len(pdus) == 1:
        try:
            return [await bind.submit(pdus[0])]
        except Exception as error:  # noqa: BLE001 - returned like gather(return_exceptions=True)
            return [error]
    return await asyncio.gather(*(bind.submit(p) for p in pdus), return_exceptions=True)


def submit_sm(verdict: Verdict, carrier: Carrier, encoded: EncodedMessage, index: int) -> SubmitSm:
    part = encoded.parts[index]
    return SubmitSm(
        source_addr_ton=verdict.source_addr_ton or 0,
        source_addr_npi=verdict.source_addr_npi or 0,
        source_addr=verdict.source_addr or "",
        dest_addr_ton=verdict.dest_addr_ton if verdict.dest_addr_ton is not None else 1,
        dest_addr_npi=verdict.dest_addr_npi if verdict.dest_addr_npi is not None else 1,
        destination_addr=verdict.destination_addr or "",
        esm_class=part.esm_class,
        registered_delivery=carrier.config.registered_delivery,
        data_coding=encoded.data_coding,
        short_message=part.short_message,
        tlvs=dict(part.tlvs),
    )


def resume_work(work: Work, *, attempt: int, inflight: str, outcome: str, ref: str,
                cids: str, dest: str) -> Work:  # fmt: skip
    """Work for a message that already has a record (reclaimed or due from the deferred set)."""
    parsed: list[str | None] | None = json.loads(cids) if cids else None
    return replace(
        work,
        attempt=attempt,
        inflight=inflight,
        outcome=outcome,
        ref=int(ref) if ref else None,
        cids=parsed,
        dest=dest,
    )
