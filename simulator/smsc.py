"""The simulated SMSC: binds, submits, receipts, MO and faults, over any number of connections.

`Smsc` is the application behind every connection; it keeps no sockets and no timers. The
asyncio shell (`simulator/server.py`) hands it each connection's transport (`connect`), the
bytes read (`receive`), the loss (`disconnect`) and, when `next_due()` says so, the clock
(`run_due`). Each connection gets a `Link`: its sans-IO `Session(Role.SMSC)` (which answers
enquire_link, unbind and garbage by itself, SMPP 3.4 §4.3, §4.11) plus what the SMSC knows
about it.

Hot path: a submit_sm is decided, stored and answered inside the `receive` call that read it,
and the answers produced by one read leave in writes of at most `FLUSH_EVERY` PDUs. Counting
is plain integers (`Counts`); the server copies them into Prometheus children off the hot path.

Delivery of deliver_sm (receipts and MO) goes through a queue per system_id and a window per
connection (`receipts.window` unacknowledged PDUs); unacknowledged ones go back to the queue
when their connection drops, and ones answered with an error are retried after
`receipts.retry_delay`, like a real SMSC's store-and-forward.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import structlog

from gateway.smpp.constants import (
    CommandId,
    CommandStatus,
    MessageState,
    Npi,
    TlvTag,
    Ton,
    status_name,
)
from gateway.smpp.events import (
    BindRequested,
    Event,
    PeerMisbehaved,
    RequestReceived,
    ResponseReceived,
    ResponseUnmatched,
    Unbound,
)
from gateway.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    UnsuccessSme,
)
from gateway.smpp.session import Role, Session
from simulator.behaviour import MESSAGE_STATE, Behaviour, wants_receipt
from simulator.config import Account, FaultSettings, Outcome, SimulatorConfig
from simulator.errors import NoReceiverError
from simulator.journal import journal_line
from simulator.reassembly import Reassembler, ReceivedMessage, payload_of
from simulator.receipts import (
    MessageIds,
    ReceiptDates,
    build_intermediate_receipt,
    build_receipt,
    handset_address,
    intermediate_text,
    receipt_id,
    receipt_text,
)
from simulator.store import MessageRecord, MessageStore, SubmittedPdu
from simulator.text import (
    GSM7_CODINGS,
    decode_text,
    encode_text,
    pack_gsm7,
    segment_body,
    split_udh,
)
from simulator.timing import DueQueue

log = structlog.get_logger()

BindKind = Literal["transmitter", "receiver", "transceiver"]
_BindResp = BindTransmitterResp | BindReceiverResp | BindTransceiverResp
_BIND_KINDS: Final[dict[int, tuple[BindKind, type[_BindResp]]]] = {
    CommandId.bind_transmitter: ("transmitter", BindTransmitterResp),
    CommandId.bind_receiver: ("receiver", BindReceiverResp),
    CommandId.bind_transceiver: ("transceiver", BindTransceiverResp),
}
_ENQUIRE_LINK_RESP: Final = int(CommandId.enquire_link_resp)
_SC_INTERFACE_VERSION: Final = 0x34
# Answers to one read leave in one write, but no more than this many at a time, so the client
# can start on the first answers while we work through the rest of a window.
FLUSH_EVERY: Final = 16
_ROK: Final = 0


class Transport(Protocol):
    """What the SMSC needs of a connection (asyncio.Transport fits)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: ...


class Delivery:
    """A deliver_sm waiting to go, or sent and awaiting its deliver_sm_resp."""

    __slots__ = ("attempts", "pdu", "state")

    def __init__(self, pdu: DeliverSm, state: int | None) -> None:
        self.pdu = pdu
        self.state = state  # a final receipt's message_state; None for MO and intermediates
        self.attempts = 0


class Link:
    """One ESME connection: its session, its bind and its in-flight deliveries."""

    __slots__ = (
        "bind_kind",
        "inflight",
        "peer",
        "requests",
        "session",
        "system_id",
        "transport",
        "writable",
    )

    def __init__(self, transport: Transport, peer: str) -> None:
        self.transport = transport
        self.peer = peer
        self.session = Session(Role.SMSC)
        self.system_id: str | None = None
        self.bind_kind: BindKind | None = None
        self.inflight: dict[int, Delivery] = {}
        self.requests = 0
        self.writable = True

    def flush(self, strip_enquire_link_resp: bool = False) -> None:
        """Write everything the session has queued, in one write."""
        data = self.session.data_to_send()
        if strip_enquire_link_resp and data:
            data = _without_enquire_link_resp(data)
        if data and not self.transport.is_closing():
            self.transport.write(data)


