"""Our Bind against misbehaving servers over real loopback sockets.

The simulator supplies carrier-side faults it knows (drop after N PDUs, a TPS limit, ignored
enquire_link, delayed responses); `TcpProxy` cuts or delays the wire; `RawSmsc`, a few lines of
raw bytes independent of our codec, plays the servers nobody would write on purpose (silent
after bind, sending garbage, never answering the bind). Every wait has a deadline; no test
sleeps for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import pytest

from gateway.carrier.bind import Bind, BindSettings
from gateway.errors import (
    ConnectionLostError,
    NotBoundError,
    OutcomeUnknownError,
    ResponseTimeoutError,
)
from gateway.smpp.constants import CommandId, CommandStatus, TlvTag
from gateway.smpp.pdu import Pdu, SubmitSm, SubmitSmResp
from routing.retry import Disposition, RetryPolicy
from tests.integration.simulator_fixture import (
    RunningSimulator,
    simulator_config,
)
from tests.integration.tcp_proxy import TcpProxy

WAIT = 3.0  # deadline for anything a test waits on
CLOCK_SLACK = 0.005  # uvloop's clock and timers are millisecond-grained and may fire early
RESPONSE_BIT = 0x80000000
_BIND_REQUESTS = frozenset(
    {CommandId.bind_transmitter, CommandId.bind_receiver, CommandId.bind_transceiver}
)


# --- helpers ---------------------------------------------------------------------------------


def submit_sm(n: int = 0, **fields: Any) -> SubmitSm:
    return SubmitSm(
        source_addr="Acme",
        source_addr_ton=5,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=f"4479111{n:05d}",
        short_message=b"fault test %d" % n,
        **fields,
    )


async def eventually(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Wait until `check()` holds, failing with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.005)


class RecordingListener:
    """A BindListener that keeps what it is told, with the loop time of each reconnect."""

    def __init__(self) -> None:
        self.states: list[bool] = []
        self.reconnects: list[tuple[float, float, str]] = []
        self.unmatched: list[Pdu] = []

    def bind_state_changed(self, bound: bool) -> None:
        self.states.append(bound)

    def reconnecting(self, delay: float, reason: str) -> None:
        self.reconnects.append((asyncio.get_running_loop().time(), delay, reason))

    def response_unmatched(self, pdu: Pdu) -> None:
        self.unmatched.append(pdu)


@contextlib.asynccontextmanager
async def running_bind(
    settings: BindSettings, listener: RecordingListener | None = None, *, bound: bool = True
) -> AsyncIterator[Bind]:
    """A started Bind (bound first, unless `bound=False`), closed when the block ends."""
    bind = Bind(settings, name="fault-test", listener=listener, rng=random.Random(7))
    bind.start()
    try:
        if bound:
            await asyncio.wait_for(bind.wait_bound(), WAIT)
        yield bind
    finally:
        await asyncio.wait_for(bind.close(drain_seconds=0.2), WAIT)


async def gather_outcomes(bind: Bind, pdus: Sequence[SubmitSm]) -> list[Pdu | BaseException]:
    """Submit concurrently; each result is the response or the exception raised."""
    return await asyncio.wait_for(
        asyncio.gather(*(bind.submit(p) for p in pdus), return_exceptions=True), WAIT
    )


def statuses(outcomes: Sequence[object]) -> list[int]:
    return [o.command_status for o in outcomes if isinstance(o, SubmitSmResp)]


def raw_pdu(command_id: int, sequence_number: int, body: bytes = b"", status: int = 0) -> bytes:
    """A PDU as raw bytes (SMPP 3.4 §3.2 header), built without our codec."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence_number) + body


@dataclass(frozen=True, slots=True)
class Seen:
    """One PDU the raw server read, and on which of its connections (1-based)."""

    connection: int
    command_id: int
    command_status: int
    sequence_number: int
    body: bytes


