"""Every Prometheus metric smsgw exports, defined once with HELP text, and bound-child helpers.

This module owns metric names, types, label sets and buckets for the gateway (`GatewayMetrics`;
the SMSC simulator defines its own in `simulator.metrics`, with the same toolkit from
`common.metric_specs`). It takes an injected `CollectorRegistry`, so tests and several
instances in one process never collide, and never touches a global registry.

Naming follows the Prometheus conventions (https://prometheus.io/docs/practices/naming/): an
`smsgw_` prefix, base units (`_seconds`), `_total` on counters (prometheus-client appends it),
and an outcome is a label, never a new metric name.

Label values come only from config (carrier, bind and queue names, the configured country
set) or from closed sets defined here or in `gateway.smpp.constants`: never a message id,
MSISDN or sender text. Values outside a closed set raise `ValueError` (a programming error);
countries outside the configured set become `other`; free-form code labels (`reason`,
`component`) must be snake_case identifiers, anything else becomes `other`.

Hot paths hold bound children: `metrics.carrier("acme")` returns a `CarrierMetrics` whose
attributes are children already bound to that carrier, and the per-status/per-reason lookups
are cached, so a hot path pays a dict lookup instead of a `.labels()` call.
"""

from __future__ import annotations

import enum
import platform
import re
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from common.metric_specs import MetricDefiner as _Definer
from common.metric_specs import MetricSpec
from common.metric_specs import cached as _cached
from common.metric_specs import counter as _counter
from common.metric_specs import gauge as _gauge
from common.metric_specs import histogram as _histogram
from gateway.messages import Status
from gateway.smpp.constants import CommandStatus, status_name

OTHER: Final = "other"
"""Label value for a country outside the configured set, or a malformed code label."""

NO_CARRIER: Final = "none"
"""Carrier label for messages that never reached a carrier (rejected or suppressed early)."""

MESSAGE_STATUSES: Final = tuple(status.value for status in Status)
"""Closed set of `smsgw_message_events_total{status}` values: the public event statuses."""

_PRE_ROUTING_STATUSES: Final = ("accepted", "rejected", "suppressed", "deferred")

BIND_TYPES: Final = ("transmitter", "receiver", "transceiver")
"""SMPP 3.4 §2.2 bind types; `tx`, `rx` and `trx` are accepted as aliases."""

_BIND_TYPE_ALIASES: Final = {"tx": "transmitter", "rx": "receiver", "trx": "transceiver"}

ENCODINGS: Final = ("gsm7", "ucs2", "latin1", "binary")
"""Base encodings; `gsm7_<language>` (3GPP TS 23.038 national shift tables) is also accepted."""

OPT_ACTIONS: Final = ("opt_out", "opt_in")
COMPLIANCE_OUTCOMES: Final = ("allow", "reject", "defer", "suppress")

# fmt: off
SUBMIT_LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
"""submit_sm -> submit_sm_resp round trip: milliseconds normally, up to the response timeout."""

QUEUE_WAIT_BUCKETS: Final = (
    0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0,
)
"""Enqueue -> first submit_sm: includes throttling and quiet-hours deferral (hours)."""

DELIVERY_LATENCY_BUCKETS: Final = (
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
    86400.0, 259200.0,
)
"""submit_sm_resp -> delivery receipt: seconds to the SMSC's validity period (days)."""
# fmt: on

_CODE_LABEL: Final = re.compile(r"[a-z][a-z0-9_]{0,47}")
_COUNTRY: Final = re.compile(r"[A-Z]{2}")


def _value(item: object) -> object:
    """The label-relevant value of an enum member (its `.value`), or the item itself."""
    return item.value if isinstance(item, enum.Enum) else item


def _closed(item: object, allowed: Collection[str], label: str) -> str:
    value = _value(item)
    if isinstance(value, str) and value in allowed:
        return value
    raise ValueError(f"{label}: {value!r} is not one of {sorted(allowed)}")


def _code_label(item: object) -> str:
    """A snake_case code constant (reason, component), else `other`: never free text."""
    value = _value(item)
    if isinstance(value, str) and _CODE_LABEL.fullmatch(value):
        return value
    return OTHER


