"""One carrier bind: the asyncio driver around the sans-IO Session (the only socket owner).

`SmppClientProtocol` is one TCP connection. Its driver is the uvicorn shape: bytes in ->
`Session.receive_data` -> dispatch events -> `transport.write(session.data_to_send())`. Writes
from many concurrent submits are coalesced per loop iteration, `FLUSH_EVERY` PDUs at most.

`Bind` is the lifecycle around it: connect (optionally TLS), bind, keep the link alive with
enquire_link, declare it dead when enquire_link_resp does not come, reconnect with exponential
backoff and jitter, and on `close()` drain the window, unbind and disconnect.

A `SendGate` (the carrier's rate, gateway/carrier/pool.py) may pace submits on the wire: a submit
that got its window slot waits at the gate while `gate.paced`, so submits queued for a slot
before the carrier started throttling wait for the new rate too, instead of all going out.

Deliveries (deliver_sm / data_sm from the carrier) are handed to the application in batches,
one batch per read, and answered only once the handler has returned their statuses, so an
application that stores receipts durably acknowledges them only after storing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from gateway.carrier.backoff import Backoff
from gateway.carrier.window import Window
from gateway.errors import (
    BindConnectError,
    BindRefusedError,
    ConnectionLostError,
    NotBoundError,
    OutcomeUnknownError,
    QueueUnavailableError,
    ResponseTimeoutError,
)
from gateway.smpp.constants import BindType, CommandId, CommandStatus, status_name
from gateway.smpp.errors import SessionStateError
from gateway.smpp.events import (
    BindFailed,
    BindSucceeded,
    Event,
    PeerMisbehaved,
    RequestReceived,
    ResponseReceived,
    ResponseUndecodable,
    ResponseUnmatched,
    Unbound,
)
from gateway.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSmResp,
    DeliverSmResp,
    EnquireLink,
    Pdu,
    PduBase,
    Unbind,
)
from gateway.smpp.session import BOUND_STATES, Role, Session, SessionState

# Writes are coalesced per loop iteration, but not beyond this many PDUs: a window's worth of
# submits written at once leaves the carrier idle while we encode them and us idle while it
# answers them. Flushing every 16 lets both sides work at once (window 100 on loopback: 32k ->
# 60k submit_sm/s, benchmarks/session.py).
FLUSH_EVERY: Final = 16

log = structlog.get_logger()

_DATA_SM: Final = int(CommandId.data_sm)  # read per delivery answered: no enum look-up
_SUBMIT_SM_RESP: Final = int(CommandId.submit_sm_resp)  # read per response


_BIND_PDU: dict[BindType, type[BindTransmitter | BindReceiver | BindTransceiver]] = {
    BindType.transmitter: BindTransmitter,
    BindType.receiver: BindReceiver,
    BindType.transceiver: BindTransceiver,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BindSettings:
    """Everything one bind needs; built from the carrier's config."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    bind_type: BindType = BindType.transceiver
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    window: int = 10
    response_timeout: float = 10.0
    bind_timeout: float = 10.0
    connect_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    unbind_timeout: float = 5.0
    tls: ssl.SSLContext | None = None


DeliveryHandler = Callable[[Sequence[Pdu]], Awaitable[Sequence[int]]]
"""Takes a batch of deliver_sm/data_sm PDUs; returns the command_status to answer each with."""


class BindListener(Protocol):
    """What the engine observes of a bind (metrics live there, not here)."""

    def bind_state_changed(self, bound: bool) -> None: ...
    def reconnecting(self, delay: float, reason: str) -> None: ...
    def response_unmatched(self, pdu: Pdu) -> None: ...


class SendGate(Protocol):
    """What paces a bind's submits between its window slot and the wire (the carrier's rate).

    `paced` is read for every submit and should be a plain attribute; only while it is True
    does the submit await `admit()` (still holding its slot) before it is written.
    """

    paced: bool

    async def admit(self) -> None: ...


class _NullListener:
    def bind_state_changed(self, bound: bool) -> None:
        pass

    def reconnecting(self, delay: float, reason: str) -> None:
        pass

    def response_unmatched(self, pdu: Pdu) -> None:
        pass


async def _acknowledge_all(batch: Sequence[Pdu]) -> Sequence[int]:
    return [CommandStatus.ESME_ROK] * len(batch)