class RawSmsc:
    """A hand-rolled SMSC on raw bytes that does only what the test tells it to.

    Args:
        answer_binds: answer bind_* with ESME_ROK (else stay silent).
        answer_requests: answer enquire_link, unbind and submit_sm (else stay silent).
        submit_delay: seconds before a submit_sm_resp goes out; None never answers submits.
    """

    def __init__(
        self,
        *,
        answer_binds: bool = True,
        answer_requests: bool = True,
        submit_delay: float | None = 0.0,
    ) -> None:
        self.answer_binds = answer_binds
        self.answer_requests = answer_requests
        self.submit_delay = submit_delay
        self.seen: list[Seen] = []
        self.connections = 0
        self.ended = 0  # connections that reached EOF or failed
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []

    def count(self, command_id: int, *, status: int | None = None, connection: int = 0) -> int:
        """PDUs seen with `command_id` (and `status`; on `connection` when non-zero)."""
        return sum(
            1
            for s in self.seen
            if s.command_id == command_id
            and (status is None or s.command_status == status)
            and (not connection or s.connection == connection)
        )

    def send(self, data: bytes) -> None:
        """Write raw bytes on the newest connection."""
        self._writers[-1].write(data)

    def stop_reading(self) -> None:
        """Leave the newest connection's bytes in the kernel, so the client's writes back up."""
        transport = cast(asyncio.Transport, self._writers[-1].transport)  # a read-write socket
        transport.pause_reading()

    def abort(self) -> None:
        """Cut the newest connection (RST)."""
        self._writers[-1].transport.abort()

    async def __aenter__(self) -> RawSmsc:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for timer in self._timers:
            timer.cancel()
        for writer in self._writers:
            writer.transport.abort()
        # Aborted connections end their handlers; cancelling a start_server handler task
        # instead would be reported to the loop's exception handler.
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=WAIT)
            assert not pending, "raw SMSC connections did not finish"
        await self._server.wait_closed()

    def settings(self, **changes: Any) -> BindSettings:
        """BindSettings pointing here, with fast timers."""
        fields: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "system_id": "smsgw",
            "password": "secret",
            "response_timeout": 1.0,
            "bind_timeout": 1.0,
            "connect_timeout": 1.0,
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            "unbind_timeout": 0.5,
        }
        return BindSettings(**(fields | changes))

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        self._writers.append(writer)
        try:
            while True:
                header = await reader.readexactly(16)
                length, command_id, status, sequence_number = struct.unpack(">IIII", header)
                body = await reader.readexactly(length - 16)
                if writer.transport.is_closing():
                    break  # aborted by the test: what is still buffered goes unread
                seen = Seen(number, command_id, status, sequence_number, body)
                self.seen.append(seen)
                self._answer(writer, seen)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.ended += 1
            self._tasks.discard(task)
            writer.close()

    def _answer(self, writer: asyncio.StreamWriter, seen: Seen) -> None:
        command_id, sequence_number = seen.command_id, seen.sequence_number
        if command_id & RESPONSE_BIT:
            return
        if command_id in _BIND_REQUESTS:
            if self.answer_binds:
                writer.write(raw_pdu(command_id | RESPONSE_BIT, sequence_number, b"RAWSMSC\0"))
            return
        if not self.answer_requests:
            return
        if command_id == CommandId.submit_sm:
            if self.submit_delay is None:
                return
            reply = raw_pdu(
                command_id | RESPONSE_BIT, sequence_number, b"raw-%d\0" % len(self.seen)
            )
            if self.submit_delay:
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(self.submit_delay, _write, writer, reply))
            else:
                writer.write(reply)
        elif command_id in (CommandId.enquire_link, CommandId.unbind):
            writer.write(raw_pdu(command_id | RESPONSE_BIT, sequence_number))


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.transport.is_closing():
        writer.write(data)


# --- (a) the connection drops with requests outstanding --------------------------------------


