"""The engine's observers: dispatch, delivery and bind hooks that update GatewayMetrics.

Protocol and dispatch code call these narrow hooks; only this module touches metric objects,
so no stats calls are threaded through protocol code.
"""

from __future__ import annotations

import time
from typing import TypeVar

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from prometheus_client import Counter, Histogram

from common.held_metrics import HeldMetrics
from compliance.verdict import MoAction, MoOutcome
from gateway.carrier.receipts import Receipt
from gateway.messages import Status
from gateway.ops.metrics import BindMetrics, CarrierMetrics, GatewayMetrics
from gateway.smpp.pdu import Pdu
from gateway.store.records import settled

STAGES = ("read", "plan", "admit", "submit", "commit", "receipt")
"""The engine's stages, as `smsgw_stage_cpu_seconds_total{stage}` counts them."""

STAGE_FLUSH = 0.1  # seconds between two updates of the stage counters
CHILDREN_KEPT = 4096  # a per-message hook's labels -> its metric children (see _keep)


class EngineObserver:
    """Implements DispatchObserver and DeliveryObserver on a GatewayMetrics."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self._stages = {stage: metrics.stage_cpu.labels(stage) for stage in STAGES}
        self._stage_seconds = dict.fromkeys(STAGES, 0.0)  # not yet added to the counters
        self._held = HeldMetrics()  # per-message counts and observations not yet added
        self._settled_counters: dict[tuple[str, str, str], Counter] = {}
        self._submitted_children: dict[tuple[str, str, str | None], _SubmittedChildren] = {}
        self._answered_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._verdict_counters: dict[tuple[str, str], Counter] = {}
        self._flushed = time.perf_counter()
        metrics.before_collect(self.flush)  # a scrape never sees them late

    def stage(self, stage: str, since: float) -> None:
        """Add the time since `since` (a `time.perf_counter()` reading) to `stage`.

        Stages are measured across synchronous stretches of code only, so their wall time is
        their CPU time unless the process was preempted; `perf_counter` costs 40 ns where
        `process_time` costs 500 (a system call). The counters are updated at most every
        STAGE_FLUSH seconds, not per batch."""
        now = time.perf_counter()
        self._stage_seconds[stage] += now - since
        if now - self._flushed >= STAGE_FLUSH:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Add the stage time, the per-message counts and the histogram observations kept
        since the last flush to their metrics. Runs every STAGE_FLUSH seconds under traffic
        and before every collection of the registry (GatewayMetrics.before_collect)."""
        for name, seconds in self._stage_seconds.items():
            if seconds:
                self._stages[name].inc(seconds)
                self._stage_seconds[name] = 0.0
        self._held.flush()
        self._flushed = time.perf_counter() if now is None else now

    def finished(
        self, status: Status, carrier: str | None, reason: str | None, country: str | None = None
    ) -> None:
        self._held.count(self.metrics.message(status.value, carrier=carrier, country=country))

    def accepted(self, count: int) -> None:
        accepted = self.metrics.message(Status.accepted.value, carrier=None, country=None)
        self._held.count(accepted, count)

    def submitted(
        self, carrier: str, parts: int, encoding: str, queued_seconds: float,
        country: str | None = None,
    ) -> None:  # fmt: skip
        key = (carrier, encoding, country)
        children = self._submitted_children.get(key)
        if children is None:
            c = self.metrics.carrier(carrier)
            children = (c.message(Status.submitted.value, country), c.segments(encoding),
                        c.queue_wait)  # fmt: skip
            _keep(self._submitted_children, key, children)
        held = self._held
        held.count(children[0])
        held.count(children[1], parts)
        held.observe(children[2], max(0.0, queued_seconds))

    def submit_answered(self, carrier: str, command_status: int, seconds: float) -> None:
        key = (carrier, command_status)
        children = self._answered_children.get(key)
        if children is None:
            c = self.metrics.carrier(carrier)
            children = (c.submit_sm_response(command_status), c.submit_latency)
            _keep(self._answered_children, key, children)
        self._held.count(children[0])
        self._held.observe(children[1], seconds)

    def retried(self, carrier: str | None, reason: str) -> None:
        if carrier is None:
            self.metrics.retries.labels("none", reason).inc()
        else:
            self.metrics.carrier(carrier).retry(reason).inc()

    def throttle_waited(self, carrier: str, seconds: float) -> None:
        if seconds > 0:
            self.metrics.carrier(carrier).throttle_wait.inc(seconds)

    def verdict(self, outcome: str, reason: str) -> None:
        key = (outcome, reason)
        counter = self._verdict_counters.get(key)
        if counter is None:
            counter = self.metrics.compliance_verdict(outcome, reason)
            _keep(self._verdict_counters, key, counter)
        self._held.count(counter)

    def throttled(self, carrier: str) -> None:
        self.metrics.carrier(carrier).retry("throttled").inc()

    def receipt_matched_late(self, carrier: str) -> None:
        self.metrics.carrier(carrier).receipts_matched_late.inc()

    def receipts_rerouted(self, carrier: str, count: int) -> None:
        """`count` receipts parked in one shard were applied in another (orphan_receipts.py):
        matched late, and counted as such."""
        c = self.metrics.carrier(carrier)
        c.receipts_rerouted.inc(count)
        c.receipts_matched_late.inc(count)

    def receipt_timed_out(self, carrier: str, handset: str) -> None:
        """A submitted message settled `expired` (receipt_timeout) by the receipt sweep; a
        carrier no longer configured (removed by a reload) is counted without one."""
        country = country_of(handset)
        try:
            c = self.metrics.carrier(carrier)
        except KeyError:
            self.metrics.message(Status.expired, carrier=None, country=country).inc()
            return
        c.receipts_timed_out.inc()
        c.message(Status.expired, country).inc()

    def receipt_applied(
        self, carrier: str, result: str, receipt: Receipt | None, handset: str
    ) -> None:
        """`result` is apply.lua's word: '<final status> <submitted_at> <msg>' when this
        receipt finished its message, else 'matched', 'unmatched', 'duplicate', ...
        (`receipt` None and `handset` "": one rerouted from another shard, whose handset is
        not known)."""
        c = self.metrics.carrier(carrier)
        if result == "unmatched":
            self._held.count(c.receipts_unmatched)
            return
        done = settled(result)
        if done is not None:
            self._held.count(self._settled_counter(c, done.status, handset))
            if done.submitted_at:
                latency = max(0.0, time.time() - float(done.submitted_at))
                self._held.observe(c.delivery_latency, latency)

    def _settled_counter(self, c: CarrierMetrics, status: str, handset: str) -> Counter:
        """The `smsgw_message_events_total` child of a receipt from `handset` that settled its
        message `status`, kept by carrier, status and the handset's first three digits (all
        `country_of` reads): one look-up per receipt instead of the country's and the child's."""
        key = (c.name, status, handset.removeprefix("+")[:3])
        counter = self._settled_counters.get(key)
        if counter is None:
            counter = c.message(status, country_of(handset))
            _keep(self._settled_counters, key, counter)  # odd handsets: bounded
        return counter

    def mo_received(self, carrier: str, outcome: MoOutcome | None) -> None:
        c = self.metrics.carrier(carrier)
        c.mo_messages.inc()
        if outcome is None:
            return
        if outcome.action in (MoAction.opt_out, MoAction.opt_out_all):
            c.opt_outs.inc()
        elif outcome.action is MoAction.opt_in:
            c.opt_ins.inc()