class SmppClientProtocol(asyncio.Protocol):
    """One connection to a carrier, ESME side."""

    def __init__(
        self, settings: BindSettings, on_delivery: DeliveryHandler, listener: BindListener
    ) -> None:
        self._settings = settings
        self._on_delivery = on_delivery
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self.session = Session(Role.ESME)
        self.window: Window[Pdu] = Window(settings.window, settings.response_timeout)
        self._transport: asyncio.Transport | None = None
        self._flush_scheduled = False
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._bind_result: asyncio.Future[Pdu] = self._loop.create_future()
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self._deliveries: list[Pdu] = []
        self._delivery_ready = asyncio.Event()
        self._deliveries_read = 0  # on this connection
        self._deliveries_answered = 0
        self._batch_answered = asyncio.Event()  # pulsed as each delivery batch is answered
        self._refused_deliveries = 0  # refused on this connection since Redis went down
        self._tasks: list[asyncio.Task[None]] = []
        self._enquire_sent_at: float | None = None
        self._enquire_sequence: int | None = None
        self._unbound = self._loop.create_future()
        self._abort_reason: str | None = None  # why we cut the connection ourselves
        self._refused = asyncio.Event()  # set by refuse_requests(): a drain began
        # submit_sm answers with ESME_ROK on this connection, counted as each answer is
        # matched (Bind.submits_accepted adds them up): no done-callback per submit for it
        self.submits_accepted = 0

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self._tasks = [
            self._loop.create_task(self._deliver_forever()),
            self._loop.create_task(self._tick_forever()),
        ]

    def data_received(self, data: bytes) -> None:
        for event in self.session.receive_data(data, self._loop.time()):
            self._dispatch(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.close()
        if self._abort_reason is not None:
            reason = self._abort_reason
        else:
            reason = f"connection lost: {exc}" if exc else "connection closed"
        self.window.fail_all(ConnectionLostError(reason))
        self._can_write.set()  # wake requests waiting for a paused transport: NotBoundError
        self._batch_answered.set()  # nothing more will be answered: stop waiting
        for task in self._tasks:
            task.cancel()
        if not self._bind_result.done():
            self._bind_result.set_exception(BindConnectError(reason))
        if not self._unbound.done():
            self._unbound.set_result(None)
        if not self.closed.done():
            self.closed.set_result(reason)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # --- requests ----------------------------------------------------------------------------

    async def bind(self) -> Pdu:
        """Send our bind request and wait for the answer.

        Raises:
            BindRefusedError: the carrier answered with a non-zero status.
            BindConnectError: the connection closed or no answer came within bind_timeout.
        """
        s = self._settings
        request = _BIND_PDU[s.bind_type](
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type,
            interface_version=s.interface_version,
            addr_ton=s.addr_ton,
            addr_npi=s.addr_npi,
            address_range=s.address_range,
        )
        self.session.send_request(request)
        self._flush()
        try:
            # No shield: on timeout or cancellation the future is cancelled with the wait, so
            # a later connection_lost finds it done instead of leaving an unretrieved exception.
            return await asyncio.wait_for(self._bind_result, s.bind_timeout)
        except TimeoutError:
            raise BindConnectError("no bind response within bind_timeout") from None

    async def request(self, pdu: PduBase, gate: SendGate | None = None) -> Pdu:
        """Send one request in a window slot and return its response (any command_status).
        With a `gate` that is `paced`, the request waits for `gate.admit()` in its slot.

        Raises:
            NotBoundError: the session is not bound (any more); nothing was sent.
            ResponseTimeoutError / ConnectionLostError: outcome unknown.
            OutcomeUnknownError: the response came but could not be decoded.
        """
        window = self.window
        await window.acquire()
        try:
            if gate is not None and gate.paced:
                await self._admit(gate)
            if not self._can_write.is_set():
                await self._can_write.wait()
            window.check_open()  # refused while this request waited: it never left
            sequence_number = self._send_request(pdu)
        except BaseException:
            window.release()
            raise
        future = window.add(sequence_number, self._loop.time())
        if self.session.queued_pdus >= FLUSH_EVERY:  # see FLUSH_EVERY
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        try:
            return await future
        except asyncio.CancelledError:
            if window.discard(sequence_number):
                self.session.forget(sequence_number)
            raise

    def try_request(self, pdu: PduBase, gate: SendGate | None = None) -> asyncio.Future[Pdu] | None:
        """`request` without a coroutine, when it would not wait: a window slot is free and
        nobody waits for one, the gate does not pace, the transport takes writes. The future
        resolves (or fails) as `request` returns (or raises). None: use `request`."""
        if gate is not None and gate.paced:
            return None
        if not self._can_write.is_set() or not self.window.try_acquire():
            return None
        try:
            sequence_number = self._send_request(pdu)
        except BaseException:
            self.window.release()
            raise
        future = self.window.add(sequence_number, self._loop.time())
        if self.session.queued_pdus >= FLUSH_EVERY:  # see FLUSH_EVERY
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    async def _admit(self, gate: SendGate) -> None:
        """Wait for the gate, unless requests are refused first (a drain): NotBoundError."""
        admit = asyncio.ensure_future(gate.admit())
        refused = asyncio.ensure_future(self._refused.wait())
        try:
            await asyncio.wait({admit, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
            if not admit.done():
                admit.cancel()
        if not admit.done() or admit.cancelled():
            raise NotBoundError("the bind is draining; nothing was sent")
        admit.result()

    def _send_request(self, pdu: PduBase) -> int:
        try:
            return self.session.send_request(pdu)
        except SessionStateError:
            state = self.session.state
            if state in BOUND_STATES:
                raise  # not allowed on this bind type (a submit on a receiver): our bug
            # The connection dropped (or unbind began) while the caller waited for a slot or
            # for the transport to drain: the request never left, so it is safe to resend.
            raise NotBoundError(f"session is {state.value}; nothing was sent") from None

    def refuse_requests(self) -> None:
        """Send no more requests: those waiting for a window slot fail with NotBoundError."""
        self.window.refuse("the bind is draining; nothing was sent")
        self._refused.set()

    async def unbind(self, drain_seconds: float) -> None:
        """Refuse new requests, wait (up to `drain_seconds` in all) for outstanding responses
        and for the deliveries read to be handled and answered, unbind, and close.

        A delivery batch the application is recording when the drain starts is let finish:
        cut off, its receipts would be recorded but never answered (the carrier sends them
        again) and the application would not finish what it does after the write (a final
        status's log line, its metrics)."""
        self.refuse_requests()
        loop = self._loop
        deadline = loop.time() + drain_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.window.drained(), drain_seconds)
        with contextlib.suppress(TimeoutError):
            remaining = max(0.01, deadline - loop.time())
            await asyncio.wait_for(self._deliveries_handled(self._deliveries_read), remaining)
        if self.session.state in (SessionState.BOUND_TX, SessionState.BOUND_RX,
                                  SessionState.BOUND_TRX):  # fmt: skip
            self.session.send_request(Unbind())
            self._flush()
            remaining = max(0.1, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._unbound), remaining)
        self.abort_gracefully()

    async def _deliveries_handled(self, count: int) -> None:
        """Until the first `count` deliveries of this connection are answered (or it is lost)."""
        while self._deliveries_answered < count and not self.closed.done():
            self._batch_answered.clear()
            await self._batch_answered.wait()

    def abort_gracefully(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    # --- event dispatch ------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        if type(event) is ResponseReceived:
            pdu = event.pdu
            if pdu.sequence_number == self._enquire_sequence:
                self._enquire_sequence = self._enquire_sent_at = None
            elif self.window.resolve(pdu.sequence_number, pdu):
                if pdu.command_id == _SUBMIT_SM_RESP and pdu.command_status == 0:
                    self.submits_accepted += 1
            else:
                self._listener.response_unmatched(pdu)
        elif type(event) is RequestReceived:
            self._deliveries.append(event.pdu)
            self._delivery_ready.set()
            self._deliveries_read += 1
        else:
            self._dispatch_rare(event)

    def _dispatch_rare(self, event: Event) -> None:
        if isinstance(event, BindSucceeded):
            if not self._bind_result.done():
                self._bind_result.set_result(event.pdu)
        elif isinstance(event, BindFailed):
            if not self._bind_result.done():
                name = status_name(event.command_status)
                self._bind_result.set_exception(
                    BindRefusedError(f"bind refused: {name}", command_status=event.command_status)
                )
        elif isinstance(event, Unbound):
            if not self._unbound.done():
                self._unbound.set_result(None)
            if event.by_peer:
                log.warning("bind_unbound_by_peer")
                self._flush()
                self.abort_gracefully()
        elif isinstance(event, ResponseUnmatched):
            self._listener.response_unmatched(event.pdu)
        elif isinstance(event, ResponseUndecodable):
            # The carrier answered, but we cannot read the status: it may have the message.
            error = OutcomeUnknownError(f"undecodable response: {event.error}")
            error.__cause__ = event.error
            self.window.fail(event.sequence_number, error)
        elif isinstance(event, PeerMisbehaved):
            log.warning("peer_misbehaved", error=str(event.error), fatal=event.fatal)
            if event.fatal:
                self._abort_reason = f"peer misbehaved: {event.error}"
                self._flush()
                self.abort_gracefully()

    # --- background work ---------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        """Hand deliveries to the application in batches; answer each with its status.

        While Redis is down every batch is refused (the carrier sends it again later): that
        is logged once as it starts (`deliveries_refused_redis_unavailable`) and once as a
        batch goes through again (`deliveries_accepted_again`, with how many were refused),
        as the engine logs an outage, not once per batch."""
        while True:
            await self._delivery_ready.wait()
            self._delivery_ready.clear()
            batch, self._deliveries = self._deliveries, []
            try:
                statuses = await self._on_delivery(batch)
            except QueueUnavailableError as error:  # Redis is down: the carrier retries later
                self._deliveries_refused(len(batch), error)
                statuses = [CommandStatus.ESME_RX_T_APPN] * len(batch)
            except Exception:  # the handler's bug must not leave the carrier waiting forever
                log.exception("delivery_handler_failed", batch=len(batch))
                statuses = [CommandStatus.ESME_RX_T_APPN] * len(batch)
            else:
                if self._refused_deliveries:
                    log.warning("deliveries_accepted_again", refused=self._refused_deliveries)
                    self._refused_deliveries = 0
            send_response = self.session.send_response
            for pdu, status in zip(batch, statuses, strict=True):
                send_response(_delivery_response(pdu, status))
            self._flush()
            self._deliveries_answered += len(batch)
            self._batch_answered.set()

    def _deliveries_refused(self, count: int, error: QueueUnavailableError) -> None:
        if not self._refused_deliveries:
            log.warning("deliveries_refused_redis_unavailable", batch=count, error=str(error))
        else:
            log.debug("deliveries_still_refused", batch=count)
        self._refused_deliveries += count

    async def _tick_forever(self) -> None:
        """Expire timed-out requests and keep the link alive with enquire_link."""
        s = self._settings
        tick = max(0.01, min(0.25, s.response_timeout / 10, s.enquire_link_interval / 4))
        while True:
            await asyncio.sleep(tick)
            now = self._loop.time()
            for sequence_number in self.window.expire(now):
                self.session.forget(sequence_number)
            self._keep_alive(now)

    def _keep_alive(self, now: float) -> None:
        s = self._settings
        if self._enquire_sent_at is not None:
            if now - self._enquire_sent_at > s.response_timeout:
                log.warning("enquire_link_unanswered", timeout=s.response_timeout)
                if self._transport is not None:
                    self._abort_reason = (
                        f"session dead: enquire_link unanswered within {s.response_timeout} s"
                    )
                    self._transport.abort()
            return
        last = self.session.last_received_at or 0.0
        if now - last >= s.enquire_link_interval and self.session.state not in (
            SessionState.CLOSED,
            SessionState.UNBINDING,
        ):
            self._enquire_sequence = self.session.send_request(EnquireLink())
            self._enquire_sent_at = now
            self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


def _delivery_response(pdu: Pdu, status: int) -> DeliverSmResp | DataSmResp:
    if pdu.command_id == _DATA_SM:
        return DataSmResp(sequence_number=pdu.sequence_number, command_status=status)
    return DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)


class Bind:
    """A carrier bind that stays up: connect, bind, keep alive, reconnect, unbind on close."""

    def __init__(
        self,
        settings: BindSettings,
        *,
        name: str = "bind",
        on_delivery: DeliveryHandler = _acknowledge_all,
        listener: BindListener | None = None,
        rng: random.Random | None = None,
        send_gate: SendGate | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.send_gate = send_gate
        self._on_delivery = on_delivery
        self._listener: BindListener = listener or _NullListener()
        self._backoff = Backoff(
            initial=settings.reconnect_initial,
            maximum=settings.reconnect_max,
            rng=rng or random.Random(),
        )
        self._protocol: SmppClientProtocol | None = None
        self._bound = asyncio.Event()
        self._closing = asyncio.Event()
        self._refusing = False
        self._supervisor: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.binds_completed = 0
        self._accepted_before = 0  # submits_accepted of the connections gone

    @property
    def is_bound(self) -> bool:
        return self._protocol is not None

    @property
    def submits_accepted(self) -> int:
        """submit_sm answers with ESME_ROK on this bind, ever (the carrier's rate meter)."""
        protocol = self._protocol
        return self._accepted_before + (protocol.submits_accepted if protocol else 0)

    @submits_accepted.setter
    def submits_accepted(self, value: int) -> None:
        protocol = self._protocol
        self._accepted_before = value - (protocol.submits_accepted if protocol else 0)

    @property
    def in_flight(self) -> int:
        return self._protocol.window.in_flight if self._protocol else 0

    @property
    def window_room(self) -> int:
        """Requests the window takes now without waiting (0 while down)."""
        protocol = self._protocol
        return protocol.window.size - protocol.window.in_flight if protocol else 0

    def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_bound(self) -> None:
        """Wait until bound (wrap in asyncio.timeout to bound the wait)."""
        await self._bound.wait()

    async def request(self, pdu: PduBase) -> Pdu:
        """Send a request on the current connection; see SmppClientProtocol.request."""
        protocol = self._protocol
        if protocol is None or self._refusing:
            raise NotBoundError(f"{self.name} is not bound")
        return await protocol.request(pdu)

    async def submit(self, pdu: PduBase) -> Pdu:
        """`request` through the bind's `send_gate` (its protocol counts the accepted answers)."""
        protocol = self._protocol
        if protocol is None or self._refusing:
            raise NotBoundError(f"{self.name} is not bound")
        return await protocol.request(pdu, self.send_gate)

    def try_submit(self, pdu: PduBase) -> asyncio.Future[Pdu] | None:
        """`submit` without a coroutine when it would not wait (see
        SmppClientProtocol.try_request); None: use `submit`.

        Raises:
            NotBoundError: the bind is down or draining; nothing was sent.
        """
        protocol = self._protocol
        if protocol is None or self._refusing:
            raise NotBoundError(f"{self.name} is not bound")
        return protocol.try_request(pdu, self.send_gate)

    def refuse_requests(self) -> None:
        """Start no more requests (shutdown): see SmppClientProtocol.refuse_requests."""
        self._refusing = True
        if self._protocol is not None:
            self._protocol.refuse_requests()

    async def close(self, drain_seconds: float | None = None) -> None:
        """Stop reconnecting, drain outstanding requests, unbind and disconnect."""
        self._closing.set()
        protocol = self._protocol
        if protocol is not None:
            drain = self.settings.unbind_timeout if drain_seconds is None else drain_seconds
            await protocol.unbind(drain)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None

    async def _supervise(self) -> None:
        while not self._closing.is_set():
            reason = await self._connect_and_serve()
            if self._closing.is_set():
                return
            delay = self._backoff.next_delay()
            self.last_error = reason
            self._listener.reconnecting(delay, reason)
            log.warning("bind_reconnecting", bind=self.name, delay=round(delay, 3), reason=reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)

    async def _connect_and_serve(self) -> str:
        s = self.settings
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: SmppClientProtocol(s, self._on_delivery, self._listener),
                    s.host,
                    s.port,
                    ssl=s.tls,
                ),
                s.connect_timeout,
            )
        except (OSError, TimeoutError) as error:
            return f"connect failed: {error!r}"
        try:
            await protocol.bind()
        except (BindRefusedError, BindConnectError) as error:
            log.warning("bind_failed", bind=self.name, system_id=s.system_id, error=str(error))
            protocol.abort_gracefully()
            return str(error)
        except asyncio.CancelledError:  # close() while the bind is pending: do not leak it
            protocol.abort_gracefully()
            raise
        self._backoff.reset()
        self.binds_completed += 1
        self._protocol = protocol
        self._bound.set()
        self._listener.bind_state_changed(True)
        log.info("bind_succeeded", bind=self.name, bind_type=s.bind_type.value)
        try:
            return await protocol.closed
        finally:
            self._accepted_before += protocol.submits_accepted
            self._protocol = None
            self._bound.clear()
            self._listener.bind_state_changed(False)


__all__ = [
    "Bind",
    "BindListener",
    "BindSettings",
    "BindType",
    "DeliveryHandler",
    "ResponseTimeoutError",
    "SmppClientProtocol",
]