async def test_simulator_drop_mid_window_fails_outstanding_as_connection_lost_then_rebinds(
    simulator_factory: Any,
) -> None:
    """drop_after_pdus: answers for the first two at most; the rest are ConnectionLostError."""
    config = simulator_config(faults={"drop_after_pdus": 2})
    async with simulator_factory(config) as sim, running_bind(sim.bind_settings()) as bind:
        outcomes = await gather_outcomes(bind, [submit_sm(n) for n in range(6)])
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(lost) >= 4
        assert all(isinstance(o, ConnectionLostError) for o in lost), outcomes
        assert all(isinstance(o, OutcomeUnknownError) for o in lost)  # retryable by policy
        assert statuses(outcomes) == [0] * (6 - len(lost))
        assert sim.stats()["connections_dropped"] == 1
        sim.set_faults(drop_after_pdus=0)
        await eventually(lambda: bind.binds_completed == 2 and bind.is_bound, "rebound")
        outcomes = await gather_outcomes(bind, [submit_sm(n) for n in range(3)])
        assert statuses(outcomes) == [0, 0, 0]


async def test_cut_with_responses_outstanding_fails_them_and_the_rebound_bind_submits(
    simulator: RunningSimulator,
) -> None:
    """A proxy cuts the wire while the simulator holds every response: all three are lost."""
    simulator.set_faults(response_delay=0.5)
    async with (
        TcpProxy(simulator.host, simulator.port) as proxy,
        running_bind(simulator.bind_settings(port=proxy.port)) as bind,
    ):
        pending = [asyncio.ensure_future(bind.submit(submit_sm(n))) for n in range(3)]
        await eventually(lambda: bind.in_flight == 3, "three submits in flight")
        assert proxy.cut() == 1
        outcomes = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), WAIT)
        assert [type(o) for o in outcomes] == [ConnectionLostError] * 3
        simulator.set_faults(response_delay=0.0)
        await eventually(lambda: bind.binds_completed == 2 and bind.is_bound, "rebound")
        assert proxy.accepted == 2
        outcomes = await gather_outcomes(bind, [submit_sm(n) for n in range(3)])
        assert statuses(outcomes) == [0, 0, 0]
    assert bind.in_flight == 0


async def test_accepted_submits_are_counted_across_a_reconnect(
    simulator: RunningSimulator,
) -> None:
    """`submits_accepted` (the carrier's rate meter) counts each connection's accepted answers
    and keeps those of a connection that is gone."""
    async with (
        TcpProxy(simulator.host, simulator.port) as proxy,
        running_bind(simulator.bind_settings(port=proxy.port)) as bind,
    ):
        outcomes = await gather_outcomes(bind, [submit_sm(n) for n in range(2)])
        assert statuses(outcomes) == [0, 0]
        assert bind.submits_accepted == 2
        assert proxy.cut() == 1
        await eventually(lambda: bind.binds_completed == 2 and bind.is_bound, "rebound")
        assert bind.submits_accepted == 2
        answer = bind.try_submit(submit_sm(3))
        assert answer is not None
        assert (await asyncio.wait_for(answer, WAIT)).command_status == 0
        assert bind.submits_accepted == 3


async def test_requests_queued_for_a_window_slot_fail_as_not_bound_when_the_connection_drops(
    simulator: RunningSimulator,
) -> None:
    """Window 2, five submits: two are lost in flight; three were never sent (NotBoundError)."""
    simulator.set_faults(response_delay=0.5)
    async with (
        TcpProxy(simulator.host, simulator.port) as proxy,
        running_bind(simulator.bind_settings(window=2, port=proxy.port)) as bind,
    ):
        pending = [asyncio.ensure_future(bind.submit(submit_sm(n))) for n in range(5)]
        await eventually(lambda: bind.in_flight == 2, "window full")
        proxy.cut()
        outcomes = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), WAIT)
        assert [type(o) for o in outcomes] == [ConnectionLostError] * 2 + [NotBoundError] * 3
        assert not isinstance(outcomes[2], OutcomeUnknownError)  # nothing sent: safe to resend
    assert simulator.stats()["pdus_received"].get("submit_sm", 0) <= 2


