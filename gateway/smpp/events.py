"""Events the sans-IO session returns from `Session.receive_data` (past tense, frozen).

The drivers (gateway/carrier/bind.py, simulator/server.py) dispatch on these; the core never logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.smpp.errors import RemoteProtocolError
from gateway.smpp.pdu import Pdu


@dataclass(frozen=True, slots=True)
class BindRequested:
    """The peer (an ESME) asked to bind; the SMSC side answers with a bind_*_resp."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class BindSucceeded:
    """Our bind was accepted; the session is now bound."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class BindFailed:
    """Our bind was refused with `command_status`; the session is back to OPEN."""

    pdu: Pdu
    command_status: int


@dataclass(frozen=True, slots=True)
class OutbindReceived:
    """The SMSC asked us to bind as a receiver (SMPP 3.4 §4.1.7)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the application must answer (submit_sm, deliver_sm, data_sm, query_sm, ...)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response (or generic_nack) matched to one of our outstanding requests."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseUnmatched:
    """A response whose sequence_number matches nothing outstanding: counted and dropped."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseUndecodable:
    """A response to our request `sequence_number` that could not be decoded."""

    sequence_number: int
    error: RemoteProtocolError


@dataclass(frozen=True, slots=True)
class Unbound:
    """The session reached CLOSED through unbind; `by_peer` says who asked."""

    by_peer: bool


@dataclass(frozen=True, slots=True)
class PeerMisbehaved:
    """The peer broke SMPP; `fatal` means framing is lost and the connection must close."""

    error: RemoteProtocolError
    fatal: bool


Event = (
    BindRequested
    | BindSucceeded
    | BindFailed
    | OutbindReceived
    | RequestReceived
    | ResponseReceived
    | ResponseUnmatched
    | ResponseUndecodable
    | Unbound
    | PeerMisbehaved
)
