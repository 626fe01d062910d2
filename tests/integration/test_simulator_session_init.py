"""The simulator's session_init_timer (SMPP 3.4 §7.2): a connection that does not bind is closed
after `session_init_timeout`; a bound one stays open. Real sockets, a short timeout, and every
wait bounded by EOF or a response, never a fixed sleep."""

from __future__ import annotations

import asyncio

from gateway.smpp.codec import decode_pdu, encode_pdu
from gateway.smpp.pdu import BindTransceiver, BindTransceiverResp, EnquireLink, EnquireLinkResp
from tests.integration.simulator_fixture import (
    PASSWORD,
    SYSTEM_ID,
    simulator_config,
    start_simulator,
)

EOF_WITHIN = 10.0  # generous bound on a 0.2 s timeout: a stuck connection fails, never hangs


async def read_pdu(reader: asyncio.StreamReader) -> object:
    header = await asyncio.wait_for(reader.readexactly(4), EOF_WITHIN)
    body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header) - 4), EOF_WITHIN)
    return decode_pdu(header + body)


async def test_a_connection_that_never_binds_is_closed_after_the_timeout() -> None:
    async with start_simulator(simulator_config(session_init_timeout=0.2)) as sim:
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        try:
            assert await asyncio.wait_for(reader.read(), EOF_WITHIN) == b""  # EOF: closed
        finally:
            writer.close()
        assert sim.stats()["session_init_timeouts"] == 1


async def test_a_bound_connection_outlives_the_timeout() -> None:
    async with start_simulator(simulator_config(session_init_timeout=0.2)) as sim:
        bound_reader, bound_writer = await asyncio.open_connection(sim.host, sim.port)
        bind = BindTransceiver(sequence_number=1, system_id=SYSTEM_ID, password=PASSWORD)
        bound_writer.write(encode_pdu(bind))
        assert isinstance(await read_pdu(bound_reader), BindTransceiverResp)
        # opened after the bound one, so its deadline comes later: once it is closed, the
        # bound connection's deadline has passed too
        idle_reader, idle_writer = await asyncio.open_connection(sim.host, sim.port)
        try:
            assert await asyncio.wait_for(idle_reader.read(), EOF_WITHIN) == b""
            bound_writer.write(encode_pdu(EnquireLink(sequence_number=2)))
            assert isinstance(await read_pdu(bound_reader), EnquireLinkResp)
            assert sim.stats()["binds"] == {SYSTEM_ID: {"transceiver": 1}}
            assert sim.stats()["session_init_timeouts"] == 1
        finally:
            idle_writer.close()
            bound_writer.close()