@dataclass(slots=True)
class Counts:
    """Plain-integer tallies the server copies into Prometheus (no metric call per PDU)."""

    pdus_received: dict[int, int] = field(default_factory=dict)
    submit_responses: dict[int, int] = field(default_factory=dict)
    receipts_sent: dict[int, int] = field(default_factory=dict)
    mo_sent: int = 0
    deliveries_retried: int = 0
    deliveries_dropped: int = 0
    responses_unmatched: int = 0
    peer_misbehaved: int = 0
    connections_dropped: int = 0
    session_init_timeouts: int = 0


_Receipt = tuple[MessageRecord, tuple[int, int, str], Outcome, int]


class Smsc:
    """The simulated carrier behind every connection of one simulator."""

    def __init__(
        self, config: SimulatorConfig, *, rng: random.Random, now: float, wall_offset: float
    ) -> None:
        """Args:
        config: the simulator configuration.
        rng: the only source of randomness (seed it to reproduce a run).
        now: the monotonic clock at start; message ids default to a clock-derived start.
        wall_offset: add to a monotonic reading to get Unix time (for receipt dates).
        """
        self.config = config
        self.behaviour = Behaviour(
            receipts=config.receipts,
            faults=config.faults,
            prefix_rules=config.prefix_rules,
            rng=rng,
        )
        self.counts = Counts()
        self.store = MessageStore(config.store_size)
        self.reassembler = Reassembler(history=config.recent_messages)
        self.links: set[Link] = set()
        self._accounts = {account.system_id: account for account in config.accounts}
        self._bound: dict[str, list[Link]] = collections.defaultdict(list)
        self._receivers: dict[str, list[Link]] = collections.defaultdict(list)
        self._pending: dict[str, collections.deque[Delivery]] = collections.defaultdict(
            collections.deque
        )
        self._receipts: DueQueue[_Receipt] = DueQueue()
        self._responses: DueQueue[tuple[Link, Pdu]] = DueQueue()
        self._retries: DueQueue[tuple[str, Delivery]] = DueQueue()
        # Connections to close unless bound by then (SMPP 3.4 session_init_timer).
        self._session_inits: DueQueue[Link] = DueQueue(tick=0.05)
        self._wall_offset = wall_offset
        start = config.message_id_start or int((now + wall_offset) * 1000)
        self._ids = MessageIds(config.message_id_format, start)
        self._dates = ReceiptDates()
        self._mo_reference = rng.randrange(256)
        self._history = config.recent_messages > 0
        # Set by the server when `config.journal` is on: appends one line, unbuffered.
        self.journal: Callable[[bytes], None] | None = None
        self._apply_faults(config.faults)
        self._handlers: dict[type, Callable[[Link, Pdu, float], None]] = {
            SubmitSm: self._on_submit_sm,  # type: ignore[dict-item]
            DataSm: self._on_data_sm,  # type: ignore[dict-item]
            SubmitMulti: self._on_submit_multi,  # type: ignore[dict-item]
            QuerySm: self._on_query_sm,  # type: ignore[dict-item]
            CancelSm: self._on_cancel_sm,  # type: ignore[dict-item]
            ReplaceSm: self._on_replace_sm,  # type: ignore[dict-item]
        }

    # --- faults --------------------------------------------------------------------------------

    @property
    def faults(self) -> FaultSettings:
        return self.behaviour.faults

    def set_faults(self, faults: FaultSettings) -> None:
        """Change the fault switches at run time (new TPS limits start with full buckets)."""
        self._apply_faults(faults)
        log.info("faults_changed", **{k: v for k, v in _fault_items(faults) if v})

    def _apply_faults(self, faults: FaultSettings) -> None:
        self.behaviour.faults = faults
        self._response_delay = faults.response_delay
        self._drop_after = faults.drop_after_pdus
        self._strip_enquire_link = faults.ignore_enquire_link
        self._dlr_first = faults.dlr_before_resp

    # --- connection lifecycle -------------------------------------------------------------------

    def connect(self, transport: Transport, peer: str, now: float) -> Link:
        """A new TCP connection at `now`; returns the Link to pass back with its bytes. It is
        closed `session_init_timeout` seconds from now unless a bind has been accepted."""
        link = Link(transport, peer)
        self.links.add(link)
        if self.config.session_init_timeout > 0:
            self._session_inits.push(now + self.config.session_init_timeout, link)
        return link

    def disconnect(self, link: Link) -> None:
        """The connection is gone: unregister it and requeue its unacknowledged deliveries."""
        self.links.discard(link)
        link.session.close()
        system_id = link.system_id
        if system_id is None:
            return
        _remove(self._bound.get(system_id), link)
        _remove(self._receivers.get(system_id), link)
        if link.inflight:
            pending = self._pending[system_id]
            pending.extendleft(reversed(list(link.inflight.values())))
            link.inflight.clear()
        log.info("esme_disconnected", system_id=system_id, bind_type=link.bind_kind)
        if self._receivers.get(system_id):
            self._pump(system_id)

    def resume_writing(self, link: Link) -> None:
        """The transport drained: send what waited for it."""
        link.writable = True
        if link.system_id is not None and self._pending.get(link.system_id):
            self._pump(link.system_id)

    # --- inbound -------------------------------------------------------------------------------

    def receive(self, link: Link, data: bytes, now: float) -> None:
        """Bytes read from `link`: answer everything they complete, in one write."""
        events = link.session.receive_data(data, now)
        drop_after = self._drop_after
        for event in events:
            if type(event) is RequestReceived:
                if drop_after and link.requests >= drop_after:
                    self._drop(link)
                    return
                link.requests += 1
                self._on_request(link, event.pdu, now)
                if link.session.queued_pdus >= FLUSH_EVERY:
                    link.flush(self._strip_enquire_link)
            elif type(event) is ResponseReceived:
                self._on_delivery_response(link, event.pdu, now)
            else:
                self._on_rare_event(link, event, now)
        link.flush(self._strip_enquire_link)
        system_id = link.system_id
        if system_id is not None and self._pending.get(system_id):
            self._pump(system_id)

    def _on_request(self, link: Link, pdu: Pdu, now: float) -> None:
        counts = self.counts.pdus_received
        command_id = pdu.command_id
        counts[command_id] = counts.get(command_id, 0) + 1
        if type(pdu) is SubmitSm:
            self._on_submit_sm(link, pdu, now)
        else:
            self._handlers[type(pdu)](link, pdu, now)

    def _on_rare_event(self, link: Link, event: Event, now: float) -> None:
        if isinstance(event, BindRequested):
            self._on_bind(link, event.pdu)
        elif isinstance(event, Unbound):
            log.info("esme_unbound", system_id=link.system_id, by_peer=event.by_peer)
            link.flush()
            link.transport.close()
        elif isinstance(event, ResponseUnmatched):
            self.counts.responses_unmatched += 1
        elif isinstance(event, PeerMisbehaved):
            self.counts.peer_misbehaved += 1
            log.warning(
                "peer_misbehaved",
                system_id=link.system_id,
                error=str(event.error),
                fatal=event.fatal,
            )
            if event.fatal:
                link.flush()
                link.transport.close()

    def _drop(self, link: Link) -> None:
        """The drop_after_pdus fault: answer nothing more and cut the connection."""
        self.counts.connections_dropped += 1
        log.info("connection_dropped_by_fault", system_id=link.system_id, after=link.requests)
        link.flush(self._strip_enquire_link)
        link.transport.abort()

    # --- binds (SMPP 3.4 §4.1) -------------------------------------------------------------------

    def _on_bind(self, link: Link, pdu: Pdu) -> None:
        assert isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver)  # noqa: S101
        counts = self.counts.pdus_received
        counts[pdu.command_id] = counts.get(pdu.command_id, 0) + 1
        kind, response_class = _BIND_KINDS[pdu.command_id]
        status = self._bind_status(pdu.system_id, pdu.password)
        if status:
            link.session.send_response(
                response_class(sequence_number=pdu.sequence_number, command_status=status)
            )
            log.warning(
                "bind_refused", system_id=pdu.system_id, bind_type=kind, reason=status_name(status)
            )
            return
        link.session.send_response(
            response_class(
                sequence_number=pdu.sequence_number,
                system_id=self.config.system_id,
                tlvs={TlvTag.sc_interface_version: _SC_INTERFACE_VERSION},
            )
        )
        link.system_id, link.bind_kind = pdu.system_id, kind
        self._bound[pdu.system_id].append(link)
        if kind != "transmitter":
            self._receivers[pdu.system_id].append(link)
        log.info("bind_accepted", system_id=pdu.system_id, bind_type=kind, peer=link.peer)
        if kind != "transmitter" and self._pending.get(pdu.system_id):
            link.flush()
            self._pump(pdu.system_id)

    def _bind_status(self, system_id: str, password: str) -> int:
        account: Account | None = None
        if self._accounts:
            account = self._accounts.get(system_id)
            if account is None:
                return CommandStatus.ESME_RINVSYSID
            if password != account.password:
                return CommandStatus.ESME_RINVPASWD
        limit = self.config.max_binds
        if account is not None and account.max_binds is not None:
            limit = account.max_binds
        if len(self._bound.get(system_id, ())) >= limit:
            return CommandStatus.ESME_RBINDFAIL
        return _ROK

    # --- message submission (SMPP 3.4 §4.4, §4.5, §4.7) ----------------------------------------

    def _on_submit_sm(self, link: Link, pdu: SubmitSm, now: float) -> None:
        self._submit_one(link, pdu, SubmitSmResp, now)

    def _on_data_sm(self, link: Link, pdu: DataSm, now: float) -> None:
        self._submit_one(link, pdu, DataSmResp, now)

    def _submit_one(
        self,
        link: Link,
        pdu: SubmitSm | DataSm,
        response: type[SubmitSmResp] | type[DataSmResp],
        now: float,
    ) -> None:
        """submit_sm and data_sm alike: a status by the behaviour rules, else a stored message."""
        system_id = link.system_id or ""
        destination = pdu.destination_addr
        status = self.behaviour.submit_status(system_id, destination, now)
        responses = self.counts.submit_responses
        responses[status] = responses.get(status, 0) + 1
        if status:
            if self.journal is not None:
                self._journal(self.journal, system_id, pdu, status, "", now)
            self._respond(
                link, response(sequence_number=pdu.sequence_number, command_status=status), now
            )
            return
        message_id = self._accept(
            system_id, pdu, (pdu.dest_addr_ton, pdu.dest_addr_npi, destination), now
        )
        if self.journal is not None:  # before the response is queued (simulator/journal.py)
            self._journal(self.journal, system_id, pdu, _ROK, message_id, now)
        self._respond(
            link, response(sequence_number=pdu.sequence_number, message_id=message_id), now
        )

    def _journal(
        self, journal: Callable[[bytes], None], system_id: str, pdu: SubmitSm | DataSm,
        status: int, message_id: str, now: float,
    ) -> None:  # fmt: skip
        journal(
            journal_line(
                ts=now + self._wall_offset, system_id=system_id, pdu=pdu, status=status,
                message_id=message_id,
            )
        )  # fmt: skip

    def _on_submit_multi(self, link: Link, pdu: SubmitMulti, now: float) -> None:
        system_id = link.system_id or ""
        accepted: list[tuple[int, int, str]] = []
        failed: list[UnsuccessSme] = []
        for address in pdu.dest_addresses:
            if not isinstance(address, SmeAddress):  # no distribution lists are provisioned
                failed.append(UnsuccessSme(error_status_code=CommandStatus.ESME_RINVDLNAME))
                continue
            status = self.behaviour.submit_status(system_id, address.destination_addr, now)
            where = (address.dest_addr_ton, address.dest_addr_npi, address.destination_addr)
            if status:
                failed.append(_unsuccess(where, status))
            else:
                accepted.append(where)
        seq = pdu.sequence_number
        if not accepted:
            status = failed[0].error_status_code if failed else CommandStatus.ESME_RINVNUMDESTS
            self._count_response(status)
            self._respond(link, SubmitMultiResp(sequence_number=seq, command_status=status), now)
            return
        self._count_response(_ROK)
        message_id = self._accept(system_id, pdu, accepted[0], now, extra=accepted[1:])
        response = SubmitMultiResp(
            sequence_number=seq, message_id=message_id, unsuccess_smes=failed
        )
        self._respond(link, response, now)

    def _count_response(self, status: int) -> None:
        responses = self.counts.submit_responses
        responses[status] = responses.get(status, 0) + 1

    def _accept(
        self,
        system_id: str,
        pdu: SubmittedPdu,
        destination: tuple[int, int, str],
        now: float,
        extra: list[tuple[int, int, str]] | None = None,
    ) -> str:
        """Store an accepted message, plan its receipt(s); returns its message_id."""
        message_id = self._ids.allocate()
        record = MessageRecord(message_id, system_id, pdu, destination, now)
        self.store.add(record)
        if self._history:
            whole = self.reassembler.add(system_id, message_id, pdu)
            if whole is not None:
                _log_reassembled(whole)
        if pdu.registered_delivery & 0x03:
            for where in (destination, *extra) if extra else (destination,):
                self._plan_receipt(record, where, now)
        return message_id

    def _plan_receipt(self, record: MessageRecord, where: tuple[int, int, str], now: float) -> None:
        outcome, err = self.behaviour.outcome_for(where[2])
        if not wants_receipt(record.pdu.registered_delivery, outcome):
            record.planned = (outcome, err)
            return
        record.receipts_due += 1
        where = handset_address(where, self.config.receipts.handset_format)
        if self._dlr_first:
            self._send_receipts([(record, where, outcome, err)], now)
        else:
            self._receipts.push(now + self.behaviour.receipt_delay(), (record, where, outcome, err))

    def _respond(self, link: Link, response: Pdu, now: float) -> None:
        if self._response_delay:
            self._responses.push(now + self._response_delay, (link, response))
        else:
            link.session.send_response(response)

    # --- query_sm, cancel_sm, replace_sm (SMPP 3.4 §4.8 - §4.10) ---------------------------------

    def _on_query_sm(self, link: Link, pdu: QuerySm, now: float) -> None:
        record = self.store.get(pdu.message_id, link.system_id or "")
        seq = pdu.sequence_number
        if record is None or (pdu.source_addr and pdu.source_addr != record.pdu.source_addr):
            failure = QuerySmResp(sequence_number=seq, command_status=CommandStatus.ESME_RQUERYFAIL)
            self._respond(link, failure, now)
            return
        self._settle(record, now)
        final_date = "" if record.final_at is None else self._absolute_time(record.final_at)
        response = QuerySmResp(
            sequence_number=seq,
            message_id=record.message_id,
            final_date=final_date,
            message_state=record.state,
            error_code=min(record.error_code, 0xFF),
        )
        self._respond(link, response, now)

    def _settle(self, record: MessageRecord, now: float) -> None:
        """Finish a message that gets no receipt once its delay has passed (for query_sm)."""
        if record.is_final or record.receipts_due:
            return
        if now - record.submitted_at < self.config.receipts.delay:
            return
        outcome, err = record.planned or self.behaviour.outcome_for(record.destination[2])
        record.finish(MESSAGE_STATE[outcome], now, err)

    def _on_cancel_sm(self, link: Link, pdu: CancelSm, now: float) -> None:
        system_id = link.system_id or ""
        if pdu.message_id:
            record = self.store.get(pdu.message_id, system_id)
            candidates = [record] if record is not None else []
        else:
            candidates = list(self.store.matching(system_id, pdu.source_addr, pdu.destination_addr))
        cancelled = 0
        for record in candidates:
            self._settle(record, now)
            if not record.is_final:
                record.finish(MessageState.DELETED, now)
                cancelled += 1
        status = _ROK if cancelled else CommandStatus.ESME_RCANCELFAIL
        self._respond(
            link, CancelSmResp(sequence_number=pdu.sequence_number, command_status=status), now
        )

    def _on_replace_sm(self, link: Link, pdu: ReplaceSm, now: float) -> None:
        record = self.store.get(pdu.message_id, link.system_id or "")
        status: int = CommandStatus.ESME_RREPLACEFAIL
        if record is not None:
            self._settle(record, now)
            if not record.is_final and isinstance(record.pdu, SubmitSm):
                record.pdu.short_message = pdu.short_message
                status = _ROK
        self._respond(
            link, ReplaceSmResp(sequence_number=pdu.sequence_number, command_status=status), now
        )

    def _absolute_time(self, monotonic: float) -> str:
        """SMPP 3.4 §7.1.1 absolute time, UTC: YYMMDDhhmmss, tenths, offset 00, '+'."""
        moment = dt.datetime.fromtimestamp(monotonic + self._wall_offset, dt.UTC)
        return moment.strftime("%y%m%d%H%M%S") + f"{moment.microsecond // 100_000}00+"

    # --- receipts and MO (deliver_sm, SMPP 3.4 §4.6) --------------------------------------------

    def _send_receipts(self, due: list[_Receipt], now: float) -> None:
        touched: set[str] = set()
        wall = now + self._wall_offset
        dates = self._dates
        id_format, receipt_format = self.config.message_id_format, self.config.receipts.id_format
        intermediate = self.config.receipts.intermediate
        for record, where, outcome, err in due:
            record.receipts_due -= 1
            if record.state == MessageState.DELETED:
                continue  # cancelled (cancel_sm) before its outcome
            source, destination = self._receipt_ends(record, where)
            if intermediate:
                self._send_intermediate(record, where, intermediate, wall)
            state = MESSAGE_STATE[outcome]
            record.finish(state, now, err)
            text = receipt_text(
                message_id=receipt_id(record.message_id, id_format, receipt_format),
                outcome=outcome,
                err=err,
                submit_date=dates.format(record.submitted_at + self._wall_offset),
                done_date=dates.format(wall),
                text=_snippet(record.pdu),
            )
            pdu = build_receipt(
                message_id=record.message_id,
                text=text,
                outcome=outcome,
                err=err,
                original_source=source,
                original_destination=destination,
            )
            self._enqueue(record.system_id, Delivery(pdu, state))
            touched.add(record.system_id)
        for system_id in touched:
            self._pump(system_id)

    def _send_intermediate(
        self, record: MessageRecord, where: tuple[int, int, str], words: tuple[str, ...],
        wall: float,
    ) -> None:  # fmt: skip
        """Queue the `receipts.intermediate` receipts of a message, in order, ahead of its
        final one (not counted in receipts_sent, which counts final states)."""
        config = self.config
        message_id = receipt_id(record.message_id, config.message_id_format,
                                config.receipts.id_format)  # fmt: skip
        submit_date = self._dates.format(record.submitted_at + self._wall_offset)
        done_date, snippet = self._dates.format(wall), _snippet(record.pdu)
        source, destination = self._receipt_ends(record, where)
        for word in words:
            text = intermediate_text(message_id=message_id, stat=word, submit_date=submit_date,
                                     done_date=done_date, text=snippet)  # fmt: skip
            pdu = build_intermediate_receipt(
                message_id=record.message_id,
                text=text,
                stat=word,
                original_source=source,
                original_destination=destination,
            )
            self._enqueue(record.system_id, Delivery(pdu, None))

    def _receipt_ends(
        self, record: MessageRecord, where: tuple[int, int, str]
    ) -> tuple[tuple[int, int, str], tuple[int, int, str]]:
        """(original source, original destination) as build_receipt takes them: swapped
        back when `receipts.swap_addresses` is off, so the receipt comes from the sender."""
        if self.config.receipts.swap_addresses:
            return record.source, where
        return where, record.source

    def inject_mo(
        self, *, source_addr: str, destination_addr: str, text: str, system_id: str | None
    ) -> int:
        """Send an MO message (deliver_sm, concatenated when long) to a bound receiver.

        Args:
            system_id: whose receiver gets it; None picks any bound receiver or transceiver.

        Returns:
            How many deliver_sm PDUs (parts) were queued.

        Raises:
            NoReceiverError: no receiver or transceiver of that system_id is bound.
        """
        target = system_id if system_id is not None else self._any_receiver()
        if target is None or not self._receivers.get(target):
            raise NoReceiverError(f"no receiver bound for system_id {system_id or '(any)'}")
        data_coding, body = encode_text(text)
        self._mo_reference = (self._mo_reference + 1) % 256
        parts = segment_body(data_coding, body, self._mo_reference)
        source_ton, source_npi = _address_type(source_addr)
        dest_ton, dest_npi = _address_type(destination_addr)
        esm_class = 0x40 if len(parts) > 1 else 0
        if self.config.mo_gsm7_packed and data_coding in GSM7_CODINGS:
            parts = [pack_gsm7(part, esm_class) for part in parts]
        for part in parts:
            pdu = DeliverSm(
                source_addr_ton=source_ton, source_addr_npi=source_npi, source_addr=source_addr,
                dest_addr_ton=dest_ton, dest_addr_npi=dest_npi, destination_addr=destination_addr,
                esm_class=esm_class, data_coding=data_coding, short_message=part,
            )  # fmt: skip
            self._enqueue(target, Delivery(pdu, None))
        self.counts.mo_sent += len(parts)
        log.info("mo_injected", system_id=target, parts=len(parts), source_addr=source_addr)
        self._pump(target)
        return len(parts)

    def _any_receiver(self) -> str | None:
        for system_id, links in self._receivers.items():
            if links:
                return system_id
        return None

    def _enqueue(self, system_id: str, delivery: Delivery) -> None:
        pending = self._pending[system_id]
        if len(pending) >= self.config.receipts.max_pending:
            pending.popleft()
            self.counts.deliveries_dropped += 1
        pending.append(delivery)

    def _pump(self, system_id: str) -> None:
        """Send queued deliveries to the system_id's receivers, each up to its window."""
        pending = self._pending.get(system_id)
        receivers = self._receivers.get(system_id)
        if not pending or not receivers:
            return
        window = self.config.receipts.window
        if len(receivers) > 1:
            receivers.append(receivers.pop(0))  # rotate: spread load across binds
        for link in list(receivers):
            room = window - len(link.inflight)
            if room <= 0 or not link.writable or link.transport.is_closing():
                continue
            session, inflight = link.session, link.inflight
            while room and pending:
                delivery = pending.popleft()
                inflight[session.send_request(delivery.pdu)] = delivery
                room -= 1
            link.flush(self._strip_enquire_link)
            if not pending:
                return

    def _on_delivery_response(self, link: Link, pdu: Pdu, now: float) -> None:
        delivery = link.inflight.pop(pdu.sequence_number, None)
        if delivery is None:
            self.counts.responses_unmatched += 1
            return
        counts = self.counts.pdus_received
        counts[pdu.command_id] = counts.get(pdu.command_id, 0) + 1
        if pdu.command_status == _ROK and pdu.command_id != CommandId.generic_nack:
            if delivery.state is not None:
                sent = self.counts.receipts_sent
                sent[delivery.state] = sent.get(delivery.state, 0) + 1
            return
        delivery.attempts += 1
        if delivery.attempts >= self.config.receipts.max_attempts:
            self.counts.deliveries_dropped += 1
            log.warning(
                "delivery_abandoned",
                system_id=link.system_id,
                status=status_name(pdu.command_status),
            )
            return
        self.counts.deliveries_retried += 1
        self._retries.push(now + self.config.receipts.retry_delay, (link.system_id or "", delivery))

    # --- the clock ------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When `run_due` next has work (receipts, delayed responses, retries), or None."""
        times = [
            t
            for t in (
                q.next_due()
                for q in (self._receipts, self._responses, self._retries, self._session_inits)
            )
            if t is not None
        ]
        return min(times) if times else None

    def run_due(self, now: float) -> None:
        """Do everything due by `now`: delayed responses first, then receipts, then retries,
        then connections still unbound at their session_init_timeout."""
        responses = self._responses.pop_due(now)
        if responses:
            self._send_delayed_responses(responses)
        receipts = self._receipts.pop_due(now)
        if receipts:
            self._send_receipts(receipts, now)
        retries = self._retries.pop_due(now)
        touched = set()
        for system_id, delivery in retries:
            self._enqueue(system_id, delivery)
            touched.add(system_id)
        for system_id in touched:
            self._pump(system_id)
        for link in self._session_inits.pop_due(now):
            self._close_unbound(link)

    def _close_unbound(self, link: Link) -> None:
        """session_init_timer expired: close the connection if it is open and still unbound."""
        if link in self.links and link.system_id is None and not link.transport.is_closing():
            self.counts.session_init_timeouts += 1
            log.info("session_init_timeout", peer=link.peer,
                     seconds=self.config.session_init_timeout)  # fmt: skip
            link.transport.close()

    def _send_delayed_responses(self, responses: list[tuple[Link, Pdu]]) -> None:
        touched: dict[Link, None] = {}
        for link, response in responses:
            if link in self.links:
                link.session.send_response(response)
                touched[link] = None
        for link in touched:
            link.flush(self._strip_enquire_link)

    # --- introspection -------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """A JSON-ready snapshot for GET /stats and tests."""
        binds: dict[str, dict[str, int]] = {}
        for link in self.links:
            if link.system_id is not None and link.bind_kind is not None:
                per = binds.setdefault(link.system_id, {})
                per[link.bind_kind] = per.get(link.bind_kind, 0) + 1
        c = self.counts
        return {
            "connections": len(self.links),
            "binds": binds,
            "messages_stored": len(self.store),
            "receipts_scheduled": len(self._receipts),
            "deliveries_pending": {k: len(v) for k, v in self._pending.items() if v},
            "deliveries_in_flight": sum(len(link.inflight) for link in self.links),
            "pdus_received": {_command_name(k): v for k, v in c.pdus_received.items()},
            "submit_responses": {status_name(k): v for k, v in c.submit_responses.items()},
            "receipts_sent": {MessageState(k).name: v for k, v in c.receipts_sent.items()},
            "mo_sent": c.mo_sent,
            "deliveries_retried": c.deliveries_retried,
            "deliveries_dropped": c.deliveries_dropped,
            "responses_unmatched": c.responses_unmatched,
            "peer_misbehaved": c.peer_misbehaved,
            "connections_dropped": c.connections_dropped,
            "session_init_timeouts": c.session_init_timeouts,
            "reassembly_pending": self.reassembler.pending,
            "faults": dict(_fault_items(self.faults)),
        }

    def messages(self) -> list[ReceivedMessage]:
        """The recent message history (concatenated messages already reassembled)."""
        return list(self.reassembler.history())