def _bind_type(item: object) -> str:
    value = _value(item)
    if isinstance(value, str):
        value = _BIND_TYPE_ALIASES.get(value, value)
    return _closed(value, BIND_TYPES, "bind_type")


def _encoding(item: object) -> str:
    value = _value(item)
    if isinstance(value, str) and (
        value in ENCODINGS or (value.startswith("gsm7_") and _CODE_LABEL.fullmatch(value))
    ):
        return value
    raise ValueError(f"encoding: {value!r} is not one of {ENCODINGS} or gsm7_<language>")


class CarrierMetrics:
    """Children bound to one configured carrier; attributes are ready to `inc`/`observe`."""

    __slots__ = (
        "_responses", "_retries", "_root", "_segments", "delivery_latency", "late_responses",
        "mo_messages", "name", "opt_ins", "opt_outs", "queue_wait", "receipts_matched_late",
        "receipts_rerouted", "receipts_timed_out", "receipts_unmatched", "submit_latency",
        "throttle_wait",
        "throttled",
    )  # fmt: skip

    def __init__(self, root: GatewayMetrics, name: str) -> None:
        self._root = root
        self.name = name
        self._responses: dict[Hashable, Counter] = {}
        self._segments: dict[Hashable, Counter] = {}
        self._retries: dict[Hashable, Counter] = {}
        self.submit_latency: Histogram = root.submit_latency.labels(name)
        self.queue_wait: Histogram = root.queue_wait.labels(name)
        self.delivery_latency: Histogram = root.delivery_latency.labels(name)
        self.receipts_unmatched: Counter = root.receipts_unmatched.labels(name)
        self.receipts_matched_late: Counter = root.receipts_matched_late.labels(name)
        self.receipts_rerouted: Counter = root.receipts_rerouted.labels(name)
        self.receipts_timed_out: Counter = root.receipts_timed_out.labels(name)
        self.late_responses: Counter = root.late_responses.labels(name)
        self.mo_messages: Counter = root.mo_messages.labels(name)
        self.opt_outs: Counter = root.opt_events.labels(name, "opt_out")
        self.opt_ins: Counter = root.opt_events.labels(name, "opt_in")
        self.throttle_wait: Counter = root.throttle_wait.labels(name)
        self.throttled: Counter = self.submit_sm_response(CommandStatus.ESME_RTHROTTLED)
        self.submit_sm_response(CommandStatus.ESME_ROK)
        for encoding in ("gsm7", "ucs2"):
            self.segments(encoding)

    def submit_sm_response(self, command_status: int) -> Counter:
        """The `smsgw_submit_sm_responses_total` child for a raw or enum command_status."""
        return _cached(
            self._responses,
            command_status,
            lambda: self._root.submit_sm_responses.labels(self.name, status_name(command_status)),
        )

    def segments(self, encoding: object) -> Counter:
        """The `smsgw_segments_total` child for an encoding (str or enum with a str value)."""
        return _cached(
            self._segments,
            encoding,
            lambda: self._root.segments.labels(self.name, _encoding(encoding)),
        )

    def retry(self, reason: object) -> Counter:
        """The `smsgw_retries_total` child for a snake_case reason code."""
        return _cached(
            self._retries,
            reason,
            lambda: self._root.retries.labels(self.name, _code_label(reason)),
        )

    def message(self, status: object, country: str | None) -> Counter:
        """The `smsgw_message_events_total` child for this carrier (see GatewayMetrics.message)."""
        return self._root.message(status, carrier=self.name, country=country)


class BindMetrics:
    """Children bound to one bind (carrier, bind_type, bind id from config)."""

    __slots__ = ("in_flight", "reconnects", "up", "window_size")

    def __init__(self, root: GatewayMetrics, carrier: str, bind_type: str, bind: str) -> None:
        self.up: Gauge = root.bind_up.labels(carrier, bind_type, bind)
        self.reconnects: Counter = root.reconnects.labels(carrier, bind_type, bind)
        self.in_flight: Gauge = root.window_in_flight.labels(carrier, bind)
        self.window_size: Gauge = root.window_size.labels(carrier, bind)


