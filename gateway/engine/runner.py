"""The delivery engine: task supervision from the outbound stream to the carriers and back.

Tasks (each restarted with a log line and `smsgw_internal_errors_total` if it ever fails):
- ingest: XREADGROUP batches -> validate -> accept.lua (idempotent by id) -> priority queue;
  at light load (nothing queued) a read skips the queue instead: accept.lua and the tick's
  admit call run as one script and the read goes through the batch path as a tick;
- reclaim: XAUTOCLAIM entries other instances left pending too long;
- scheduler: claim due messages from the deferred set (send_at, quiet hours, retries, holds);
- pump: takes batches in priority order (OTP, transactional, marketing) and runs them through
  the batch path (gateway/engine/pipeline.py), which hands every message that is not the
  common case to the dispatcher's per-message path (a background task per such message);
- gauges: queue depth, pending and lag;
- receipt_timeout: settle submitted messages whose receipt never came (gateway/receipt_timeout).
- orphans (with shards): try receipts parked unmatched in one shard in the others
  (gateway/engine/orphan_receipts.py).

Shutdown (SIGTERM, or `stop` set): stop reading, let the messages under work finish (up to
`engine.shutdown_drain`), unbind every bind after its window drains, flush, exit 0. Whatever
was not finished stays pending in the stream or due in the deferred set for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.exceptions
import structlog
from prometheus_client import CollectorRegistry

from common.redis_outage import RedisOutages
from compliance.errors import ComplianceStoreError
from compliance.policy import CompliancePolicy
from gateway.carrier.bind import BindListener, DeliveryHandler
from gateway.carrier.handset import NationalResolver
from gateway.carrier.pool import CarrierPool, encoding_profile, retry_policy
from gateway.config import Settings
from gateway.engine import orphan_receipts, receipt_timeout
from gateway.engine.compliance_wiring import build_admission, build_policy
from gateway.engine.deliveries import CarrierDeliveries, MoPolicy
from gateway.engine.dispatcher import Dispatcher, Gate, Work, resume_work
from gateway.engine.pipeline import Pipeline
from gateway.engine.routing_table import routing_table
from gateway.engine.shard_state import ShardState, shard_states
from gateway.engine.signals import BadSignal, Signal, SignalPolicy, apply_signal, parse_signal
from gateway.errors import QueueUnavailableError
from gateway.messages import (
    OutboundMessage,
    Rejected,
    Status,
    message_to_json,
    parse_outbound,
)
from gateway.ops.engine_metrics import BindObserver, EngineObserver
from gateway.ops.final_log import log_final
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.ops_server import make_readiness
from gateway.store.keys import Keys
from gateway.store.queue import Entry
from gateway.store.records import accept_row, record_rejected_entry
from gateway.store.redis_client import connect_redis
from gateway.store.replica_wait import ReplicaWait
from gateway.store.state_store import AcceptResult, DueMessage, OpBatch
from routing.errors import ThrottleUnavailableError

log = structlog.get_logger()

VERSION = "0.1.0"
DEFERRED_LEASE = 60.0
SCHEDULER_BATCH = 500
PIPELINE_BATCH = 500  # messages one tick takes from the lanes at most
TICKS_IN_FLIGHT = 2  # batches planned, admitted or committed at once
INGESTS_IN_FLIGHT = 2  # full reads of one shard being validated and accepted at once
RELOAD_BIND_WAIT = 10.0  # seconds a reloaded carrier gets to bind before it takes traffic
_WATCHED_TASKS = frozenset({"ingest"})  # a failing one makes /readyz answer 503
# Redis failing us (an outage: logged as one, the work left pending), not our bug
_REDIS_DOWN = (QueueUnavailableError, ComplianceStoreError, ThrottleUnavailableError)


class Engine:
    """One smsgw instance."""

    def __init__(
        self,
        settings: Settings,
        *,
        gate: Gate | None = None,
        mo_policy: MoPolicy | None = None,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        # one server (a bounded pool the tasks wait on) or redis-py's cluster client
        self.redis = connect_redis(
            settings.redis_url,
            cluster=settings.redis_cluster,
            max_connections=settings.engine.redis_connections,
            cluster_nodes=settings.redis_cluster_nodes,
        )
        consumer_name = settings.consumer.name or f"{socket.gethostname()}-{os.getpid()}"
        # each shard's keys, writers and streams (gateway/engine/shard_state.py); the engine's
        # own `keys`, `store`, `writer`, `ctx`, ... are the first shard's (the only one unless
        # streams.shards says otherwise)
        # state writes followed by WAIT for replicas, when config redis_wait asks for them
        self.replica_wait = ReplicaWait(
            self.redis,
            settings.redis_wait.replicas,
            settings.redis_wait.timeout_ms,
            on_wait=self._count_replica_wait,
        )
        self.shard_map, self.shards = shard_states(
            settings, self.redis, consumer_name, self.replica_wait
        )
        first = self.shards[0]
        self.keys, self.ctx, self.store = first.keys, first.ctx, first.store
        self.writer, self.receipt_writer = first.writer, first.receipt_writer
        self.consumer, self.signals = first.consumer, first.signals
        self.policy: SignalPolicy | None = None
        policy: CompliancePolicy | None = None
        if gate is None:
            self.policy = policy = build_policy(settings, self.redis, self.shard_map)
            gate, mo_policy = policy, mo_policy or policy
        # a receipt's handset number in national format, to E.164 (gateway/carrier/handset.py)
        self._national: NationalResolver | None = policy.msisdn if policy is not None else None
        self.registry = registry or CollectorRegistry()
        self.metrics = GatewayMetrics(
            self.registry,
            carriers=[c.name for c in settings.carriers],
            version=VERSION,
            countries=self.policy.countries if self.policy is not None else (),
        )
        self.observer = EngineObserver(self.metrics)
        self.pool = CarrierPool(
            settings.carriers,
            settings.retry,
            redis=self.redis,
            # a carrier's bucket spans the shards: its key is under the configured prefix,
            # not a shard's (`{smsgw:throttle:<carrier>}` however many shards there are)
            keys=Keys(settings.key_prefix, settings.streams),
            delivery_handler=lambda name: self._deliveries(name, mo_policy),
            listener=self._bind_listener,
            rng=self.rng,
            # on a cluster, each shard's own bucket takes part of a carrier's rate too
            shards=len(self.shard_map) if settings.redis_cluster else 0,
        )
        self.dispatcher = Dispatcher(
            ctx=self.ctx,
            writer=self.writer,
            pool=self.pool,
            gate=gate,
            routes=routing_table(settings.routes),
            default_retry=retry_policy(settings.retry, "retry"),
            observer=self.observer,
            unknown_outcome_hold=settings.engine.unknown_outcome_hold,
            rng=self.rng,
            clock=clock,
        )
        self._queue: asyncio.PriorityQueue[tuple[tuple[int, int], int, Work]] = (
            asyncio.PriorityQueue()
        )
        self._order = itertools.count()
        self._busy = 0
        self._accepting = 0  # entries read, being validated and accepted (not yet queued)
        # ingest tasks whose last ingest failed (our bug): /readyz names them until one
        # succeeds, however many reads succeed meanwhile
        self._ingest_failed: set[str] = set()
        self._idle = asyncio.Event()
        # Stream entries this instance is working on: never reclaimed from ourselves, and
        # kept fresh (XCLAIM JUSTID) so other instances do not take them over mid-work.
        self._held: dict[int, set[str]] = {shard.index: set() for shard in self.shards}
        self._stopping = asyncio.Event()
        self._waiting_pump: set[asyncio.Task[Any]] = set()  # the pump, while idle on the queue
        self._slow_tasks: set[asyncio.Task[None]] = set()  # messages on the per-message path
        self._room = asyncio.Event()  # set when a message under work is released
        self._ticks = asyncio.Semaphore(TICKS_IN_FLIGHT)
        self._tick_tasks: set[asyncio.Task[None]] = set()
        if policy is not None:  # the compliance state is in Redis: admit a tick in one call
            for shard in self.shards:
                shard.admission = build_admission(
                    self.redis, policy, shard.ctx.scope, self.replica_wait
                )
        # Redis outages, logged once each as they start and end (per shard)
        self.outages = RedisOutages()
        self.pipeline = Pipeline(
            self.dispatcher,
            spawn=self._spawn_slow,
            done=self._release,
            shards=self.shard_map,
            outages=self.outages,
            room=self._room.set,
        )
        # tasks whose last run failed (name -> error), for /readyz: the gateway is not ready
        # while it cannot read its stream
        self._failing: dict[str, str] = {}

    # --- wiring --------------------------------------------------------------------------------

    def _count_replica_wait(self, ok: bool) -> None:
        self.metrics.redis_replica_waits.labels("ok" if ok else "short").inc()

    def _deliveries(self, carrier: str, mo_policy: MoPolicy | None) -> DeliveryHandler:
        config = self.settings.carrier(carrier)
        return CarrierDeliveries(
            carrier=carrier,
            receipt_id_mode=config.receipt_id_mode,
            profile=encoding_profile(config),
            ctx=self.ctx,
            writer=self.receipt_writer,
            route=self._shard_of if len(self.shards) > 1 else None,
            national=self._national,
            # a parked receipt is tried in the other shards once its submit_sm_resp has had
            # time to be recorded (gateway/engine/orphan_receipts.py)
            orphan_grace=config.response_timeout + 1.0,
            mo_policy=mo_policy,
            observer=self.observer,
            clock=self.clock,
        )

    def _shard_of(self, number: str) -> ShardState:
        """The shard of a handset (a receipt's or an MO's sender)."""
        return self.shards[self.shard_map.of(number).index]

    def _bind_listener(self, carrier: str, index: int) -> BindListener:
        config = self.settings.carrier(carrier)
        return BindObserver(
            self.metrics, carrier, config.bind_type.value, f"{carrier}#{index}", config.window
        )

    # --- run -----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until `stop` is set (or `request_stop()`), then shut down gracefully."""
        stop = stop or self._stopping
        for shard in self.shards:
            await shard.consumer.ensure_group()
            await shard.signals.ensure_group()
        self.pool.start()
        pump = [self._supervised("pump", self._pump_forever)]
        feeders = [self._supervised("gauges", self._gauges_forever)]
        for shard in self.shards:  # each shard's tasks ("ingest", or "ingest-3" of shard 3)
            suffix = f"-{shard.index}" if len(self.shards) > 1 else ""
            feeders += [
                self._supervised(
                    f"{name}{suffix}", functools.partial(body, shard), scope=shard.index
                )
                for name, body in (
                    ("ingest", self._ingest_forever),
                    ("reclaim", self._reclaim_forever),
                    ("scheduler", self._schedule_forever),
                    ("signals", self._signals_forever),
                    ("receipt_timeout", self._receipt_timeouts),
                )
            ]
            if len(self.shards) > 1:
                feeders.append(
                    self._supervised(
                        f"orphans{suffix}",
                        functools.partial(self._orphans, shard),
                        scope=shard.index,
                    )
                )
        log.info("engine_started", carriers=len(self.settings.carriers))
        try:
            await stop.wait()
        finally:
            await self._shutdown(feeders, pump)

    def _receipt_timeouts(self, shard: ShardState) -> Awaitable[None]:
        interval = self.settings.engine.scheduler_interval
        return receipt_timeout.expire_forever(
            shard.store, shard.ctx, self.observer, interval=interval, clock=self.clock
        )

    def _orphans(self, shard: ShardState) -> Awaitable[None]:
        interval = self.settings.engine.scheduler_interval
        return orphan_receipts.reroute_forever(
            shard, self.shards, self.observer, interval=interval, clock=self.clock
        )

    def request_stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self, feeders: Sequence[asyncio.Task[None]],
                        pump: Sequence[asyncio.Task[None]]) -> None:  # fmt: skip
        """Stop reading, start no new submit, wait for the responses of what is on the wire
        (up to `engine.shutdown_drain`), unbind. Everything else is left as it was: stream
        entries pending (resumed by this consumer name's next run, or reclaimed by another
        instance after `claim_idle_ms`) and deferred messages under their lease."""
        log.info("engine_stopping", queued=self._queue.qsize(), busy=self._busy)
        await cancel_and_wait(feeders)
        self.dispatcher.stop()
        self.pool.refuse_requests()
        for task in list(self._waiting_pump):  # idle: take nothing more from the queue
            task.cancel()
        deadline = time.monotonic() + self.settings.engine.shutdown_drain
        if self._busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.engine.shutdown_drain)
        await cancel_and_wait(pump)
        await cancel_and_wait(list(self._tick_tasks))
        await cancel_and_wait(list(self._slow_tasks))
        await self.pipeline.close()
        remaining = max(0.5, deadline - time.monotonic())
        await self.pool.close(remaining)
        for shard in self.shards:  # no write may start on the client once it is closed
            await shard.writer.close()
            await shard.commit_writer.close()
            await shard.receipt_writer.close()
        await self.replica_wait.close()
        await self.redis.aclose()
        log.info("engine_stopped", left_queued=self._queue.qsize())

    def _supervised(
        self, name: str, body: Callable[[], Awaitable[None]], scope: Hashable = 0
    ) -> asyncio.Task[None]:
        """Run `body` again whenever it fails; a Redis outage of `scope` (the task's shard) is
        logged once (common/redis_outage.py), however many tasks and retries it fails."""

        async def guard() -> None:
            while True:
                try:
                    await body()
                except asyncio.CancelledError:
                    raise
                except QueueUnavailableError as error:
                    self.outages.failed(scope, name, error)
                    await asyncio.sleep(1.0)
                except Exception as error:
                    log.exception("task_failed", task=name)
                    self.metrics.internal_error(name.split("-")[0]).inc()
                    if name.split("-")[0] in _WATCHED_TASKS:
                        self._failing[name] = f"{type(error).__name__}: {error}"[:200]
                    await asyncio.sleep(0.5)
                else:
                    return

        return asyncio.get_running_loop().create_task(guard(), name=name)

    # --- ingest --------------------------------------------------------------------------------

    async def _ingest_forever(self, shard: ShardState) -> None:
        c = self.settings.consumer
        task = f"ingest-{shard.index}" if len(self.shards) > 1 else "ingest"
        limit = self.settings.engine.max_in_flight
        # Refill in sizeable reads: under a deep backlog the room a few finished messages leave
        # would otherwise cost one XREADGROUP and one accept.lua per handful of messages.
        low_water = min(c.batch, max(1, limit // 4))
        loop, linger = asyncio.get_running_loop(), c.linger_ms / 1000
        # Under load the next read starts while the last one is accepted: one read, then its
        # accept, one after the other, each waiting its turn in a busy Redis, was the whole
        # engine's limit (~40 ms per 256 entries: the pump starved, the windows near empty).
        ingests = asyncio.Semaphore(INGESTS_IN_FLIGHT)
        while True:
            room = limit - self._queue.qsize() - self._busy - self._accepting
            if room < low_water:
                await asyncio.sleep(0.005)
                continue
            read_at = loop.time()
            entries = await shard.consumer.read(min(c.batch, room), c.block_ms)
            if len(entries) >= low_water:  # a full read: queued, so the lanes order it
                await ingests.acquire()
                self._ingest_behind(entries, shard, ingests, task)  # its end says if it failed
            else:  # a short read (light load) may go straight to the batch path
                if entries:
                    try:
                        await self.ingest(entries, shard, fuse=True)
                    except _REDIS_DOWN:
                        raise  # an outage, logged as one; the reads tell when it ends
                    except Exception as error:
                        self._ingest_ended(task, error)
                        raise
                    self._ingest_ended(task, None)
                elif task not in self._ingest_failed:
                    self._failing.pop(task, None)
            self.outages.succeeded(shard.index)
            if c.linger_ms and 0 < len(entries) < low_water:
                # light load: let the next read gather a few messages, so that each Redis
                # call of a tick (accept, admit, mark, commit) carries several. The wait is
                # counted from this read, not from the end of its ingest: reads come every
                # linger_ms, and no message waits for a read longer than that plus one
                # read's work.
                await asyncio.sleep(max(0.0, read_at + linger - loop.time()))

    def _ingest_behind(
        self, entries: Sequence[Entry], shard: ShardState, slots: asyncio.Semaphore, name: str
    ) -> None:
        """`ingest` in a task of its own, holding one of `slots` until it ends; its entries
        count against the read-ahead meanwhile. Shutdown waits for it as for a tick. As with
        an ingest in line, one failing (not Redis: our bug) makes /readyz name task `name`
        until an ingest succeeds."""
        count = len(entries)
        self._accepting += count

        def done(task: asyncio.Task[None]) -> None:
            self._accepting -= count
            slots.release()
            self._background_done(shard.index, task)
            error = None if task.cancelled() else task.exception()
            if not isinstance(error, _REDIS_DOWN):
                self._ingest_ended(name, error)

        task = asyncio.get_running_loop().create_task(self.ingest(entries, shard))
        self._tick_tasks.add(task)
        task.add_done_callback(done)

    def _ingest_ended(self, name: str, error: BaseException | None) -> None:
        """An ingest of task `name` succeeded (`error` None) or failed with our bug: /readyz
        names the task from such a failure until an ingest succeeds, however many reads
        succeed meanwhile."""
        if error is None:
            self._ingest_failed.discard(name)
            self._failing.pop(name, None)
        else:
            self._ingest_failed.add(name)
            self._failing[name] = f"{type(error).__name__}: {error}"[:200]

    async def _reclaim_forever(self, shard: ShardState) -> None:
        c = self.settings.consumer
        while True:
            await asyncio.sleep(c.claim_interval)
            held = self._held[shard.index]
            if held:
                await shard.consumer.touch(list(held))
            entries = [
                e
                for e in await shard.consumer.reclaim(c.claim_idle_ms, c.batch)
                if e.entry_id not in held
            ]
            if entries:
                log.info("entries_reclaimed", count=len(entries), shard=shard.index)
                await self.ingest(entries, shard)

    async def _signals_forever(self, shard: ShardState) -> None:
        c = self.settings.consumer
        while True:
            entries = await shard.signals.read(c.batch, max(c.block_ms, 100))
            if entries:
                await self.apply_signals(entries, shard)

    async def apply_signals(
        self, entries: Sequence[Entry], shard: ShardState | None = None
    ) -> None:
        """Apply upstream signals (gateway/engine/signals.py), acknowledging each once applied."""
        shard = shard or self.shards[0]
        acks = OpBatch()
        now = datetime.fromtimestamp(self.clock(), UTC)
        for entry in entries:
            signal = parse_signal(entry.data)
            problem = signal.reason if isinstance(signal, BadSignal) else None
            if isinstance(signal, Signal):
                if self.policy is None:
                    problem = "no compliance policy in this engine"
                else:
                    problem = await apply_signal(signal, self.policy, now)
            if problem is None:
                log.info("signal_applied", type=getattr(signal, "type", None))
            else:
                log.warning("signal_rejected", entry_id=entry.entry_id, reason=problem)
            acks.ack(shard.keys.signals, shard.ctx.group, entry.entry_id)
        await shard.writer.write(acks)

    async def ingest(
        self, entries: Sequence[Entry], shard: ShardState | None = None, *, fuse: bool = False
    ) -> None:
        """Validate a batch, record accepted/rejected, and queue the new ones for work.

        Entries this instance already holds (queued or under work) are skipped, so an entry
        read twice (our own pending list and a reclaim) is never worked on twice at once.
        Each entry is judged alone: one that cannot be read or stored is rejected with a
        reason and acknowledged, and the others go on.

        With `fuse` (a short read of new entries: light load) and nothing queued ahead of
        them, the batch goes straight to the batch path instead, accepted and admitted in one
        call (`_accept_and_admit`, a task of its own: this returns once it has started).
        """
        started = time.perf_counter()
        shard = shard or self.shards[0]
        held = self._held[shard.index]
        fresh = [e for e in entries if e.entry_id not in held]
        held.update(e.entry_id for e in fresh)
        queued: set[str] = set()
        try:
            now = self.clock()
            rejects = OpBatch()
            valid: list[tuple[Entry, OutboundMessage]] = []
            rejected: list[tuple[str, str]] = []  # (id, reason), logged once recorded
            for entry in fresh:
                parsed = self._parse_entry(entry)
                if isinstance(parsed, Rejected):
                    rejected.append(self._reject_entry(rejects, shard, entry, parsed, now))
                else:
                    valid.append((entry, parsed))
            self.observer.stage("read", started)
            if rejects.args:
                await shard.writer.write(rejects)
                _log_rejected(rejected)
            if valid and fuse and self._may_fuse(shard, len(valid)):
                queued = {entry.entry_id for entry, _ in valid}  # the tick's from here on
                # a task of its own, as the pump's ticks: the next read need not wait for it,
                # and stopping the ingest never stops it mid-call (shutdown waits for it)
                tick = asyncio.get_running_loop().create_task(
                    self._accept_and_admit(valid, shard, now)
                )
                self._tick_tasks.add(tick)
                tick.add_done_callback(functools.partial(self._background_done, shard.index))
            elif valid:
                queued = await self._accept(valid, shard, now)
        finally:
            held.difference_update(e.entry_id for e in fresh if e.entry_id not in queued)

    def _background_done(self, index: int, tick: asyncio.Task[None]) -> None:
        """A read's accept, or its tick, ended in the background (`_ingest_behind`,
        `_accept_and_admit`). Redis failing it is an outage of the shard's (its messages stay
        pending, as an accept's failure leaves them); anything else is our bug, logged and
        counted as the pump's are."""
        self._tick_tasks.discard(tick)
        if tick.cancelled() or tick.exception() is None:
            return
        error = tick.exception()
        if isinstance(error, _REDIS_DOWN):
            self.outages.failed(index, "ingest", error)
            return
        log.error("pipeline_tick_failed", exc_info=error)
        self.metrics.internal_error("ingest").inc()

    def _may_fuse(self, shard: ShardState, count: int) -> bool:
        """A read may skip the queue: nothing waits there before it (the lanes' order holds),
        the batch path has room for it, and its shard admits in one call."""
        return (
            shard.admission is not None
            and self._queue.empty()
            and self._under_way + count <= self.capacity
            and not self.dispatcher.is_stopping()
        )

    async def _accept_and_admit(
        self, valid: Sequence[tuple[Entry, OutboundMessage]], shard: ShardState, now: float
    ) -> None:
        """One call for a light-load read: accept.lua, then the admit call of the messages
        it created (`Pipeline.run_read`); the tick goes on as the pump's do. Messages with a
        record already (a resume, a duplicate) are handled as after `_accept`. The usual way
        takes over when the script fails (an entry Redis refuses: one by one there)."""
        valid = sorted(valid, key=lambda item: item[1].lane)  # the lanes' order, as the pump
        works = [Work(message=message, entry_id=entry.entry_id, enqueued_at=now, shard=shard)
                 for entry, message in valid]  # fmt: skip
        self._busy += len(works)
        self._idle.clear()
        args = [*_accept_header(shard, now), *_accept_rows(valid, now)]
        try:
            others = await self.pipeline.run_read(works, shard, args)
        except QueueUnavailableError:
            raise
        except redis.exceptions.RedisError:
            held = self._held[shard.index]  # run_read let every message go
            held.update(entry.entry_id for entry, _ in valid)
            queued = await self._accept(valid, shard, now)
            held.difference_update(e.entry_id for e, _ in valid if e.entry_id not in queued)
            return
        self.observer.accepted(len(works) - len(others))
        acks = OpBatch()
        for work, result in others:
            self._release(work)
            self._take_on(work, result, acks, shard)
        if acks.args:
            await shard.writer.write(acks)

    def _parse_entry(self, entry: Entry) -> OutboundMessage | Rejected:
        if entry.data is None:
            return Rejected(id=None, reason="missing_field", detail="entry has no data field")
        if entry.data_fields > 1:
            detail = f"entry has {entry.data_fields} data fields; exactly one is allowed"
            return Rejected(id=None, reason="duplicate_field", detail=detail)
        try:
            return parse_outbound(entry.data, max_text_length=self.settings.engine.max_text_length)
        except Exception:  # a validation bug costs one entry, never its batch
            log.exception("entry_validation_failed", entry_id=entry.entry_id)
            self.metrics.internal_error("ingest").inc()
            return Rejected(id=None, reason="invalid_entry", detail="the entry could not be read")

    def _reject_entry(self, batch: OpBatch, shard: ShardState, entry: Entry, rejected: Rejected,
                      now: float) -> tuple[str, str]:  # fmt: skip
        """Add the rejection to `batch`; returns (id, reason) to log once it is recorded."""
        record_rejected_entry(batch, shard.ctx, entry.entry_id, rejected.id, now,
                              code=rejected.reason, reason=rejected.detail)  # fmt: skip
        self.observer.finished(Status.rejected, None, rejected.reason)
        return rejected.id or entry.entry_id, rejected.reason

    async def _accept(self, valid: Sequence[tuple[Entry, OutboundMessage]], shard: ShardState,
                      now: float) -> set[str]:  # fmt: skip
        """accept.lua for the batch; returns the entry ids queued for work."""
        try:
            results = await shard.store.accept(_accept_header(shard, now), _accept_rows(valid, now))
        except QueueUnavailableError:
            raise
        except redis.exceptions.RedisError:
            if len(valid) == 1:
                raise
            # One entry Redis refuses must not hold back the rest: accept them one by one.
            queued: set[str] = set()
            for item in valid:
                queued |= await self._accept_alone(item, shard, now)
            return queued
        return await self._after_accept(valid, shard, results, now)

    async def _accept_alone(self, item: tuple[Entry, OutboundMessage], shard: ShardState,
                            now: float) -> set[str]:  # fmt: skip
        try:
            header, rows = _accept_header(shard, now), _accept_rows([item], now)
            results = await shard.store.accept(header, rows)
        except QueueUnavailableError:
            raise
        except redis.exceptions.RedisError as error:
            entry, message = item
            log.warning("entry_not_storable", entry_id=entry.entry_id, error=str(error))
            rejects = OpBatch()
            detail = "the entry could not be stored"
            rejected = Rejected(id=message.id, reason="invalid_entry", detail=detail)
            logged = self._reject_entry(rejects, shard, entry, rejected, now)
            await shard.writer.write(rejects)
            _log_rejected([logged])
            return set()
        return await self._after_accept([item], shard, results, now)

    async def _after_accept(
        self,
        valid: Sequence[tuple[Entry, OutboundMessage]],
        shard: ShardState,
        results: Sequence[AcceptResult],
        now: float,
    ) -> set[str]:
        """Queue new messages and resumable ones (a reclaim, or our own pending list after a
        restart); acknowledge the rest: duplicates of an id taken by another entry, and
        entries whose record shows they need no more work here (a carrier acceptance, a final
        state, or a deferral the scheduler owns) — never resent."""
        acks = OpBatch()
        queued: set[str] = set()
        for (entry, message), result in zip(valid, results, strict=True):
            work = Work(message=message, entry_id=entry.entry_id, enqueued_at=now, shard=shard)
            if self._take_on(work, result, acks, shard):
                queued.add(entry.entry_id)
        self.observer.accepted(sum(result.kind == "new" for result in results))
        if acks.args:
            await shard.writer.write(acks)
        return queued

    def _take_on(self, work: Work, result: AcceptResult, acks: OpBatch, shard: ShardState) -> bool:
        """Queue `work` when accept.lua's `result` says it is new or resumable; else add its
        acknowledgement to `acks` (a duplicate, or a record that needs no more work here)."""
        if result.kind == "new":
            self._enqueue(work)
            return True
        if result.kind == "resume" and result.status in ("accepted", ""):
            self._enqueue(_resumed(work, result))
            return True
        message_id = work.message.id
        if result.kind == "duplicate":
            log.info("duplicate_id_ignored", message_id=message_id, status=result.status)
        else:
            log.info("resume_settled", message_id=message_id, status=result.status)
        acks.ack(shard.keys.outbound, shard.ctx.group, work.entry_id or "")
        return False

    def _enqueue(self, work: Work) -> None:
        """Queue work in priority order: category lane, then priority, then arrival."""
        if work.entry_id is not None:
            self._held[_index(work)].add(work.entry_id)
        self._queue.put_nowait((work.message.lane, next(self._order), work))

    # --- deferred set --------------------------------------------------------------------------

    async def _schedule_forever(self, shard: ShardState) -> None:
        interval = self.settings.engine.scheduler_interval
        while True:
            room = self.settings.engine.max_in_flight - self._queue.qsize() - self._busy
            due = []
            if room > 0:
                due = await shard.store.claim_due(
                    self.clock(), DEFERRED_LEASE, min(room, SCHEDULER_BATCH)
                )
            for item in due:
                await self._resume_due(item, shard)
            if len(due) < SCHEDULER_BATCH:
                await asyncio.sleep(interval)

    async def _resume_due(self, item: DueMessage, shard: ShardState) -> None:
        if item.status in ("submitted", "delivered", "undelivered", "expired", "failed",
                           "rejected", "suppressed", ""):  # fmt: skip
            batch = OpBatch()
            batch.zrem(shard.keys.deferred, item.id)
            await shard.writer.write(batch)
            return
        parsed = parse_outbound(item.payload, max_text_length=10**9)
        if isinstance(parsed, Rejected):
            log.error("deferred_payload_unreadable", message_id=item.id, reason=parsed.reason)
            return
        work = Work(message=parsed, entry_id=None, enqueued_at=self.clock(), from_deferred=True,
                    shard=shard)  # fmt: skip
        self._enqueue(resume_work(work, attempt=item.attempt, inflight=item.inflight,
                                  outcome=item.outcome, ref=item.ref, cids=item.cids,
                                  dest=item.dest))  # fmt: skip

    # --- the pump, the per-message path, gauges -------------------------------------------------

    async def _pump_forever(self) -> None:
        """Batches from the lanes to the batch path, one tick after another: while one batch
        waits for Redis, the next one gathers in the queue."""
        queue = self._queue
        me = asyncio.current_task()
        while not self.dispatcher.is_stopping():
            while self._under_way >= self.capacity:  # as many as the windows can carry
                self._room.clear()
                await self._room.wait()
            if me is not None:
                self._waiting_pump.add(me)
            try:
                _, _, first = await queue.get()
            finally:
                if me is not None:
                    self._waiting_pump.discard(me)
            if self.dispatcher.is_stopping():  # stopped while waiting: leave it for next run
                return
            batch = [first]
            limit = min(PIPELINE_BATCH, self.capacity - self._under_way)
            while len(batch) < limit and not queue.empty():
                batch.append(queue.get_nowait()[2])
            self._busy += len(batch)
            self._idle.clear()
            # up to TICKS_IN_FLIGHT batches at once: while one waits for Redis, the next is
            # planned and sent to it (as the state writer keeps two calls in flight)
            await self._ticks.acquire()
            tick = asyncio.get_running_loop().create_task(self.pipeline.run_batch(batch))
            self._tick_tasks.add(tick)
            tick.add_done_callback(self._tick_done)

    def _tick_done(self, tick: asyncio.Task[None]) -> None:
        self._tick_tasks.discard(tick)
        self._ticks.release()
        if not tick.cancelled() and tick.exception() is not None:
            log.error("pipeline_tick_failed", exc_info=tick.exception())
            self.metrics.internal_error("pump").inc()

    def _spawn_slow(self, work: Work, body: Awaitable[None]) -> None:
        """Run the per-message path for one message in the background."""
        task = asyncio.get_running_loop().create_task(self._slow(work, body))
        self._slow_tasks.add(task)
        task.add_done_callback(self._slow_tasks.discard)

    async def _slow(self, work: Work, body: Awaitable[None]) -> None:
        try:
            await body
        except asyncio.CancelledError:
            raise
        except _REDIS_DOWN as error:
            # Redis failed us mid-message: nothing final was recorded, so the stream entry
            # stays pending and is reclaimed later (a deferred one comes due again)
            self.outages.failed(_index(work), "message", error)
        except Exception:
            log.exception("message_processing_failed", message_id=work.message.id)
            self.metrics.internal_error("dispatch").inc()
        finally:
            self._release(work)

    def _release(self, work: Work) -> None:
        """The engine is done with `work` (recorded, handed on, or left pending)."""
        if work.entry_id is not None:
            self._held[_index(work)].discard(work.entry_id)
        self._busy -= 1
        self._room.set()
        if not self._busy:
            self._idle.set()

    @property
    def _under_way(self) -> int:
        """Messages under work but for those through with the carrier, which wait only for
        their record (`Pipeline.committing`): what `capacity` bounds."""
        return self._busy - self.pipeline.committing

    @property
    def capacity(self) -> int:
        """Messages under way at once at most (`_under_way`): twice what the carriers'
        windows hold (so the next window's worth is planned and admitted while one is on the
        wire), within `engine.max_in_flight`. Messages whose parts the carrier has all
        accepted do not count: under load most of them wait for their record's state write
        (a Redis call behind others), and counting them held the windows 10-35% full."""
        windows = sum(c.window * c.binds for c in self.settings.carriers)
        return max(16, min(self.settings.engine.max_in_flight, 2 * windows))

    async def _gauges_forever(self) -> None:
        queue = self.metrics.queue("outbound")
        while True:
            try:
                depths = [await shard.consumer.depth() for shard in self.shards]
            except QueueUnavailableError:  # the shard's own tasks report the outage
                await asyncio.sleep(1.0)
                continue
            queue.depth.set(sum(d.length for d in depths))
            queue.pending.set(sum(d.pending for d in depths))
            lags = [d.lag for d in depths if d.lag is not None]
            if lags:
                queue.lag.set(sum(lags))
            for carrier in self.pool:
                for n, bind in enumerate(carrier.binds):
                    bind_metrics = self.metrics.bind(
                        carrier.name, carrier.config.bind_type.value, f"{carrier.name}#{n}"
                    )
                    bind_metrics.in_flight.set(bind.in_flight)
            await asyncio.sleep(1.0)

    async def reload(self, settings: Settings) -> dict[str, list[str]]:
        """Apply a new config's carriers, routes and retry policy (what SIGHUP does).

        In-flight work is not dropped: see CarrierPool.reload. Other sections (Redis, streams,
        consumer, engine, compliance, ops, logging) are read at start only; a change to them
        is logged as `config_reload_needs_restart` and takes a (rolling) restart.

        Returns:
            Carrier names by what happened to them ("added", "changed", ...).
        """
        routes = routing_table(settings.routes)
        default_retry = retry_policy(settings.retry, "retry")
        for carrier in settings.carriers:
            self.metrics.add_carrier(carrier.name)
        reloadable = ("carriers", "routes", "retry")
        ignored = [
            f.name
            for f in dataclasses.fields(Settings)
            if f.name not in reloadable
            and getattr(settings, f.name) != getattr(self.settings, f.name)
        ]
        self.settings = dataclasses.replace(
            self.settings, carriers=settings.carriers, routes=settings.routes, retry=settings.retry
        )
        summary = await self.pool.reload(
            settings.carriers,
            settings.retry,
            bind_wait=RELOAD_BIND_WAIT,
            drain_seconds=self.settings.engine.shutdown_drain,
        )
        self.dispatcher.routes = routes
        self.dispatcher.default_retry = default_retry
        log.info("config_reloaded", **summary)
        if ignored:
            log.warning("config_reload_needs_restart", sections=ignored)
        return summary

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Redis answers PING and each required carrier has a bind up; details are the
        `/readyz` body of docs/operations.md (`redis`, `carriers_down`)."""
        check = make_readiness(
            ping=self.redis.ping,
            binds_up=lambda: {c.name: sum(b.is_bound for b in c.binds) for c in self.pool},
            required_carriers=[c.name for c in self.settings.carriers if c.required],
            failing_tasks=lambda: self._failing,
        )
        return await check()


def _accept_rows(valid: Sequence[tuple[Entry, OutboundMessage]], now: float) -> list[str]:
    """accept.lua's five words per message: id, entry id, payload, accepted event, dest."""
    rows: list[str] = []
    for entry, message in valid:
        rows += accept_row(message.id, entry.entry_id, message_to_json(message), message.to, now)
    return rows


def _resumed(work: Work, result: AcceptResult) -> Work:
    return resume_work(
        work,
        attempt=int(result.attempt or 0),
        inflight=result.inflight,
        outcome=result.outcome,
        ref=result.ref,
        cids=result.cids,
        dest=result.dest,
    )


async def cancel_and_wait(tasks: Sequence[asyncio.Task[None]], *, patience: float = 0.5) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again if need be.

    One cancel() is not always enough: on Python 3.11 a cancel that lands in the same loop
    iteration as a library's own read timeout (redis-py's XREADGROUP BLOCK) can be turned
    into that timeout and lost, and the task carries on. Re-cancelling until done makes
    shutdown certain without trusting every library's timeout handling.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=patience)
        if pending:
            log.warning("tasks_slow_to_cancel", tasks=sorted(t.get_name() for t in pending))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("task_ended_with_error", task=task.get_name(), exc_info=task.exception())


def _accept_header(shard: ShardState, now: float) -> list[str | int | float]:
    return [shard.keys.prefix, shard.keys.events, shard.ctx.events_maxlen, shard.ctx.ttl, now]


def _log_rejected(rejected: Sequence[tuple[str, str]]) -> None:
    """`message_final` for entries rejected at the door, once their rejection is recorded."""
    for message_id, reason in rejected:
        log_final(message_id, Status.rejected.value, reason=reason, carrier=None)


def _index(work: Work) -> int:
    return 0 if work.shard is None else work.shard.index