async def test_try_submit_writes_at_once_while_the_window_has_room_and_never_waits(
    simulator: RunningSimulator,
) -> None:
    """The batch path's submit with no coroutine: a future while a slot is free, None once
    the window is full (the caller then waits as `submit` does); answers count as accepted;
    draining refuses it (nothing sent)."""
    simulator.set_faults(response_delay=0.2)
    async with running_bind(simulator.bind_settings(window=2)) as bind:
        first, second = bind.try_submit(submit_sm(1)), bind.try_submit(submit_sm(2))
        assert first is not None
        assert second is not None
        assert bind.try_submit(submit_sm(3)) is None  # window full: no slot, no wait
        answers = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
        assert [a.command_status for a in answers] == [0, 0]
        assert bind.submits_accepted == 2
        bind.refuse_requests()
        with pytest.raises(NotBoundError):
            bind.try_submit(submit_sm(4))
    assert simulator.stats()["pdus_received"].get("submit_sm", 0) == 2


# --- (b) throttling --------------------------------------------------------------------------


async def test_simulator_tps_limit_surfaces_as_esme_rthrottled(simulator: RunningSimulator) -> None:
    """One token, no refill to speak of: the first submit passes, the rest are throttled."""
    simulator.set_faults(tps=0.01)
    async with running_bind(simulator.bind_settings()) as bind:
        outcomes = [await bind.submit(submit_sm(n)) for n in range(4)]
        assert [o.command_status for o in outcomes] == [0] + [CommandStatus.ESME_RTHROTTLED] * 3
        assert RetryPolicy().classify(outcomes[1].command_status) is Disposition.THROTTLED
        assert bind.is_bound  # throttling is no session fault
        assert bind.binds_completed == 1
        simulator.set_faults(tps=0)
        assert (await bind.submit(submit_sm(9))).command_status == 0
    assert simulator.stats()["submit_responses"] == {"ESME_ROK": 2, "ESME_RTHROTTLED": 3}


# --- (c) enquire_link goes unanswered -------------------------------------------------------


async def test_silent_server_is_declared_dead_by_enquire_link_and_the_bind_reconnects() -> None:
    """Bound, then silence: the submit times out, enquire_link goes unanswered, we reconnect."""
    listener = RecordingListener()
    async with RawSmsc(answer_requests=False) as smsc:
        settings = smsc.settings(enquire_link_interval=0.2, response_timeout=0.4)
        async with running_bind(settings, listener) as bind:
            started = asyncio.get_running_loop().time()
            with pytest.raises(ResponseTimeoutError):
                await asyncio.wait_for(bind.submit(submit_sm()), WAIT)
            await eventually(lambda: bind.binds_completed == 2, "rebound on a new connection")
            # Not declared dead before an enquire_link had its response_timeout to be answered.
            assert asyncio.get_running_loop().time() - started >= 0.4 - CLOCK_SLACK
        assert smsc.count(CommandId.enquire_link, connection=1) == 1
        assert smsc.connections == 2
        assert listener.states[:3] == [True, False, True]
        assert "enquire_link" in listener.reconnects[0][2]


async def test_simulator_ignoring_enquire_link_gets_the_session_declared_dead(
    simulator_factory: Any,
) -> None:
    """Responses still flow, but an unanswered enquire_link is enough to drop the session."""
    config = simulator_config(faults={"ignore_enquire_link": True})
    listener = RecordingListener()
    async with simulator_factory(config) as sim:
        settings = sim.bind_settings(enquire_link_interval=0.1, response_timeout=0.3)
        async with running_bind(settings, listener) as bind:
            assert (await bind.submit(submit_sm())).command_status == 0
            await eventually(lambda: bind.binds_completed == 2 and bind.is_bound, "rebound")
            assert (await bind.submit(submit_sm(1))).command_status == 0
        assert "enquire_link" in listener.reconnects[0][2]


# --- (d) garbage from the server ------------------------------------------------------------


async def test_unknown_command_id_from_the_server_is_nacked_and_the_session_stays_up() -> None:
    async with RawSmsc() as smsc, running_bind(smsc.settings()) as bind:
        smsc.send(raw_pdu(0x00000777, 77, b"what is this"))
        await eventually(lambda: smsc.count(CommandId.generic_nack) == 1, "generic_nack")
        nack = next(s for s in smsc.seen if s.command_id == CommandId.generic_nack)
        assert (nack.command_status, nack.sequence_number) == (CommandStatus.ESME_RINVCMDID, 77)
        assert (await bind.submit(submit_sm())).command_status == 0
        assert (bind.binds_completed, smsc.connections) == (1, 1)