def _fault_items(faults: FaultSettings) -> list[tuple[str, object]]:
    return [(name, getattr(faults, name)) for name in faults.__dataclass_fields__]


def _unsuccess(where: tuple[int, int, str], status: int) -> UnsuccessSme:
    ton, npi, addr = where
    return UnsuccessSme(
        dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr, error_status_code=status
    )


def _remove(links: list[Link] | None, link: Link) -> None:
    if links is not None and link in links:
        links.remove(link)


def _snippet(pdu: SubmittedPdu) -> str:
    """The first characters of the message for the receipt's text: field (UDH skipped)."""
    _, body = split_udh(pdu.esm_class, payload_of(pdu))
    return decode_text(pdu.data_coding, body[:40])


def _address_type(address: str) -> tuple[int, int]:
    """(TON, NPI) for an injected address: international, short code or alphanumeric."""
    if address.isdigit():
        if len(address) <= 6:
            return Ton.network_specific, Npi.unknown
        return Ton.international, Npi.isdn
    return Ton.alphanumeric, Npi.unknown


def _command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return hex(command_id)


def _log_reassembled(message: ReceivedMessage) -> None:
    log.info(
        "message_reassembled",
        system_id=message.system_id,
        parts=message.parts,
        data_coding=message.data_coding,
        characters=len(message.text),
        destination_addr=message.destination_addr,
    )
    log.debug("message_reassembled_text", text=message.text)


def _without_enquire_link_resp(data: bytes) -> bytes:
    """Drop enquire_link_resp PDUs from a run of whole PDUs (the ignore_enquire_link fault)."""
    kept: list[bytes] = []
    pos = 0
    while pos + 16 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if int.from_bytes(data[pos + 4 : pos + 8], "big") != _ENQUIRE_LINK_RESP:
            kept.append(data[pos : pos + length])
        pos += length
    return b"".join(kept)
