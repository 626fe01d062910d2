"""A carrier bind over TLS (carriers' `tls: true`): the handshake, a submit and its receipt."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Sequence

import trustme

from gateway.carrier.bind import Bind
from gateway.smpp.constants import CommandStatus
from gateway.smpp.pdu import DeliverSm, Pdu, SubmitSm, SubmitSmResp
from tests.integration.simulator_fixture import RunningSimulator
from tests.integration.tcp_proxy import TcpProxy


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: a throwaway CA, a certificate for 127.0.0.1."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_bind_over_tls_submits_and_receives_the_receipt(
    simulator: RunningSimulator,
) -> None:
    server_tls, client_tls = tls_contexts()
    proxy = TcpProxy(simulator.host, simulator.port, tls=server_tls)
    await proxy.start()
    receipts: asyncio.Queue[Pdu] = asyncio.Queue()

    async def on_delivery(batch: Sequence[Pdu]) -> Sequence[int]:
        for pdu in batch:
            receipts.put_nowait(pdu)
        return [CommandStatus.ESME_ROK] * len(batch)

    settings = simulator.bind_settings(port=proxy.port, tls=client_tls)
    bind = Bind(settings, on_delivery=on_delivery, rng=random.Random(7))
    bind.start()
    try:
        await asyncio.wait_for(bind.wait_bound(), 10)
        submit = SubmitSm(destination_addr="447911200001", registered_delivery=1,
                          short_message=b"over TLS")  # fmt: skip
        response = await asyncio.wait_for(bind.submit(submit), 10)
        receipt = await asyncio.wait_for(receipts.get(), 10)
    finally:
        await bind.close(1.0)
        await proxy.close()
    assert isinstance(response, SubmitSmResp)
    assert isinstance(receipt, DeliverSm)
    assert response.command_status == CommandStatus.ESME_ROK
    assert f"id:{response.message_id} ".encode() in receipt.short_message


async def test_a_certificate_the_client_does_not_trust_is_refused(
    simulator: RunningSimulator,
) -> None:
    server_tls, _ = tls_contexts()
    _, other_client = tls_contexts()  # trusts another CA
    proxy = TcpProxy(simulator.host, simulator.port, tls=server_tls)
    await proxy.start()
    bind = Bind(simulator.bind_settings(port=proxy.port, tls=other_client), rng=random.Random(7))
    bind.start()
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while bind.last_error is None:
            assert asyncio.get_running_loop().time() < deadline, "no connection error reported"
            await asyncio.sleep(0.02)
        assert not bind.is_bound
        assert "CERTIFICATE_VERIFY_FAILED" in bind.last_error
    finally:
        await bind.close(0.5)
        await proxy.close()
