"""The SMPP 3.4 session state machine, sans-IO: bytes in, events and bytes out.

Theory of operation (SMPP 3.4 §2.2 "SMPP Sessions", §2.3 "Allowed operations", §2.6 sequencing):

* A session is OPEN after the TCP connect. The ESME sends one of the three bind requests; the
  session is BINDING_* until the SMSC's bind_*_resp arrives, then BOUND_TX / BOUND_RX /
  BOUND_TRX on ESME_ROK or back to OPEN on any other status. An SMSC may instead open with
  `outbind` (§2.2.1), after which the ESME answers with bind_receiver.
* While bound, each side may only send the requests §2.3 Table 2-1 allows for that bind type:
  a transmitter submits, a receiver receives deliver_sm/data_sm, a transceiver does both.
  A request that is not allowed gets its response with ESME_RINVBNDSTS (ESME_RALYBND for a
  second bind) and the session stays up.
* `unbind` from either side moves to UNBINDING; the unbind_resp moves to CLOSED. The core answers
  the peer's unbind and enquire_link itself, and answers garbage with generic_nack (§4.3):
  ESME_RINVCMDID keeps the session, ESME_RINVCMDLEN loses framing and ends it.
* Responses are matched to our outstanding requests by sequence_number only (§2.6); one that
  matches nothing is reported as ResponseUnmatched and never guessed at.

Transitions are data (`TRANSITIONS`), keyed by *who sent* the PDU (ESME or SMSC) rather than by
which side we are, so the gateway (role ESME) and the simulator (role SMSC) run the same rules
(h11 `_state.py`). Time is a parameter (`now`, a monotonic clock reading); the core keeps no
timers: futures and timeouts live in gateway/carrier/window.py.
"""

from __future__ import annotations

import enum
from typing import Final

from gateway.smpp.codec import decode_header, decode_pdu, encode_pdu
from gateway.smpp.constants import MAX_SEQUENCE_NUMBER, RESPONSE_BIT, CommandId, CommandStatus
from gateway.smpp.errors import (
    InvalidCommandIdError,
    InvalidCommandLengthError,
    RemoteProtocolError,
    SessionStateError,
)
from gateway.smpp.events import (
    BindFailed,
    BindRequested,
    BindSucceeded,
    Event,
    OutbindReceived,
    PeerMisbehaved,
    RequestReceived,
    ResponseReceived,
    ResponseUndecodable,
    ResponseUnmatched,
    Unbound,
)
from gateway.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH, PduBuffer
from gateway.smpp.pdu import (
    RESPONSE_CLASS,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduBase,
    UnbindResp,
)


class Role(enum.Enum):
    """Which end of the link a PDU came from (or which end we are)."""

    ESME = "esme"
    SMSC = "smsc"


class SessionState(enum.Enum):
    """SMPP 3.4 §2.2 session states, with the bind and unbind handshakes made explicit."""

    OPEN = "open"
    OUTBOUND = "outbound"
    BINDING_TX = "binding_tx"
    BINDING_RX = "binding_rx"
    BINDING_TRX = "binding_trx"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


S = SessionState
C = CommandId
ESME, SMSC = Role.ESME, Role.SMSC

BOUND_STATES: Final = frozenset({S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX})
_BIND_REQUESTS: Final = {
    C.bind_transmitter: (S.BINDING_TX, C.bind_transmitter_resp, S.BOUND_TX),
    C.bind_receiver: (S.BINDING_RX, C.bind_receiver_resp, S.BOUND_RX),
    C.bind_transceiver: (S.BINDING_TRX, C.bind_transceiver_resp, S.BOUND_TRX),
}

