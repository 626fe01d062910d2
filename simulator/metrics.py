"""Every Prometheus metric the SMSC simulator exports, defined once with HELP text.

This module owns the simulator's metric names (prefix `smsgw_simulator_`), label sets and
bound-child helpers, on an injected `CollectorRegistry`. It uses the gateway's conventions and
toolkit (`common.metric_specs`); `simulator.telemetry` feeds it from the SMSC's plain counters.
Label values come from closed sets: bind types, command names, command_status names (`vendor`
or `unknown` past them) and message_state names.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from common.metric_specs import MetricDefiner, MetricSpec, cached, counter, gauge
from gateway.smpp.constants import BindType, CommandId, CommandStatus, MessageState, status_name

BIND_TYPES: Final = tuple(bind_type.value for bind_type in BindType)
"""SMPP 3.4 §2.2 bind types; `tx`, `rx` and `trx` are accepted as aliases."""

_BIND_TYPE_ALIASES: Final = {"tx": "transmitter", "rx": "receiver", "trx": "transceiver"}


class SimulatorMetrics:
    """The SMSC simulator's own metrics (prefix `smsgw_simulator_`) on an injected registry."""

    def __init__(self, registry: CollectorRegistry, *, version: str) -> None:
        self.registry = registry
        r = MetricDefiner(registry)
        self.build_info = gauge(
            r, "smsgw_simulator_build_info", "Always 1; labels carry the build.", ("version",)
        )
        self.build_info.labels(version).set(1)
        self.sessions_bound = gauge(
            r, "smsgw_simulator_sessions_bound", "ESME sessions currently bound.", ("bind_type",)
        )
        self.pdus_received = counter(
            r,
            "smsgw_simulator_pdus_received",
            "PDUs received from ESMEs, by command (unknown for an unrecognised command_id).",
            ("command",),
        )
        self.submit_responses = counter(
            r,
            "smsgw_simulator_submit_responses",
            "submit_sm_resp PDUs sent, by command_status name.",
            ("command_status",),
        )
        self.receipts_sent = counter(
            r,
            "smsgw_simulator_receipts_sent",
            "Delivery receipts sent, by final message_state (SMPP 3.4 §5.2.28).",
            ("state",),
        )
        self.mo_sent = counter(
            r, "smsgw_simulator_mo_sent", "Mobile-originated deliver_sm PDUs sent.", ()
        )
        self.specs: tuple[MetricSpec, ...] = tuple(r.specs)
        """Every metric this class defines (name, type, HELP, labels)."""
        self._pdus: dict[int, Counter] = {}
        self._responses: dict[int, Counter] = {}
        self._receipts: dict[int, Counter] = {}
        self._sessions: dict[Hashable, Gauge] = {}
        for bind_type in BIND_TYPES:
            self.sessions(bind_type)
        for command in (CommandId.bind_transceiver, CommandId.submit_sm, CommandId.enquire_link):
            self.pdu_received(command)
        self.throttled: Counter = self.submit_response(CommandStatus.ESME_RTHROTTLED)
        """Submits answered ESME_RTHROTTLED (a child of the submit_responses counter)."""
        self.submit_response(CommandStatus.ESME_ROK)
        self.receipt_sent(MessageState.DELIVERED)

    def sessions(self, bind_type: object) -> Gauge:
        """The bound-sessions gauge child for a bind type.

        Raises:
            ValueError: not a bind type (a programming error).
        """
        return cached(
            self._sessions, bind_type, lambda: self.sessions_bound.labels(_bind_type(bind_type))
        )

    def pdu_received(self, command_id: int) -> Counter:
        """The PDUs-received child for a raw or enum command_id."""
        return cached(
            self._pdus, command_id, lambda: self.pdus_received.labels(_command_name(command_id))
        )

    def submit_response(self, command_status: int) -> Counter:
        """The submit-responses child for a raw or enum command_status."""
        return cached(
            self._responses,
            command_status,
            lambda: self.submit_responses.labels(status_name(command_status)),
        )

    def receipt_sent(self, message_state: int) -> Counter:
        """The receipts-sent child for a message_state."""
        return cached(
            self._receipts,
            message_state,
            lambda: self.receipts_sent.labels(_state_name(message_state)),
        )


def _bind_type(item: object) -> str:
    value = item.value if isinstance(item, enum.Enum) else item
    if isinstance(value, str):
        value = _BIND_TYPE_ALIASES.get(value, value)
    if isinstance(value, str) and value in BIND_TYPES:
        return value
    raise ValueError(f"bind_type: {value!r} is not one of {sorted(BIND_TYPES)}")


def _command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return "unknown"


def _state_name(message_state: int) -> str:
    try:
        return MessageState(message_state).name
    except ValueError:
        return "unknown"