async def test_undecodable_submit_sm_resp_fails_that_submit_as_outcome_unknown() -> None:
    """A garbled answer to our submit: the carrier may have the message, so outcome unknown."""
    async with RawSmsc(submit_delay=None) as smsc, running_bind(smsc.settings()) as bind:
        submit = asyncio.ensure_future(bind.submit(submit_sm()))
        await eventually(lambda: smsc.count(CommandId.submit_sm) == 1, "submit_sm read")
        sequence_number = smsc.seen[-1].sequence_number
        # message_id without its NUL terminator (SMPP 3.4 §3.1: C-octet strings end in NUL).
        smsc.send(raw_pdu(CommandId.submit_sm_resp, sequence_number, b"abc"))
        with pytest.raises(OutcomeUnknownError):
            await asyncio.wait_for(submit, WAIT)
        assert bind.in_flight == 0
        assert bind.is_bound
        assert bind.binds_completed == 1
        smsc.submit_delay = 0.0
        assert (await bind.submit(submit_sm(1))).command_status == 0


async def test_bad_command_length_is_nacked_then_the_bind_closes_and_reconnects() -> None:
    """Framing is lost: generic_nack ESME_RINVCMDLEN, close, and a fresh bind."""
    listener = RecordingListener()
    async with RawSmsc() as smsc, running_bind(smsc.settings(), listener) as bind:
        smsc.send(b"\xde\xad\xbe\xef" * 8)
        await eventually(lambda: smsc.ended == 1, "connection closed by the bind")
        assert smsc.count(CommandId.generic_nack, status=CommandStatus.ESME_RINVCMDLEN) == 1
        await eventually(lambda: bind.binds_completed == 2 and bind.is_bound, "rebound")
        assert (await bind.submit(submit_sm())).command_status == 0
    assert listener.reconnects[0][2].startswith("peer misbehaved: command_length")


# --- (e) refused credentials ------------------------------------------------------------------


async def test_wrong_password_is_reported_and_retried_with_backoff_not_a_hot_loop(
    simulator: RunningSimulator,
) -> None:
    listener = RecordingListener()
    settings = simulator.bind_settings(password="wrong", reconnect_initial=0.1, reconnect_max=0.4)
    async with running_bind(settings, listener, bound=False) as bind:
        await eventually(lambda: len(listener.reconnects) >= 4, "four refused binds", within=5)
        attempts = simulator.stats()["pdus_received"]["bind_transceiver"]
        assert not bind.is_bound
        with pytest.raises(NotBoundError):
            await bind.submit(submit_sm())
    assert bind.last_error == "bind refused: ESME_RINVPASWD"
    assert {reason for _, _, reason in listener.reconnects} == {bind.last_error}
    assert attempts in (4, 5)  # one per reported failure, plus at most the one in progress
    assert listener.states == []
    times = [at for at, _, _ in listener.reconnects]
    delays = [delay for _, delay, _ in listener.reconnects]
    for i, delay in enumerate(delays[:4]):
        ceiling = min(0.4, 0.1 * 2**i)
        assert ceiling / 2 <= delay <= ceiling
    for i in range(3):
        assert times[i + 1] - times[i] >= delays[i] - CLOCK_SLACK  # it waited out its backoff


# --- (f) a clean unbind on close --------------------------------------------------------------


async def test_close_waits_for_outstanding_responses_then_unbinds() -> None:
    async with RawSmsc(submit_delay=0.3) as smsc:
        bind = Bind(smsc.settings(), rng=random.Random(7))
        bind.start()
        await asyncio.wait_for(bind.wait_bound(), WAIT)
        pending = [asyncio.ensure_future(bind.submit(submit_sm(n))) for n in range(3)]
        await eventually(lambda: smsc.count(CommandId.submit_sm) == 3, "three submits read")
        started = time.monotonic()
        await asyncio.wait_for(bind.close(drain_seconds=2.0), WAIT)
        assert time.monotonic() - started < 1.5
        assert [(await p).command_status for p in pending] == [0, 0, 0]
        order = [s.command_id for s in smsc.seen]
        assert order[-4:] == [CommandId.submit_sm] * 3 + [CommandId.unbind]
        await eventually(lambda: smsc.ended == 1, "connection closed after unbind_resp")
        assert smsc.connections == 1