# SMPP 3.4 §2.3 Table 2-1: the requests each side may send in each bound state.
_ESME_SUBMITS: Final = frozenset(
    {C.submit_sm, C.submit_multi, C.data_sm, C.query_sm, C.cancel_sm, C.replace_sm}
)
_SMSC_DELIVERS: Final = frozenset({C.deliver_sm, C.data_sm, C.alert_notification})
_LINK: Final = frozenset({C.enquire_link})
ALLOWED_REQUESTS: Final[dict[tuple[SessionState, Role], frozenset[CommandId]]] = {
    (S.BOUND_TX, ESME): _ESME_SUBMITS | _LINK,
    (S.BOUND_TX, SMSC): _LINK,
    (S.BOUND_RX, ESME): _LINK,
    (S.BOUND_RX, SMSC): _SMSC_DELIVERS | _LINK,
    (S.BOUND_TRX, ESME): _ESME_SUBMITS | _LINK,
    (S.BOUND_TRX, SMSC): _SMSC_DELIVERS | _LINK,
}


def _build_transitions() -> dict[tuple[SessionState, Role, CommandId], SessionState]:
    table: dict[tuple[SessionState, Role, CommandId], SessionState] = {}
    for request, (binding, response, bound) in _BIND_REQUESTS.items():
        table[(S.OPEN, ESME, request)] = binding
        table[(binding, SMSC, response)] = bound
    table[(S.OPEN, SMSC, C.outbind)] = S.OUTBOUND
    table[(S.OUTBOUND, ESME, C.bind_receiver)] = S.BINDING_RX
    for (state, sender), requests in ALLOWED_REQUESTS.items():
        for command_id in requests:
            table[(state, sender, command_id)] = state
        table[(state, sender, C.unbind)] = S.UNBINDING
    # enquire_link is harmless before the bind completes; SMPP 5.0 allows it in OPEN.
    for state in (S.OPEN, S.OUTBOUND, S.BINDING_TX, S.BINDING_RX, S.BINDING_TRX, S.UNBINDING):
        table[(state, ESME, C.enquire_link)] = state
        table[(state, SMSC, C.enquire_link)] = state
    table[(S.UNBINDING, ESME, C.unbind_resp)] = S.CLOSED
    table[(S.UNBINDING, SMSC, C.unbind_resp)] = S.CLOSED
    return table


TRANSITIONS: Final = _build_transitions()

# The same table indexed for the hot path: (state, sender) -> {command_id int: next state}.
# Enum hashing is Python-level and slow; PDUs carry plain ints.
_MOVES: Final[dict[tuple[SessionState, Role], dict[int, SessionState]]] = {
    (state, sender): {
        int(command): target
        for (s, r, command), target in TRANSITIONS.items()
        if s is state and r is sender
    }
    for state in SessionState
    for sender in Role
}
# A bind refused (non-zero status, or generic_nack) goes back to where the bind started.
BIND_REJECTED: Final = {S.BINDING_TX: S.OPEN, S.BINDING_RX: S.OPEN, S.BINDING_TRX: S.OPEN}


def next_state(state: SessionState, sender: Role, command_id: int) -> SessionState:
    """The state after `sender` sends `command_id` in `state`.

    Raises:
        SessionStateError: SMPP 3.4 does not allow that PDU from that side in that state.
    """
    try:
        return TRANSITIONS[(state, sender, CommandId(command_id))]
    except (KeyError, ValueError):
        raise SessionStateError(
            f"{sender.value} may not send {_name(command_id)} in state {state.value}"
        ) from None


def _name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return hex(command_id)


