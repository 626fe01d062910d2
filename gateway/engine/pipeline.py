"""The batch path of the engine: batches flow down, outcomes flow up.

Each tick takes a batch of messages from the priority lanes and, for the batch as a whole:
1. **plan** each message (gateway/engine/plan.py, no I/O): final, deferred, or ready with its
   route and its text encoded for the first carrier;
2. **admit** the ready ones in one Redis call (gateway/engine/admission.py): the shared-state
   checks (opt-out, suppression, caps) of the whole batch, and for the messages they let
   through, their carrier's rate granted and their in-flight mark written, before any byte
   (on Redis Cluster from the shard's own bucket of the carrier, in the same call; where a
   shard has none, just before that call, in the carrier's bucket's slot, once for all the
   shards of the tick);
3. **submit** every part of the messages so marked, at once;
4. **commit** the refusals and deferrals of the tick in one state write;
5. the messages the admit call could not grant (a paced carrier short of tokens, callers
   already waiting for its bucket, an adaptive episode) go per carrier the older way: wait
   for a grant, mark the group in flight (one state write), then submit;
6. as each message's parts are answered, its **outcome** is judged; the accepted ones of a
   tick are committed together (one state write).

At light load a read of the stream comes as a tick of its own (`run_read`): its accept
(accept.lua) and its admit call are one script, so its messages reach step 3 after one Redis
call, not two; a message the accept did not create (a resume, a duplicate) goes back to the
engine, which handles it as after its own accept. Such a tick's step 6 write waits (up to
COMMIT_LINGER, gateway/engine/shard_state.py) in the shard's lingering commit writer, and the
next read's call carries it, with the receipts waiting, so it costs no call of its own.

Everything that is not the common case goes to the dispatcher's per-message path with the
same state: a message resumed from a record (in flight, outcome unknown, partly sent, a
retry), a route error, and any answer but "all parts accepted" (throttling, errors, unknown
outcomes, failover). The batch path never decides those, so it cannot decide them
differently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from common.redis_outage import RedisOutages
from compliance.encoding import EncodedMessage
from compliance.errors import ComplianceStoreError
from compliance.verdict import Outcome, Verdict
from gateway.carrier.bind import Bind
from gateway.carrier.pool import Carrier
from gateway.engine.admission import Admission, Candidate, Grants, take_grants
from gateway.engine.dispatcher import Dispatcher, StoppedError, Work, submit_sm
from gateway.engine.outcomes import Attempt
from gateway.engine.plan import Admit, Defer, Finish, plan_message, refusal
from gateway.engine.shard_state import ShardState
from gateway.errors import NotBoundError, QueueUnavailableError
from gateway.messages import Status
from gateway.ops.final_log import log_final
from gateway.smpp.pdu import Pdu
from gateway.store.records import record_deferred, record_final, record_inflight, record_not_sent
from gateway.store.shards import ShardMap
from gateway.store.state_store import AcceptResult, OpBatch, StateWriter
from routing.errors import ThrottleUnavailableError

log = structlog.get_logger()

_REDIS_DOWN = (QueueUnavailableError, ComplianceStoreError, ThrottleUnavailableError)


@dataclass(slots=True)
class _Sending:
    """One message of a carrier group on its way: its parts' answers as they come."""

    work: Work
    verdict: Verdict
    admit: Admit
    encoded: EncodedMessage
    carrier: Carrier  # kept: a reload may retire it while its submits are out
    started: float = 0.0  # perf_counter() when its parts were submitted
    answers: list[object] = field(default_factory=list)
    waiting: int = 0
    # of a light-load read's tick: its record is written by the shard's lingering writer, for
    # the next read's call to carry (`run_read`)
    lingering: bool = False