async def test_close_stops_waiting_at_the_deadline_and_still_unbinds() -> None:
    """Responses that never come: close returns after the drain deadline, requests are lost."""
    async with RawSmsc(submit_delay=None) as smsc:
        bind = Bind(smsc.settings(), rng=random.Random(7))
        bind.start()
        await asyncio.wait_for(bind.wait_bound(), WAIT)
        pending = [asyncio.ensure_future(bind.submit(submit_sm(n))) for n in range(2)]
        await eventually(lambda: smsc.count(CommandId.submit_sm) == 2, "two submits read")
        started = time.monotonic()
        await asyncio.wait_for(bind.close(drain_seconds=0.3), WAIT)
        assert 0.3 - CLOCK_SLACK <= time.monotonic() - started < 1.5
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        assert [type(o) for o in outcomes] == [ConnectionLostError] * 2
        assert smsc.count(CommandId.unbind) == 1
        await eventually(lambda: smsc.ended == 1, "connection closed")


def raw_receipt_body(receipted_id: str) -> bytes:
    """A deliver_sm body carrying a delivery receipt (SMPP 3.4 §4.6.1, Appendix B), by hand."""
    text = f"id:{receipted_id} sub:001 dlvrd:001 submit date:2612060200 done date:2612060200 stat:DELIVRD err:000 text:".encode()  # noqa: E501
    return (
        b"\x00"  # service_type
        + b"\x01\x01447911000001\x00"  # source ton, npi, addr: the handset
        + b"\x05\x00Acme\x00"  # destination ton, npi, addr: our sender
        + b"\x04\x00\x00"  # esm_class (receipt), protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + b"\x00\x00\x00\x00"  # registered_delivery, replace_if_present, coding, default id
        + bytes([len(text)])
        + text
    )


async def test_close_lets_the_delivery_batch_in_hand_finish_and_answers_it_first() -> None:
    """A receipt the application is still recording when close() starts: close waits for it,
    answers it with deliver_sm_resp, and only then unbinds. Cut off, the receipt would be
    recorded but unanswered, and what the application does after the write would not run."""
    release = asyncio.Event()
    handled: list[int] = []

    async def slow_handler(batch: Sequence[Pdu]) -> Sequence[int]:
        handled.append(len(batch))
        await release.wait()
        return [CommandStatus.ESME_ROK] * len(batch)

    async with RawSmsc() as smsc:
        bind = Bind(smsc.settings(), rng=random.Random(7), on_delivery=slow_handler)
        bind.start()
        await asyncio.wait_for(bind.wait_bound(), WAIT)
        smsc.send(raw_pdu(CommandId.deliver_sm, 41, raw_receipt_body("7001")))
        await eventually(lambda: handled == [1], "the receipt handed to the application")
        closing = asyncio.ensure_future(bind.close(drain_seconds=2.0))
        await asyncio.sleep(0.1)
        assert not closing.done()
        assert smsc.count(CommandId.unbind) == 0  # not while the receipt is being recorded
        release.set()
        await asyncio.wait_for(closing, WAIT)
        order = [(s.command_id, s.sequence_number) for s in smsc.seen]
        assert order[-2:] == [(CommandId.deliver_sm_resp, 41), (CommandId.unbind, order[-1][1])]
        assert smsc.count(CommandId.deliver_sm_resp, status=0) == 1
        await eventually(lambda: smsc.ended == 1, "connection closed after unbind_resp")


