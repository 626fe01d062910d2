"""smpplib's blocking client against our simulator: binds, submits, receipts, reassembly and MO.

smpplib is an independent SMPP 3.4 implementation, so these tests check that the simulator
speaks SMPP as others understand it, not just as our own codec does. smpplib blocks, so every
call runs in a worker thread (`asyncio.to_thread`) while the simulator serves on the test's
loop; every socket read has a timeout and every wait a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import select
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from gateway.smpp.constants import CommandStatus
from tests.integration.simulator_fixture import PASSWORD, SYSTEM_ID, RunningSimulator

IO_TIMEOUT = 5.0  # smpplib's socket timeout: no blocking call can hang longer
WAIT = 5.0  # deadline for what the simulator sends (receipts come after 50 ms)
SOURCE = "Acme"
DESTINATION = "447911123456"
UDHI = 0x40  # esm_class: UDH indicator (SMPP 3.4 §5.2.12)
RECEIPT_ESM_CLASS = 0x04  # esm_class: SMSC delivery receipt (SMPP 3.4 §5.2.12)
UCS2 = smpplib.consts.SMPP_ENCODING_ISO10646  # data_coding 8
GSM7 = smpplib.consts.SMPP_ENCODING_DEFAULT  # data_coding 0
# SMPP 3.4 Appendix B receipt text, as the simulator writes it.
RECEIPT = re.compile(
    rb"^id:(?P<id>\S+) sub:\d{3} dlvrd:\d{3} submit date:\d{10} done date:\d{10} "
    rb"stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:"
)

GSM7_TEXT = "Hello from smpplib: 100% GSM-7 @ {braces} & [brackets] ~ euro EUR"
UCS2_TEXT = "Привет из smpplib ✓ — 你好"
LONG_GSM7_TEXT = " ".join(
    f"part-{i:03d} of a long GSM-7 message, with {{escapes}};" for i in range(9)
)
LONG_UCS2_TEXT = " ".join(f"Сообщение {i} ✓ длинное" for i in range(8))


class SmpplibEsme:
    """One smpplib Client, driven from a worker thread; collects what the SMSC sends it."""

    def __init__(self, host: str, port: int) -> None:
        self.client = smpplib.client.Client(
            host, port, timeout=IO_TIMEOUT, allow_unknown_opt_params=True
        )
        self.deliveries: list[Any] = []
        self.responses: dict[int, Any] = {}
        self.client.set_message_received_handler(self._on_deliver_sm)
        self.client.set_message_sent_handler(self._on_submit_sm_resp)

    def _on_deliver_sm(self, pdu: Any, **_: Any) -> int:
        self.deliveries.append(pdu)
        return int(smpplib.consts.SMPP_ESME_ROK)

    def _on_submit_sm_resp(self, pdu: Any, **_: Any) -> None:
        self.responses[pdu.sequence] = pdu

    def bind(self, bind_type: str, *, system_id: str = SYSTEM_ID, password: str = PASSWORD) -> Any:
        """Connect and bind (`transmitter`, `receiver` or `transceiver`); returns the response."""
        self.client.connect()
        binder = getattr(self.client, f"bind_{bind_type}")
        return binder(system_id=system_id, password=password)

    def submit(self, parts: Sequence[bytes], *, data_coding: int, esm_class: int = 0) -> list[str]:
        """Send one submit_sm per part (receipt requested); returns their message ids in order."""
        sequences = [
            self.client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr=SOURCE,
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr=DESTINATION,
                short_message=part,
                data_coding=data_coding,
                esm_class=esm_class,
                registered_delivery=1,
            ).sequence
            for part in parts
        ]
        self.read_until(lambda: all(s in self.responses for s in sequences), "submit_sm_resp")
        answers = [self.responses[s] for s in sequences]
        assert [a.status for a in answers] == [0] * len(parts)
        return [a.message_id.decode("ascii") for a in answers]

    def wait_deliveries(self, count: int) -> list[Any]:
        """Read until `count` deliver_sm have arrived (each answered ESME_ROK by smpplib)."""
        self.read_until(lambda: len(self.deliveries) >= count, f"{count} deliver_sm")
        return list(self.deliveries)

    def read_until(self, done: Callable[[], bool], what: str, within: float = WAIT) -> None:
        deadline = time.monotonic() + within
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {within} s")
            readable, _, _ = select.select([self.client._socket], [], [], min(remaining, 0.1))
            if readable:
                self.client.read_once(auto_send_enquire_link=False)

    def close(self) -> None:
        """Unbind when bound, then disconnect (always)."""
        try:
            if self.client.state in smpplib.consts.COMMAND_STATES["unbind"]:
                self.client.unbind()
        finally:
            self.client.disconnect()


@contextlib.asynccontextmanager
async def bound_esme(sim: RunningSimulator, bind_type: str) -> AsyncIterator[SmpplibEsme]:
    """An smpplib client bound to `sim`; unbound and disconnected afterwards."""
    esme = SmpplibEsme(sim.host, sim.port)
    try:
        response = await asyncio.to_thread(esme.bind, bind_type)
        assert response.command == f"bind_{bind_type}_resp"
        assert response.status == 0
        yield esme
    finally:
        await asyncio.to_thread(esme.close)


async def control(sim: RunningSimulator, method: str, path: str, body: Any = None) -> Any:
    """One request to the simulator's HTTP control endpoint; returns (status, parsed JSON)."""

    def request() -> tuple[int, Any]:
        connection = http.client.HTTPConnection(
            sim.host, sim.server.control_port, timeout=IO_TIMEOUT
        )
        try:
            payload = None if body is None else json.dumps(body)
            headers = {} if body is None else {"Content-Type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    return await asyncio.to_thread(request)


def receipt_fields(pdu: Any) -> dict[str, str]:
    """The receipt's id, stat and err from its text, checked to be a receipt deliver_sm."""
    assert pdu.command == "deliver_sm"
    assert pdu.esm_class == RECEIPT_ESM_CLASS
    match = RECEIPT.match(pdu.short_message)
    assert match is not None, pdu.short_message
    fields = {k: v.decode("ascii") for k, v in match.groupdict().items()}
    # The receipted_message_id TLV (SMPP 3.4 §5.3.2.12) names the same message.
    assert pdu.receipted_message_id.decode("ascii") == fields["id"]
    return fields


def check_receipts(deliveries: Sequence[Any], message_ids: Sequence[str]) -> None:
    """One DELIVRD receipt per message id, and no other deliver_sm."""
    receipts = [receipt_fields(pdu) for pdu in deliveries]
    assert sorted(r["id"] for r in receipts) == sorted(message_ids)
    assert {(r["stat"], r["err"]) for r in receipts} == {("DELIVRD", "000")}


async def test_transceiver_gsm7_submit_gets_receipt_with_its_message_id(
    simulator: RunningSimulator,
) -> None:
    async with bound_esme(simulator, "transceiver") as esme:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(GSM7_TEXT)
        assert (len(parts), data_coding, esm_class) == (1, GSM7, 0)
        ids = await asyncio.to_thread(esme.submit, parts, data_coding=data_coding)
        deliveries = await asyncio.to_thread(esme.wait_deliveries, 1)
    check_receipts(deliveries, ids)
    received = simulator.messages()[-1]
    assert (received.message_ids, received.text) == (tuple(ids), GSM7_TEXT)
    assert (received.data_coding, received.parts) == (0, 1)


async def test_transceiver_ucs2_submit_is_decoded_and_receipted(
    simulator: RunningSimulator,
) -> None:
    """data_coding 8: the simulator decodes UTF-16BE, including a character outside the BMP."""
    text = UCS2_TEXT + " \U0001f600"
    async with bound_esme(simulator, "transceiver") as esme:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(text, encoding=UCS2)
        assert (len(parts), data_coding, esm_class) == (1, UCS2, 0)
        ids = await asyncio.to_thread(esme.submit, parts, data_coding=data_coding)
        deliveries = await asyncio.to_thread(esme.wait_deliveries, 1)
    check_receipts(deliveries, ids)
    received = simulator.messages()[-1]
    assert (received.message_ids, received.text, received.data_coding) == (tuple(ids), text, 8)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(LONG_GSM7_TEXT, GSM7), (LONG_UCS2_TEXT, UCS2)],
    ids=["gsm7", "ucs2"],
)
async def test_concatenated_submit_is_reassembled_and_every_part_receipted(
    simulator: RunningSimulator, text: str, encoding: int
) -> None:
    """smpplib splits with a UDH (esm_class 0x40); the simulator rejoins the parts in order."""
    async with bound_esme(simulator, "transceiver") as esme:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding)
        assert len(parts) >= 2
        assert (data_coding, esm_class) == (encoding, UDHI)
        ids = await asyncio.to_thread(esme.submit, parts, data_coding=data_coding, esm_class=UDHI)
        deliveries = await asyncio.to_thread(esme.wait_deliveries, len(parts))
    check_receipts(deliveries, ids)
    whole = [m for m in simulator.messages() if m.parts > 1]
    assert len(whole) == 1
    assert whole[0].message_ids == tuple(ids)
    assert (whole[0].text, whole[0].parts, whole[0].data_coding) == (text, len(parts), encoding)
    stats = simulator.stats()
    assert stats["reassembly_pending"] == 0
    assert stats["submit_responses"] == {"ESME_ROK": len(parts)}
    assert stats["receipts_sent"] == {"DELIVERED": len(parts)}
    # The control endpoint reports the same reassembled message.
    status, listed = await control(simulator, "GET", "/messages?limit=1")
    assert status == 200
    assert listed[0]["message_ids"] == ids
    assert (listed[0]["text"], listed[0]["parts"]) == (text, len(parts))