class Session:
    """One SMPP session, either end. Feed it bytes; send what `data_to_send()` returns."""

    def __init__(
        self,
        role: Role,
        *,
        max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH,
        first_sequence_number: int = 1,
    ) -> None:
        self.role = role
        self.peer = SMSC if role is ESME else ESME
        self._state = S.OPEN
        self._my_moves = _MOVES[(S.OPEN, role)]
        self._peer_moves = _MOVES[(S.OPEN, self.peer)]
        self.last_received_at: float | None = None
        self._buffer = PduBuffer(max_command_length)
        self._output: list[bytes] = []
        self._outstanding: dict[int, int] = {}
        self._next_sequence = first_sequence_number
        self._bound_state: SessionState | None = None

    @property
    def state(self) -> SessionState:
        return self._state

    @state.setter
    def state(self, state: SessionState) -> None:
        self._state = state
        self._my_moves = _MOVES[(state, self.role)]
        self._peer_moves = _MOVES[(state, self.peer)]

    # --- outbound ----------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """How many of our requests await a response."""
        return len(self._outstanding)

    @property
    def queued_pdus(self) -> int:
        """How many encoded PDUs wait for `data_to_send`."""
        return len(self._output)

    def send_request(self, pdu: PduBase) -> int:
        """Queue one request for sending; returns the sequence_number given to it.

        Raises:
            SessionStateError: the request is not allowed from our side in this state.
            LocalProtocolError: the PDU cannot be encoded (a field over its maximum).
        """
        state = self._state_for(self.role, pdu.command_id)
        sequence_number = self._allocate_sequence_number()
        pdu.sequence_number = sequence_number
        self._output.append(encode_pdu(pdu))  # type: ignore[arg-type]
        self._outstanding[sequence_number] = pdu.command_id
        if state is not self._state:
            self.state = state
        return sequence_number

    def send_response(self, pdu: PduBase) -> None:
        """Queue one response; its sequence_number must be the request's.

        Raises:
            SessionStateError: a bind or unbind answer that does not fit the handshake.
        """
        command_id = pdu.command_id
        if command_id in _HANDSHAKE_RESPONSES:
            self._apply_handshake_response(self.role, command_id, pdu.command_status)
        self._output.append(encode_pdu(pdu))  # type: ignore[arg-type]

    def forget(self, sequence_number: int) -> bool:
        """Stop waiting for a response (timed out or cancelled); a late one becomes unmatched."""
        return self._outstanding.pop(sequence_number, None) is not None

    def data_to_send(self) -> bytes:
        """All bytes queued since the last call (empty when nothing is pending)."""
        if not self._output:
            return b""
        data = b"".join(self._output)
        self._output.clear()
        return data

    def close(self) -> None:
        """The connection is gone: drop outstanding requests and go to CLOSED."""
        self.state = S.CLOSED
        self._outstanding.clear()

    # --- inbound -----------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the peer; returns the events they complete, in order."""
        self.last_received_at = now
        events: list[Event] = []
        buffer = self._buffer
        buffer.feed(data)
        try:
            frame = buffer.next_frame()
            while frame is not None:
                self._receive_frame(frame, events)
                frame = buffer.next_frame()
        except InvalidCommandLengthError as error:
            self._nack(error)
            events.append(PeerMisbehaved(error, fatal=True))
            self.close()
        return events

    def _receive_frame(self, frame: bytes, events: list[Event]) -> None:
        try:
            pdu = decode_pdu(frame)
        except InvalidCommandIdError as error:
            self._nack(error)
            events.append(PeerMisbehaved(error, fatal=False))
            return
        except RemoteProtocolError as error:
            self._receive_undecodable(frame, error, events)
            return
        if pdu.command_id & RESPONSE_BIT:
            self._receive_response(pdu, events)
        else:
            self._receive_request(pdu, events)

    def _receive_undecodable(
        self, frame: bytes, error: RemoteProtocolError, events: list[Event]
    ) -> None:
        _, command_id, _, sequence_number = decode_header(frame)
        if command_id & RESPONSE_BIT and sequence_number in self._outstanding:
            del self._outstanding[sequence_number]
            events.append(ResponseUndecodable(sequence_number, error))
        elif not command_id & RESPONSE_BIT:
            self._nack(error)
        events.append(PeerMisbehaved(error, fatal=False))

    def _receive_response(self, pdu: Pdu, events: list[Event]) -> None:
        request_id = self._outstanding.pop(pdu.sequence_number, None)
        if request_id is None:
            events.append(ResponseUnmatched(pdu))
            return
        if request_id in _HANDSHAKE_REQUESTS:
            events.append(self._receive_handshake_response(pdu, request_id))
        else:
            events.append(ResponseReceived(pdu))

    def _receive_handshake_response(self, pdu: Pdu, request_id: int) -> Event:
        if request_id == C.unbind:
            self.state = S.CLOSED
            return Unbound(by_peer=False)
        status = pdu.command_status
        if status == 0 and pdu.command_id != C.generic_nack:
            self._apply_handshake_response(self.peer, pdu.command_id, status)
            return BindSucceeded(pdu)
        self.state = BIND_REJECTED.get(self.state, self.state)
        return BindFailed(pdu, status)

    def _receive_request(self, pdu: Pdu, events: list[Event]) -> None:
        command_id = pdu.command_id
        try:
            state = self._state_for(self.peer, command_id)
        except SessionStateError:
            self._refuse(pdu)
            return
        if state is not self._state:
            self.state = state
        if command_id not in _SESSION_REQUESTS:  # deliver_sm, submit_sm, ...: the application's
            events.append(RequestReceived(pdu))
        elif command_id == C.enquire_link:
            self._output.append(encode_pdu(EnquireLinkResp(sequence_number=pdu.sequence_number)))
        elif command_id == C.unbind:
            self._output.append(encode_pdu(UnbindResp(sequence_number=pdu.sequence_number)))
            self.state = S.CLOSED
            events.append(Unbound(by_peer=True))
        elif command_id in _BIND_REQUESTS:
            events.append(BindRequested(pdu))
        else:  # outbind
            events.append(OutbindReceived(pdu))

    def _refuse(self, pdu: Pdu) -> None:
        """Answer a request not allowed now (§2.3): RALYBND for a re-bind, else RINVBNDSTS."""
        response_class = RESPONSE_CLASS.get(type(pdu))
        if response_class is None:  # outbind, alert_notification: no response PDU exists
            return
        already_bound = pdu.command_id in _BIND_REQUESTS and self.state in BOUND_STATES
        status = CommandStatus.ESME_RALYBND if already_bound else CommandStatus.ESME_RINVBNDSTS
        refusal = response_class(sequence_number=pdu.sequence_number, command_status=status)
        self._output.append(encode_pdu(refusal))  # type: ignore[arg-type]

    # --- helpers -----------------------------------------------------------------------------

    def _state_for(self, sender: Role, command_id: int) -> SessionState:
        state = self._state
        moves = self._my_moves if sender is self.role else self._peer_moves
        target = moves.get(command_id)
        if target is not None:
            return target
        if state is S.UNBINDING and command_id != C.unbind_resp and self._bound_state:
            # Requests already on the wire when an unbind crosses them are still honoured.
            next_state(self._bound_state, sender, command_id)
            return state
        return next_state(state, sender, command_id)

    def _apply_handshake_response(self, sender: Role, command_id: int, status: int) -> None:
        if status != 0 and command_id != C.unbind_resp:
            self.state = BIND_REJECTED.get(self.state, self.state)
            return
        self.state = next_state(self.state, sender, command_id)
        if self.state in BOUND_STATES:
            self._bound_state = self.state

    def _allocate_sequence_number(self) -> int:
        """1 .. 0x7FFFFFFF, wrapping, skipping any still outstanding (SMPP 3.4 §3.2)."""
        sequence_number = self._next_sequence
        while sequence_number in self._outstanding:
            sequence_number = sequence_number % MAX_SEQUENCE_NUMBER + 1
        self._next_sequence = sequence_number % MAX_SEQUENCE_NUMBER + 1
        return sequence_number

    def _nack(self, error: RemoteProtocolError) -> None:
        nack = GenericNack(
            sequence_number=error.sequence_number, command_status=error.command_status
        )
        self._output.append(encode_pdu(nack))


# One set test per response (an enum attribute lookup per response cost ~160 ns).
_HANDSHAKE_REQUESTS: Final = frozenset({*_BIND_REQUESTS, C.unbind})
_HANDSHAKE_RESPONSES: Final = frozenset(
    {C.bind_transmitter_resp, C.bind_receiver_resp, C.bind_transceiver_resp, C.unbind_resp}
)
# The requests the session answers or reports itself; one set test lets every other request
# through without comparing it to each of these (an enum attribute look-up apiece).
_SESSION_REQUESTS: Final = frozenset({C.enquire_link, C.unbind, *_BIND_REQUESTS, C.outbind})