@dataclass(slots=True)
class _ShardTick:
    """One shard's part of a tick once planned: the messages to admit (and, with an
    Admission, each one's candidate for its call), and those already decided."""

    shard: ShardState | None
    admission: Admission | None
    now: float = 0.0
    light: bool = False  # a light-load read's (`run_read`)
    ready: list[tuple[Work, Admit]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    finished: list[tuple[Work, Finish | Defer]] = field(default_factory=list)


class Pipeline:
    """Runs `run_batch` once per tick for the engine; see the module docstring.

    Args:
        dispatcher: the per-message path, and what the two paths share (records, observer).
        spawn: runs a coroutine for one message in the background (the engine counts it).
        done: called once per message when the batch path is done with it.
        room: called when messages are through with the carrier (every part accepted) and
            wait only for their record (`committing` counts them).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        spawn: Callable[[Work, Awaitable[None]], None],
        done: Callable[[Work], None],
        admission: Admission | None = None,
        shards: ShardMap | None = None,
        outages: RedisOutages | None = None,
        room: Callable[[], None] | None = None,
    ) -> None:
        self._d = dispatcher
        self._room = room or (lambda: None)
        self._committing = 0
        self._outages = outages or RedisOutages()
        self._spawn = spawn
        self._done = done
        self._admission = admission
        self._shards = shards if shards is not None and len(shards) > 1 else None
        self._accepted: list[_Sending] = []
        self._commit_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def committing(self) -> int:
        """Messages through with the carrier (every part accepted), waiting for the state
        write that records them: still under work, but holding no window slot."""
        return self._committing

    async def run_batch(self, batch: Sequence[Work]) -> None:
        """Plan, admit and start submitting one batch (returns once the submits are out): the
        messages of each shard together, as each Redis call is about one shard's keys. On
        Redis Cluster a paced carrier's grant is taken once for the whole tick, every shard's
        candidates together (take_grants), before the shards' admit calls."""
        by_shard: dict[ShardState | None, list[Work]] = {}
        for work in batch:
            by_shard.setdefault(work.shard, []).append(work)
        if len(by_shard) == 1:
            shard = batch[0].shard
            await self._run_shard(self._plan_shard(batch, shard), None)
            return
        ticks = [self._plan_shard(works, shard) for shard, works in by_shard.items()]
        grants: Sequence[Grants | None] = [None] * len(ticks)
        if any(t.admission is not None and t.admission.grants_first for t in ticks):
            grants = await take_grants([t.candidates for t in ticks])
        await asyncio.gather(*(self._run_shard(t, g) for t, g in zip(ticks, grants, strict=True)))

    def _plan_shard(self, batch: Sequence[Work], shard: ShardState | None) -> _ShardTick:
        """One shard's part of the tick, planned: what its admit call is to judge."""
        started = time.perf_counter()
        admission = self._admission if shard is None else shard.admission
        tick = _ShardTick(shard, admission, self._d.clock())
        tick.ready = self._plan(batch, tick.now, tick.finished)
        if tick.admission is not None:
            tick.candidates = [self._candidate(work, admit) for work, admit in tick.ready]
        self._d.observer.stage("plan", started)
        return tick

    async def run_read(
        self, batch: Sequence[Work], shard: ShardState | None,
        accept_args: Sequence[str | int | float],
    ) -> list[tuple[Work, AcceptResult]]:  # fmt: skip
        """A read at light load, accepted and admitted in one call (`Admission.accept_and_
        admit`): `batch` is the read's messages (fresh, in the order of `accept_args`' rows).
        The messages whose record the accept created go on as a tick's do; the others (a
        resume, a duplicate) are returned with their accept's result, planned but not
        admitted, for the engine to handle as after its own accept (it releases them).

        Raises:
            QueueUnavailableError: Redis cannot answer now; redis.exceptions.RedisError: the
                script failed. Either way no message of `batch` is under work any more.
        """
        tick = self._plan_shard(batch, shard)
        tick.light = True
        admission = tick.admission
        if admission is None:
            raise RuntimeError("run_read needs an Admission")
        row_of = {id(work): row for row, work in enumerate(batch)}
        rows = [row_of[id(work)] for work, _ in tick.ready]
        # the writes waiting in the shard's lingering writer (the ticks before's records,
        # receipts) ride this call rather than cost one of their own
        lingering = shard.commit_writer if shard is not None else None
        try:
            results, answers = await admission.accept_and_admit(
                accept_args, rows, tick.candidates, lingering
            )
        except BaseException:
            for work in [w for w, _ in tick.ready] + [w for w, _ in tick.finished]:
                self._done(work)
            raise
        planned = {id(work) for work, _ in tick.ready} | {id(work) for work, _ in tick.finished}
        others = [
            (batch[row], result)
            for row, result in enumerate(results)
            if result.kind != "new" and id(batch[row]) in planned  # not one a bug let go
        ]
        if others:  # their answers are None: the accept did not create them
            old = {id(work) for work, _ in others}
            tick.ready = [r for r in tick.ready if id(r[0]) not in old]
            tick.finished = [f for f in tick.finished if id(f[0]) not in old]
        admitted = [(a.verdict, a.marked) for a in answers if a is not None]
        await self._after_admit(tick, admitted)
        return others

    async def _run_shard(self, tick: _ShardTick, granted: Grants | None) -> None:
        try:
            admitted = await self._admit(tick, granted)
        except _REDIS_DOWN as error:
            self._left_pending([w for w, _ in tick.ready], error)
            tick.ready, admitted = [], []
        await self._after_admit(tick, admitted)

    async def _after_admit(self, tick: _ShardTick, admitted: list[tuple[Verdict, bool]]) -> None:
        """Sort the tick's messages by their answers; submit, record and send on."""
        d = self._d
        shard, ready, finished, now = tick.shard, tick.ready, tick.finished, tick.now
        records = OpBatch()
        for _, plan in finished:  # refused or deferred by a static rule
            if plan.verdict is not None:
                d.observer.verdict(plan.verdict.outcome.value, plan.verdict.reason.value)
        started = time.perf_counter()
        groups: dict[str, list[_Sending]] = {}
        marked: dict[str, list[_Sending]] = {}
        for (work, admit), (verdict, is_marked) in zip(ready, admitted, strict=True):
            if is_marked and verdict.outcome is Outcome.allow:
                self._sort(work, admit, verdict, finished, marked, tick.light)
                continue
            if is_marked:  # a clean state refused all the same: the mark goes back
                record_not_sent(records, d.ctx_of(work), work.message.id)
            self._sort(work, admit, verdict, finished, groups, tick.light)
        for work, plan in finished:
            self._record_refusal(records, work, plan, now)
        d.observer.stage("admit", started)
        for sending in marked.values():
            self._send_marked(sending[0].carrier, sending)
        await self._commit_refusals(records, finished, shard)
        for sending in groups.values():
            self._start(self._send_group(sending[0].carrier, sending))

    def _plan(
        self, batch: Sequence[Work], now: float, finished: list[tuple[Work, Finish | Defer]]
    ) -> list[tuple[Work, Admit]]:
        """Plan each message; the final and deferred ones go to `finished`, the messages to
        admit are returned, and those with an earlier submit behind them go their own way."""
        d = self._d
        ready: list[tuple[Work, Admit]] = []
        context = d.plan_context()
        for work in batch:
            if not _fresh(work):
                self._spawn(work, d.process(work))
                continue
            if work.ref is None:
                work.ref = d.next_reference()
            try:
                plan = plan_message(work.message, now, context, reference=work.ref)
            except Exception:  # a planning bug costs this message (left pending), not its batch
                log.exception("message_processing_failed", message_id=work.message.id)
                self._done(work)
                continue
            if isinstance(plan, Admit) and self._shards is not None:
                plan = self._on_its_shard(work, plan)
            if isinstance(plan, Admit):
                ready.append((work, plan))
            else:
                finished.append((work, plan))
        return ready

    def _on_its_shard(self, work: Work, plan: Admit) -> Admit | Finish:
        """`plan`, or a rejection when the message came on another shard's stream than its
        recipient's: its opt-outs and caps are in that shard, where no call about this one
        may look (the upstream app picks the stream: README, "Scaling out")."""
        e164 = plan.prepared.destination.e164
        home = self._shards.of(e164) if self._shards is not None else None
        if work.shard is None or home is None or home.index == work.shard.index:
            return plan
        detail = (f"{e164} belongs to shard {home.index} ({home.streams.outbound}); "
                  f"it came on shard {work.shard.index}'s stream")  # fmt: skip
        return Finish(Status.rejected, "wrong_shard", detail)

    async def _admit(self, tick: _ShardTick, granted: Grants | None) -> list[tuple[Verdict, bool]]:
        """Each ready message's verdict, and whether it is marked in flight and granted its
        carrier's rate already: one call (gateway/engine/admission.py), or the compliance
        check alone where the engine has no Admission."""
        if tick.admission is None:
            verdicts = await self._d.gate.admit_many([admit.prepared for _, admit in tick.ready])
            return [(verdict, False) for verdict in verdicts]
        admitted = await tick.admission.admit(tick.candidates, granted)
        return [(a.verdict, a.marked) for a in admitted]

    def _candidate(self, work: Work, admit: Admit) -> Candidate:
        """What the admit call needs to mark `work` in flight too, when the common case
        holds: a route, a carrier up and not paced by an episode, the engine not stopping."""
        d = self._d
        if admit.route_error is not None or admit.encoded is None or d.is_stopping():
            return Candidate(admit.prepared)
        try:
            carrier = d.pool.get(admit.carriers[0])
        except KeyError:
            return Candidate(admit.prepared)
        pacing = carrier.rate.pacing()
        if pacing is None or carrier.pick_bind() is None:
            return Candidate(admit.prepared)
        parts = len(admit.encoded.parts)
        mark = (
            work.message.id,
            carrier.name,
            work.ref or 0,
            parts,
            admit.prepared.destination.e164,
        )
        return Candidate(admit.prepared, pacing, carrier.name, mark)

    def _send_marked(self, carrier: Carrier, group: list[_Sending]) -> None:
        """Submit a group the admit call granted and marked in flight (no await before the
        first byte)."""
        d = self._d
        if d.is_stopping():
            for sending in group:
                self._spawn(sending.work, d.take_back(sending.work))
            return
        if carrier.pick_bind() is None:  # binds went down meanwhile: unmark, fail over
            for sending in group:
                self._spawn(sending.work, self._unmark_and_send(sending))
            return
        self._submit_all(carrier, group)

    async def _unmark_and_send(self, sending: _Sending) -> None:
        d = self._d
        batch = OpBatch()
        record_not_sent(batch, d.ctx_of(sending.work), sending.work.message.id)
        await d.writer_of(sending.work).write(batch)
        await d.send(sending.work, sending.verdict, sending.admit)

    def _sort(
        self, work: Work, admit: Admit, verdict: Verdict,
        finished: list[tuple[Work, Finish | Defer]], groups: dict[str, list[_Sending]],
        lingering: bool,
    ) -> None:  # fmt: skip
        """File one admitted message: refused, per-message path, or a carrier group
        (`lingering`: a light-load read's, see `_Sending`)."""
        self._d.observer.verdict(verdict.outcome.value, verdict.reason.value)
        work.country = verdict.country
        if verdict.outcome is not Outcome.allow:
            finished.append((work, refusal(verdict)))
        elif admit.route_error is not None or admit.encoded is None:
            self._spawn(work, self._d.send(work, verdict, admit))
        else:
            try:
                carrier = self._d.pool.get(admit.carriers[0])
            except KeyError:  # removed by a reload since the plan: route it again
                self._spawn(work, self._d.send(work, verdict, Admit(admit.prepared, (), None)))
                return
            sending = _Sending(work, verdict, admit, admit.encoded, carrier, lingering=lingering)
            groups.setdefault(carrier.name, []).append(sending)

    def _record_refusal(
        self, records: OpBatch, work: Work, plan: Finish | Defer, now: float
    ) -> None:
        d = self._d
        country = plan.country
        ctx = d.ctx_of(work)
        if isinstance(plan, Finish):
            record_final(records, ctx, work.origin, plan.status, now, code=plan.code,
                         reason=plan.detail, attempt=work.attempt or None)  # fmt: skip
            d.observer.finished(plan.status, None, plan.code, country)
        else:
            record_deferred(records, ctx, work.origin, now, plan.due, code=plan.code,
                            reason=plan.detail, attempt=work.attempt)  # fmt: skip
            d.observer.finished(Status.deferred, None, plan.code, country)

    async def _commit_refusals(
        self, records: OpBatch, finished: Sequence[tuple[Work, Finish | Defer]],
        shard: ShardState | None,
    ) -> None:  # fmt: skip
        if not finished:
            return
        try:
            await (self._d.writer if shard is None else shard.writer).write(records)
        except _REDIS_DOWN as error:
            self._left_pending([w for w, _ in finished], error)
            return
        for work, plan in finished:
            if isinstance(plan, Finish):  # logged once recorded (docs/operations.md, "Logs")
                log_final(work.message.id, plan.status.value, reason=plan.code, carrier=None)
            self._done(work)

    # --- a carrier group -------------------------------------------------------------------

    async def _send_group(self, carrier: Carrier, group: list[_Sending]) -> None:
        """A grant of the carrier's rate, one in-flight mark, then every part submitted: for
        the whole group, or a grant's worth of it at a time while a rate paces the carrier."""
        size = carrier.grant_size()
        start = 0
        while start < len(group):
            end, parts = start, 0
            while end < len(group) and (
                size is None or end == start or parts + len(group[end].encoded.parts) <= size
            ):
                parts += len(group[end].encoded.parts)
                end += 1
            if not await self._send_chunk(carrier, group[start:end], parts):
                self._left_pending([s.work for s in group[end:]], None)
                return
            start = end

    async def _send_chunk(self, carrier: Carrier, chunk: list[_Sending], parts: int) -> bool:
        """Grant, mark and submit `chunk`; False when the rest of the group must stay."""
        d = self._d
        try:
            await d.wait_for_rate(carrier, parts)
        except StoppedError:
            self._left_pending([s.work for s in chunk], None)
            return False
        except _REDIS_DOWN as error:
            self._left_pending([s.work for s in chunk], error)
            return False
        if carrier.pick_bind() is None:  # binds went down meanwhile: the per-message path
            for sending in chunk:  # fails over
                self._spawn(sending.work, d.send(sending.work, sending.verdict, sending.admit))
            return True
        started = time.perf_counter()
        marks = OpBatch()
        for sending in chunk:
            work, count = sending.work, len(sending.encoded.parts)
            record_inflight(marks, d.ctx_of(work), work.message.id, carrier.name,
                            work.ref or 0, count,
                            sending.verdict.destination_addr or "")  # fmt: skip
        d.observer.stage("submit", started)
        try:
            await d.writer_of(chunk[0].work).write(marks)
        except _REDIS_DOWN as error:
            self._left_pending([s.work for s in chunk], error)
            return False
        if d.is_stopping():
            for sending in chunk:
                self._spawn(sending.work, d.take_back(sending.work))
            return False
        self._submit_all(carrier, chunk)
        return True

    def _submit_all(self, carrier: Carrier, group: list[_Sending]) -> None:
        """Submit every part of a group marked in flight: on one bind while its window has
        room, then the least busy (`Carrier.bind_for`)."""
        started = time.perf_counter()
        bind: Bind | None = None
        for sending in group:
            bind = carrier.bind_for(len(sending.encoded.parts), bind)
            # a bind down now fails NotBound
            self._submit(carrier, bind or carrier.binds[0], sending)
        self._d.observer.stage("submit", started)

    def _submit(self, carrier: Carrier, bind: Bind, sending: _Sending) -> None:
        pdus = [
            submit_sm(sending.verdict, carrier, sending.encoded, i)
            for i in range(len(sending.encoded.parts))
        ]
        sending.work.cids = [None] * len(pdus)
        sending.answers = [None] * len(pdus)
        sending.waiting = len(pdus)
        sending.started = time.perf_counter()
        for index, pdu in enumerate(pdus):
            future = _submit_now(bind, pdu)
            future.add_done_callback(
                lambda f, i=index: self._answered(carrier, sending, i, f)  # type: ignore[misc]
            )

    def _answered(
        self, carrier: Carrier, sending: _Sending, index: int, future: asyncio.Future[Pdu]
    ) -> None:
        sending.answers[index] = future.exception() or future.result()
        sending.waiting -= 1
        if sending.waiting:
            return
        d = self._d
        result = Attempt(list(sending.work.cids or []))
        elapsed = time.perf_counter() - sending.started
        todo = range(len(sending.answers))
        try:
            throttled = d.collect(result, carrier, todo, sending.answers, elapsed)
        except Exception:  # an answer no submit should give (our bug): as the dispatcher would
            log.exception("message_processing_failed", message_id=sending.work.message.id)
            self._done(sending.work)
            return
        if result.accepted_all() and not throttled:
            self._accepted.append(sending)
            sending.work.cids = result.cids
            self._committing += 1
            if not self._commit_scheduled:
                self._commit_scheduled = True
                asyncio.get_running_loop().call_soon(self._commit_accepted)
                self._room()
            return
        self._spawn(sending.work, d.continue_attempt(sending.work, sending.verdict,
                                                    sending.admit, carrier, sending.encoded,
                                                    result, throttled=throttled))  # fmt: skip

    def _commit_accepted(self) -> None:
        self._commit_scheduled = False
        accepted, self._accepted = self._accepted, []
        by_writer: dict[StateWriter, list[_Sending]] = {}
        for sending in accepted:
            by_writer.setdefault(self._writer_of(sending), []).append(sending)
        for writer, group in by_writer.items():
            self._start(self._commit(writer, group))

    def _writer_of(self, sending: _Sending) -> StateWriter:
        """The writer of an accepted submit's record: the shard's lingering one for a
        light-load read's, which the next read's call then carries; else the shard's state
        writer, which writes at once."""
        shard = sending.work.shard
        if sending.lingering and shard is not None:
            return shard.commit_writer
        return self._d.writer_of(sending.work)

    async def _commit(self, writer: StateWriter, accepted: list[_Sending]) -> None:
        """Record a tick's accepted submits in one state write; count and release them."""
        try:
            await self._record_accepted(writer, accepted)
        finally:
            self._committing -= len(accepted)

    async def _record_accepted(self, writer: StateWriter, accepted: list[_Sending]) -> None:
        d = self._d
        started = time.perf_counter()
        now = d.clock()
        batch = OpBatch()
        spans: list[tuple[_Sending, str, int]] = []
        for sending in accepted:
            cids = [c for c in sending.work.cids or [] if c is not None]
            before = batch.results
            d.add_submitted(batch, sending.work, sending.carrier, cids, now)
            spans.append((sending, sending.carrier.name, batch.results - before))
        d.observer.stage("commit", started)
        try:
            results = await writer.write(batch)
        except _REDIS_DOWN as error:
            self._left_pending([s.work for s in accepted], error)
            return
        started = time.perf_counter()
        offset = 0
        for sending, carrier_name, count in spans:
            applied = results[offset : offset + count]
            d.count_submitted(sending.work, carrier_name, sending.encoded, applied, now)
            offset += count
            self._done(sending.work)
        d.observer.stage("commit", started)

    # --- bookkeeping -----------------------------------------------------------------------

    def _left_pending(self, works: Sequence[Work], error: BaseException | None) -> None:
        """Nothing final recorded: the stream entry stays pending (reclaimed later) and a
        deferred message comes due again when its lease runs out."""
        if error is not None and works:
            shard = works[0].shard
            self._outages.failed(0 if shard is None else shard.index, "pipeline", error, len(works))
        for work in works:
            self._done(work)

    def _start(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished_task)

    def _finished_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pipeline_task_failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel what is still running (shutdown, after the drain)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _submit_now(bind: Bind, pdu: Pdu) -> asyncio.Future[Pdu]:
    """The submit's answer as a future: written at once with no coroutine when the window
    has room (the common case), else a task waiting its turn as `Bind.submit` does."""
    loop = asyncio.get_running_loop()
    try:
        future = bind.try_submit(pdu)
    except NotBoundError as error:
        failed: asyncio.Future[Pdu] = loop.create_future()
        failed.set_exception(error)
        return failed
    return future if future is not None else loop.create_task(bind.submit(pdu))


def _fresh(work: Work) -> bool:
    """A message with nothing behind it: no record of an earlier submit to reckon with."""
    return not (work.inflight or work.outcome or work.cids or work.attempt or work.excluded)