class QueueMetrics:
    """Gauges bound to one Redis stream (its name is a code constant from gateway/store/keys.py)."""

    __slots__ = ("depth", "lag", "pending")

    def __init__(self, root: GatewayMetrics, queue: str) -> None:
        self.depth: Gauge = root.queue_depth.labels(queue)
        self.lag: Gauge = root.queue_lag.labels(queue)
        self.pending: Gauge = root.queue_pending.labels(queue)


class _BeforeCollect:
    """A collector with no metrics of its own: runs hooks when the registry is collected."""

    def __init__(self, hooks: list[Callable[[], None]]) -> None:
        self._hooks = hooks

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        for hook in self._hooks:
            hook()
        return []


class GatewayMetrics:
    """The gateway's metrics on an injected registry, with children for configured carriers.

    Args:
        registry: where every metric is registered (one registry per GatewayMetrics).
        carriers: configured carrier names; their series are created at 0 right away.
        version: the smsgw version, exported as `smsgw_build_info{version}`.
        countries: the closed set of ISO 3166-1 alpha-2 codes used as the `country` label
            (the countries with rules in config); any other country is counted as `other`.
        process_collectors: also register process, platform and GC collectors.

    Raises:
        ValueError: a carrier name is empty, duplicated or the reserved `none`, or a country
            is not two letters.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        carriers: Sequence[str],
        version: str,
        countries: Collection[str] = (),
        process_collectors: bool = True,
    ) -> None:
        self.registry = registry
        self._countries = _check_countries(countries)
        _check_carriers(carriers)
        self._before_collect: list[Callable[[], None]] = []
        registry.register(_BeforeCollect(self._before_collect))  # first: runs before the rest
        definer = _Definer(registry)
        self._define(definer)
        self.specs: tuple[MetricSpec, ...] = tuple(definer.specs)
        """Every metric this class defines (name, type, HELP, labels)."""
        self.build_info.labels(version, platform.python_version()).set(1)
        for outcome in ("ok", "short"):
            self.redis_replica_waits.labels(outcome)  # at 0 from the start
        if process_collectors:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self._messages: dict[Hashable, Counter] = {}
        self._binds: dict[Hashable, BindMetrics] = {}
        self._queues: dict[str, QueueMetrics] = {}
        self._errors: dict[Hashable, Counter] = {}
        self._carriers = {name: CarrierMetrics(self, name) for name in carriers}
        self._precreate_messages(carriers)

    def _define(self, r: _Definer) -> None:
        """Create every gateway metric on `r`: the single place each one is defined."""
        carrier, bind = ("carrier",), ("carrier", "bind_type", "bind")
        self.build_info = _gauge(
            r, "smsgw_build_info", "Always 1; labels carry the build.", ("version", "python")
        )
        self.message_events = _counter(
            r,
            "smsgw_message_events",
            "Message events by status (accepted, submitted, delivered, undelivered, expired, "
            "failed, rejected, suppressed, deferred).",
            ("carrier", "country", "status"),
        )
        self.segments = _counter(
            r,
            "smsgw_segments",
            "Message parts submitted (one submit_sm each), by encoding.",
            ("carrier", "encoding"),
        )
        self.submit_sm_responses = _counter(
            r,
            "smsgw_submit_sm_responses",
            "submit_sm_resp PDUs received, by command_status name (vendor/unknown otherwise).",
            ("carrier", "command_status"),
        )
        self.submit_latency = _histogram(
            r,
            "smsgw_submit_latency_seconds",
            "Round trip from writing submit_sm to reading its submit_sm_resp.",
            carrier,
            SUBMIT_LATENCY_BUCKETS,
        )
        self.queue_wait = _histogram(
            r,
            "smsgw_queue_wait_seconds",
            "Time from enqueue to a message's first submit_sm (throttling and deferral included).",
            carrier,
            QUEUE_WAIT_BUCKETS,
        )
        self.delivery_latency = _histogram(
            r,
            "smsgw_delivery_latency_seconds",
            "Time from submit_sm_resp to the matching delivery receipt.",
            carrier,
            DELIVERY_LATENCY_BUCKETS,
        )
        self.bind_up = _gauge(r, "smsgw_bind_up", "1 while the bind is bound, else 0.", bind)
        self.reconnects = _counter(
            r, "smsgw_reconnects", "Reconnects after a bind was lost or refused.", bind
        )
        self.window_in_flight = _gauge(
            r,
            "smsgw_window_in_flight",
            "Requests sent on the bind and awaiting their response.",
            ("carrier", "bind"),
        )
        self.window_size = _gauge(
            r,
            "smsgw_window_size",
            "Configured window (maximum outstanding requests) of the bind.",
            ("carrier", "bind"),
        )
        self.throttle_wait = _counter(
            r,
            "smsgw_throttle_wait_seconds",
            "Seconds senders waited on the local TPS limit or a carrier throttle backoff.",
            carrier,
        )
        self.retries = _counter(
            r, "smsgw_retries", "Submit attempts scheduled again, by reason.", ("carrier", "reason")
        )
        self.queue_depth = _gauge(
            r, "smsgw_queue_depth", "Entries in the Redis stream.", ("queue",)
        )
        self.queue_lag = _gauge(
            r,
            "smsgw_queue_consumer_lag",
            "Stream entries not yet delivered to the consumer group.",
            ("queue",),
        )
        self.queue_pending = _gauge(
            r,
            "smsgw_queue_pending",
            "Stream entries delivered to a consumer but not yet acknowledged.",
            ("queue",),
        )
        self.receipts_unmatched = _counter(
            r,
            "smsgw_receipts_unmatched",
            "Delivery receipts whose id matched no submitted message when they arrived (kept "
            "10 minutes for a submit_sm_resp or an outcome-unknown hold that may still come).",
            carrier,
        )
        self.receipts_matched_late = _counter(
            r,
            "smsgw_receipts_matched_late",
            "Receipts counted unmatched on arrival and applied later, when the submit_sm_resp "
            "was recorded or the message was held outcome-unknown.",
            carrier,
        )
        self.receipts_rerouted = _counter(
            r,
            "smsgw_receipts_rerouted",
            "With shards: receipts parked unmatched in the shard of the handset they named and "
            "applied in another shard, where their message is (an SMSC that does not swap a "
            "receipt's addresses); each is also counted in smsgw_receipts_matched_late_total.",
            carrier,
        )
        self.receipts_timed_out = _counter(
            r,
            "smsgw_receipts_timed_out",
            "Submitted messages settled expired (code receipt_timeout) because no final "
            "receipt came within the carrier's receipt_timeout.",
            carrier,
        )
        self.late_responses = _counter(
            r,
            "smsgw_late_responses",
            "Responses that arrived after their request timed out (dropped, never matched).",
            carrier,
        )
        self.mo_messages = _counter(
            r, "smsgw_mo_messages", "Mobile-originated messages received.", carrier
        )
        self.opt_events = _counter(
            r,
            "smsgw_opt_events",
            "Opt-out and opt-in keywords received, by action.",
            ("carrier", "action"),
        )
        self.compliance_verdicts = _counter(
            r,
            "smsgw_compliance_verdicts",
            "Compliance decisions, by outcome and reason code.",
            ("outcome", "reason"),
        )
        self.internal_errors = _counter(
            r,
            "smsgw_internal_errors",
            "Unexpected exceptions caught by a supervisor loop, by component.",
            ("component",),
        )
        self.redis_replica_waits = _counter(
            r,
            "smsgw_redis_replica_waits",
            "State writes followed by WAIT (config redis_wait), by outcome: ok (the replicas "
            "had it in time) or short (they had not; the write stands on the master only).",
            ("outcome",),
        )
        self.stage_cpu = _counter(
            r,
            "smsgw_stage_cpu_seconds",
            "CPU time of the engine's own work by stage (read, plan, admit, submit, commit, "
            "receipt): the time of its synchronous code per batch; Redis client and socket "
            "I/O not included.",
            ("stage",),
        )

    def _precreate_messages(self, carriers: Sequence[str]) -> None:
        countries = (*sorted(self._countries), OTHER)
        for carrier in carriers:
            for status in MESSAGE_STATUSES:
                for country in countries:
                    self.message(status, carrier=carrier, country=country)
        for status in _PRE_ROUTING_STATUSES:
            if status in MESSAGE_STATUSES:
                self.message(status, carrier=None, country=None)

    @property
    def carriers(self) -> tuple[str, ...]:
        """The configured carrier names."""
        return tuple(self._carriers)

    def add_carrier(self, name: str) -> CarrierMetrics:
        """Children for a carrier added by a config reload (kept if it already had them)."""
        _check_carriers(
            [*self._carriers, name] if name not in self._carriers else [*self._carriers]
        )
        if name not in self._carriers:
            self._carriers[name] = CarrierMetrics(self, name)
        return self._carriers[name]

    def before_collect(self, hook: Callable[[], None]) -> None:
        """Run `hook` whenever the registry is collected, before any of these metrics are
        read (a scrape, `get_sample_value`): where counts are kept back to be added in
        batches, the hook adds them, so no reader sees them late."""
        self._before_collect.append(hook)

    def carrier(self, name: str) -> CarrierMetrics:
        """The bound children of a configured carrier.

        Raises:
            KeyError: `name` is not a configured carrier.
        """
        try:
            return self._carriers[name]
        except KeyError:
            raise KeyError(f"carrier {name!r} is not configured") from None

    def message(self, status: object, *, carrier: str | None, country: str | None) -> Counter:
        """The `smsgw_message_events_total` child for a status event.

        Args:
            status: a `gateway.messages.Status` (or its value).
            carrier: a configured carrier, or None before routing (label `none`).
            country: an ISO alpha-2 code; outside the configured set (or None) it is `other`.

        Raises:
            ValueError: unknown status or carrier.
        """
        return _cached(
            self._messages,
            (status, carrier, country),
            lambda: self._message_child(status, carrier, country),
        )

    def _message_child(self, status: object, carrier: str | None, country: str | None) -> Counter:
        if carrier is not None and carrier not in self._carriers:
            raise ValueError(f"carrier: {carrier!r} is not configured")
        label_country = country.upper() if country is not None else OTHER
        if label_country not in self._countries:
            label_country = OTHER
        return self.message_events.labels(
            carrier if carrier is not None else NO_CARRIER,
            label_country,
            _closed(status, MESSAGE_STATUSES, "status"),
        )

    def bind(self, carrier: str, bind_type: object, bind: str) -> BindMetrics:
        """The bound children of one bind; its series start at 0 on the first call.

        Raises:
            KeyError: `carrier` is not configured.
            ValueError: unknown bind type.
        """
        return _cached(
            self._binds,
            (carrier, bind_type, bind),
            lambda: BindMetrics(self, self.carrier(carrier).name, _bind_type(bind_type), bind),
        )

    def queue(self, name: str) -> QueueMetrics:
        """The gauges of one Redis stream (depth, consumer lag, pending)."""
        found = self._queues.get(name)
        if found is None:
            found = self._queues[name] = QueueMetrics(self, _code_label(name))
        return found

    def compliance_verdict(self, outcome: object, reason: object) -> Counter:
        """The `smsgw_compliance_verdicts_total` child for an outcome and reason code."""
        return _cached(
            self._errors,
            ("verdict", outcome, reason),
            lambda: self.compliance_verdicts.labels(
                _closed(outcome, COMPLIANCE_OUTCOMES, "outcome"), _code_label(reason)
            ),
        )

    def internal_error(self, component: str) -> Counter:
        """The `smsgw_internal_errors_total` child for a component (module or task name)."""
        return _cached(
            self._errors,
            ("error", component),
            lambda: self.internal_errors.labels(_code_label(component)),
        )


def _check_carriers(carriers: Sequence[str]) -> None:
    if len(set(carriers)) != len(carriers):
        raise ValueError(f"carriers: duplicate names in {list(carriers)}")
    for name in carriers:
        if not name or name == NO_CARRIER:
            raise ValueError(f"carriers: {name!r} is reserved or empty")


def _check_countries(countries: Collection[str]) -> frozenset[str]:
    codes = frozenset(code.upper() for code in countries)
    for code in codes:
        if not _COUNTRY.fullmatch(code):
            raise ValueError(f"countries: {code!r} is not an ISO 3166-1 alpha-2 code")
    return codes