async def test_transmitter_submits_and_receiver_gets_the_receipts(
    simulator: RunningSimulator,
) -> None:
    """A transmitter+receiver pair: receipts for the transmitter's messages go to the receiver."""
    async with (
        bound_esme(simulator, "receiver") as receiver,
        bound_esme(simulator, "transmitter") as transmitter,
    ):
        assert simulator.stats()["binds"] == {SYSTEM_ID: {"receiver": 1, "transmitter": 1}}
        ids: list[str] = []
        for text, encoding in ((GSM7_TEXT, GSM7), (UCS2_TEXT, UCS2)):
            parts, data_coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding)
            ids += await asyncio.to_thread(
                transmitter.submit, parts, data_coding=data_coding, esm_class=esm_class
            )
        deliveries = await asyncio.to_thread(receiver.wait_deliveries, len(ids))
        assert transmitter.deliveries == []
    check_receipts(deliveries, ids)


@pytest.mark.parametrize("bind_type", ["transmitter", "receiver", "transceiver"])
@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        (SYSTEM_ID, "wrong", CommandStatus.ESME_RINVPASWD),
        ("nobody", PASSWORD, CommandStatus.ESME_RINVSYSID),
    ],
    ids=["wrong-password", "unknown-system-id"],
)
async def test_bad_credentials_are_refused_with_their_status(
    simulator: RunningSimulator, bind_type: str, system_id: str, password: str, status: int
) -> None:
    esme = SmpplibEsme(simulator.host, simulator.port)
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            await asyncio.to_thread(esme.bind, bind_type, system_id=system_id, password=password)
    finally:
        await asyncio.to_thread(esme.close)
    assert refused.value.args[1] == status
    stats = simulator.stats()
    assert stats["binds"] == {}
    assert stats["pdus_received"] == {f"bind_{bind_type}": 1}