async def test_close_stops_waiting_for_a_stuck_delivery_batch_at_the_deadline() -> None:
    """An application that never finishes a batch holds the unbind for the drain time only."""
    stuck = asyncio.Event()

    async def stuck_handler(batch: Sequence[Pdu]) -> Sequence[int]:
        stuck.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with RawSmsc() as smsc:
        bind = Bind(smsc.settings(), rng=random.Random(7), on_delivery=stuck_handler)
        bind.start()
        await asyncio.wait_for(bind.wait_bound(), WAIT)
        smsc.send(raw_pdu(CommandId.deliver_sm, 42, raw_receipt_body("7002")))
        await asyncio.wait_for(stuck.wait(), WAIT)
        started = time.monotonic()
        await asyncio.wait_for(bind.close(drain_seconds=0.3), WAIT)
        assert 0.3 - CLOCK_SLACK <= time.monotonic() - started < 1.5
        assert smsc.count(CommandId.unbind) == 1
        assert smsc.count(CommandId.deliver_sm_resp) == 0  # unanswered: the carrier resends it
        await eventually(lambda: smsc.ended == 1, "connection closed")


async def test_unanswered_bind_times_out_and_is_retried_on_a_new_connection() -> None:
    """A server that accepts TCP but never answers the bind: each attempt ends at bind_timeout."""
    listener = RecordingListener()
    async with RawSmsc(answer_binds=False) as smsc:
        async with running_bind(smsc.settings(bind_timeout=0.2), listener, bound=False):
            await eventually(lambda: len(listener.reconnects) >= 2, "two bind timeouts")
            assert {r for _, _, r in listener.reconnects} == {
                "no bind response within bind_timeout"
            }
            await eventually(lambda: smsc.ended >= 2, "timed-out connections released")
        assert smsc.count(CommandId.bind_transceiver) == smsc.connections


async def test_close_during_a_pending_bind_releases_the_connection() -> None:
    """close() while the bind response is awaited: the socket is closed, not leaked."""
    async with RawSmsc(answer_binds=False) as smsc:
        bind = Bind(smsc.settings(bind_timeout=5.0), rng=random.Random(7))
        bind.start()
        await eventually(lambda: smsc.count(CommandId.bind_transceiver) == 1, "bind sent")
        started = time.monotonic()
        await asyncio.wait_for(bind.close(), WAIT)
        assert time.monotonic() - started < 1.0
        await eventually(lambda: smsc.ended == 1, "connection released by close()")
        assert smsc.connections == 1


# --- backpressure ------------------------------------------------------------------------------


async def test_request_waiting_on_a_paused_transport_fails_when_the_connection_drops() -> None:
    """The peer stops reading until our writes back up; a request then waits for the transport
    to drain. When the connection drops instead, that request fails, it does not hang."""
    payload = {TlvTag.message_payload: b"x" * 60_000}
    async with RawSmsc() as smsc:
        settings = smsc.settings(window=400, response_timeout=30.0)
        async with running_bind(settings) as bind:
            smsc.stop_reading()
            protocol = bind._protocol
            assert protocol is not None
            sent: list[asyncio.Future[Pdu]] = []

            def paused() -> bool:
                return not protocol._can_write.is_set()

            for n in range(300):
                big = submit_sm(n, tlvs=payload)
                big.short_message = b""
                sent.append(asyncio.ensure_future(bind.submit(big)))
                await eventually(lambda: bind.in_flight == len(sent) or paused(), "written")
                if paused():
                    break
            assert paused(), "the transport never paused"
            waiting = asyncio.ensure_future(bind.submit(submit_sm(999)))
            in_flight = bind.in_flight
            for _ in range(20):  # let it run as far as it can: it must stop at the transport
                await asyncio.sleep(0)
            assert not waiting.done()
            assert bind.in_flight == in_flight
            smsc.abort()
            with pytest.raises(NotBoundError):
                await asyncio.wait_for(waiting, WAIT)
            outcomes = await asyncio.wait_for(asyncio.gather(*sent, return_exceptions=True), WAIT)
            lost = [o for o in outcomes if isinstance(o, ConnectionLostError)]
            assert len(lost) == in_flight
            assert all(isinstance(o, NotBoundError) for o in outcomes[in_flight:])