class BindObserver:
    """BindListener for one bind: bind state, reconnects, late responses."""

    def __init__(self, metrics: GatewayMetrics, carrier: str, bind_type: str, bind: str,
                 window: int) -> None:  # fmt: skip
        self._bind: BindMetrics = metrics.bind(carrier, bind_type, bind)
        self._bind.window_size.set(window)
        self._late = metrics.carrier(carrier).late_responses

    def bind_state_changed(self, bound: bool) -> None:
        self._bind.up.set(1 if bound else 0)

    def reconnecting(self, delay: float, reason: str) -> None:
        self._bind.reconnects.inc()

    def response_unmatched(self, pdu: Pdu) -> None:
        self._late.inc()


_SubmittedChildren = tuple[Counter, Counter, Histogram]
"""A submitted message's metric children: its event counter, its segments counter (by
encoding) and its carrier's queue-wait histogram."""

_K = TypeVar("_K")
_V = TypeVar("_V")


def _keep(children: dict[_K, _V], key: _K, value: _V) -> None:
    """Keep a per-message hook's metric children by its labels: one dict look-up per call
    instead of one per metric, each building its key and a closure (benchmarks/metrics_cost:
    a message's hooks 3.47 -> 2.44 us). Bounded: a full cache starts again."""
    if len(children) >= CHILDREN_KEPT:
        children.clear()
    children[key] = value


def country_of(msisdn: str) -> str | None:
    """The main region of an international number's calling code ("447700..." -> "GB"), by
    dictionary look-ups only (a receipt's source_addr, counted per country); None when the
    number is not in international form."""
    digits = msisdn.removeprefix("+")
    if not digits[:1].isdigit() or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        regions = (
            COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size])) if digits[:size].isdigit() else None
        )
        if regions:
            return regions[0]
    return None