@pytest.mark.parametrize("bind_type", ["receiver", "transceiver"])
async def test_injected_mo_reaches_smpplib_as_deliver_sm(
    simulator: RunningSimulator, bind_type: str
) -> None:
    """POST /mo on the control endpoint: the bound client gets a plain deliver_sm (esm_class 0)."""
    mo = {"from": "447700900123", "to": "12345", "text": "STOP please"}
    async with bound_esme(simulator, bind_type) as esme:
        status, answer = await control(simulator, "POST", "/mo", mo)
        assert (status, answer) == (200, {"parts": 1})
        (pdu,) = await asyncio.to_thread(esme.wait_deliveries, 1)
    assert (pdu.command, pdu.esm_class, pdu.data_coding) == ("deliver_sm", 0, 0)
    assert (pdu.source_addr, pdu.destination_addr) == (b"447700900123", b"12345")
    assert pdu.short_message == b"STOP please"
    assert simulator.stats()["mo_sent"] == 1


async def test_long_injected_mo_arrives_as_udh_concatenated_parts(
    simulator: RunningSimulator,
) -> None:
    """A UCS-2 MO over 70 characters comes as parts sharing one concat reference, in order."""
    text = LONG_UCS2_TEXT
    async with bound_esme(simulator, "receiver") as esme:
        parts = simulator.inject_mo(source="447700900123", destination="12345", text=text)
        assert parts >= 2
        deliveries = await asyncio.to_thread(esme.wait_deliveries, parts)
    headers = [pdu.short_message[:6] for pdu in deliveries]
    assert {(pdu.esm_class, pdu.data_coding) for pdu in deliveries} == {(UDHI, 8)}
    assert {h[:4] for h in headers} == {bytes((5, 0, 3, headers[0][3]))}
    assert [(h[4], h[5]) for h in headers] == [(parts, i) for i in range(1, parts + 1)]
    body = b"".join(pdu.short_message[6:] for pdu in deliveries)
    assert body.decode("utf-16-be") == text


async def test_mo_without_a_receiver_bound_is_refused(simulator: RunningSimulator) -> None:
    """A transmitter cannot take MO: the control endpoint answers 409 and nothing is queued."""
    async with bound_esme(simulator, "transmitter") as esme:
        status, answer = await control(
            simulator, "POST", "/mo", {"from": "447700900123", "to": "12345", "text": "hi"}
        )
        assert status == 409
        assert "no receiver" in answer["error"]
        assert esme.deliveries == []
    assert simulator.stats()["mo_sent"] == 0
