"""CarrierDeliveries decodes MO and receipt text with the receiving carrier's encoding profile.

Issue 13 item 4: a carrier that delivers packed GSM-7 had its MO read as unpacked septets
(garbage, so a STOP was missed); a carrier whose data_coding 0 is Latin-1 had its accents
turned into U+FFFD.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from compliance.encoding import Encoding, EncodingProfile, encode_message
from compliance.encoding.gsm7 import gsm7_codec, pack_septets
from compliance.verdict import MoAction, MoOutcome
from gateway.carrier.receipts import Receipt, parse_receipt
from gateway.config import StreamsConfig
from gateway.engine.deliveries import CarrierDeliveries
from gateway.smpp.constants import CommandStatus, EsmClass, TlvTag
from gateway.smpp.pdu import DeliverSm
from gateway.store.keys import Keys
from gateway.store.records import RecordContext
from gateway.store.state_store import OpBatch, StateWriter

CTX = RecordContext(keys=Keys(prefix="t:", streams=StreamsConfig()), group="g",
                    events_maxlen=1000, ttl=60)  # fmt: skip


@dataclass
class FakeWriter:
    batches: list[OpBatch] = field(default_factory=list)

    async def write(self, batch: OpBatch) -> list[str]:
        self.batches.append(batch)
        return ["matched"] * batch.results

    def inbound_texts(self) -> list[str]:
        texts = []
        for batch in self.batches:
            args = batch.args
            for i, op in enumerate(args):
                if op == "X" and args[i + 1] == CTX.keys.inbound:
                    texts.append(json.loads(str(args[i + 3]))["text"])
        return texts


@dataclass
class FakePolicy:
    texts: list[str] = field(default_factory=list)

    async def handle_mo(
        self, sender_number: str, our_number: str, text: str, now: datetime
    ) -> MoOutcome:
        self.texts.append(text)
        return MoOutcome(action=MoAction.none, msisdn=None, scope=None, keyword=None,
                         reply_text=None)  # fmt: skip


@dataclass
class FakeObserver:
    receipts: list[Receipt] = field(default_factory=list)

    def receipt_applied(
        self, carrier: str, result: str, receipt: Receipt | None, handset: str
    ) -> None:
        assert receipt is not None  # CarrierDeliveries reports the receipts it parsed
        self.receipts.append(receipt)

    def mo_received(self, carrier: str, outcome: MoOutcome | None) -> None:
        pass

    def stage(self, stage: str, since: float) -> None:
        pass


def deliveries(profile: EncodingProfile) -> tuple[CarrierDeliveries, FakePolicy, FakeWriter]:
    policy, writer = FakePolicy(), FakeWriter()
    handler = CarrierDeliveries(
        carrier="c", receipt_id_mode="auto", ctx=CTX, writer=cast(StateWriter, writer),
        mo_policy=policy, observer=FakeObserver(), profile=profile, clock=lambda: 1e9,
    )  # fmt: skip
    return handler, policy, writer


def mo(short_message: bytes, *, data_coding: int = 0, esm_class: int = 0) -> DeliverSm:
    return DeliverSm(source_addr="447911123456", destination_addr="12345",
                     esm_class=esm_class, data_coding=data_coding,
                     short_message=short_message)  # fmt: skip


def gsm7(text: str) -> bytes:
    """`text` as unpacked GSM-7 septets (default tables)."""
    septets = gsm7_codec().encode(text)
    assert septets is not None
    return septets


async def run(handler: CarrierDeliveries, pdus: Sequence[Any]) -> None:
    statuses = await handler(pdus)
    assert list(statuses) == [0] * len(pdus)


async def test_packed_gsm7_mo_from_a_packed_carrier_is_read_as_stop() -> None:
    """`gsm7_packed: true` says the carrier's GSM-7 travels 8-in-7 (TS 23.038 §6.1.2.1) in
    both directions, so its MO must be unpacked before the keyword is read; read as one septet
    per octet, "STOP" packed (53 EA 13 0A) reads "S\\ufffdΓ\\n" and the opt-out is lost."""
    packed = pack_septets(gsm7("STOP"))
    handler, policy, writer = deliveries(EncodingProfile(gsm7_packed=True))
    await run(handler, [mo(packed)])
    assert policy.texts == ["STOP"]
    assert writer.inbound_texts() == ["STOP"]


async def test_packed_concatenated_mo_with_udh_fill_bits_is_reassembled() -> None:
    """Each part of a packed concatenated MO has its text start on the septet boundary after
    the UDH (TS 23.040 §9.2.3.24 fill bits); the parts rejoin to the original text."""
    text = "STOP " + "please no more messages " * 10
    profile = EncodingProfile(gsm7_packed=True, max_parts=5)
    parts = encode_message(text, profile, reference=9).parts
    assert len(parts) == 2
    handler, policy, _ = deliveries(profile)
    pdus = [mo(p.short_message, esm_class=EsmClass.udhi) for p in reversed(parts)]
    await run(handler, pdus)
    assert policy.texts == [text]


async def test_unpacked_carrier_still_reads_one_septet_per_octet() -> None:
    handler, policy, _ = deliveries(EncodingProfile())
    await run(handler, [mo(gsm7("Stop"))])
    assert policy.texts == ["Stop"]


async def test_carrier_default_alphabet_latin1_decodes_data_coding_0() -> None:
    """data_coding 0 is the "SMSC default alphabet" (SMPP 3.4 §5.2.19), which some SMSCs
    define as Latin-1 (domain.md §1.7; Kannel's alt-charset): a carrier declaring
    `default_alphabet: latin1` has "Arrêt" read as Latin-1, not as GSM-7 septets."""
    handler, policy, _ = deliveries(EncodingProfile(default_alphabet=Encoding.latin1))
    await run(handler, [mo("Arrêt".encode("latin-1"))])
    assert policy.texts == ["Arrêt"]


async def test_receipts_are_decoded_with_the_carrier_profile() -> None:
    """A UCS-2 receipt (data_coding 8) and a packed one from a packed carrier both parse."""
    text = (
        "id:42 sub:001 dlvrd:001 submit date:2612020930 done date:2612020931 stat:DELIVRD err:000"
    )
    packed = pack_septets(gsm7(text), max_septets=None)
    ucs2 = DeliverSm(esm_class=EsmClass.smsc_delivery_receipt, data_coding=8,
                     short_message=text.encode("utf-16-be"))  # fmt: skip
    septets = DeliverSm(esm_class=EsmClass.smsc_delivery_receipt, short_message=packed)
    observer = FakeObserver()
    handler, _, _ = deliveries(EncodingProfile(gsm7_packed=True))
    handler.observer = observer
    await run(handler, [ucs2, septets])
    assert [(r.message_id, r.state.value, r.final) for r in observer.receipts] == [
        ("42", "delivered", True),
        ("42", "delivered", True),
    ]


async def test_unmatched_receipts_are_logged_at_most_once_a_second_with_a_count() -> None:
    """A fast carrier's receipts often beat their submit_sm_resp; a dlr_unmatched line for
    each would cost more than the receipt. The metric counts every one (observer)."""
    now = [1e9]
    writer = FakeWriter()
    writer.write = _answering("unmatched", writer)  # type: ignore[method-assign]
    observer = FakeObserver()
    handler = CarrierDeliveries(
        carrier="c", receipt_id_mode="auto", ctx=CTX, writer=cast(StateWriter, writer),
        mo_policy=None, observer=observer, clock=lambda: now[0],
    )  # fmt: skip
    text = "id:{} sub:001 dlvrd:001 submit date:2612020930 done date:2612020931 stat:DELIVRD"
    receipts = [
        DeliverSm(esm_class=EsmClass.smsc_delivery_receipt, short_message=text.format(n).encode())
        for n in range(4)
    ]
    with capture_logs() as logs:
        await run(handler, receipts[:3])
        now[0] += 1.5
        await run(handler, receipts[3:])
    lines = [e for e in logs if e["event"] == "dlr_unmatched"]
    assert [(e["receipted_message_id"], e["suppressed"]) for e in lines] == [("0", 0), ("3", 2)]
    assert len(observer.receipts) == 4


def _answering(result: str, writer: FakeWriter) -> Any:
    async def write(batch: OpBatch) -> list[str]:
        writer.batches.append(batch)
        return [result] * batch.results

    return write


def _receipt_handler(writer: FakeWriter, observer: FakeObserver) -> CarrierDeliveries:
    """Carrier "c"'s deliveries without MO policy, its clock fixed, writing to `writer`."""
    return CarrierDeliveries(
        carrier="c", receipt_id_mode="auto", ctx=CTX, writer=cast(StateWriter, writer),
        mo_policy=None, observer=observer, clock=lambda: 1767225600.25,
    )  # fmt: skip


_RECEIPT_TEXT = (
    "id:{} sub:001 dlvrd:{} submit date:2612020930 done date:2612020931 stat:{} err:{}"
    " text:Hi: there"
)


def _receipt(source: tuple[int, str], destination: tuple[int, str], text: str,
             **tlvs: int | str | bytes) -> DeliverSm:  # fmt: skip
    return DeliverSm(
        source_addr_ton=source[0], source_addr=source[1], dest_addr_ton=destination[0],
        destination_addr=destination[1], esm_class=EsmClass.smsc_delivery_receipt,
        short_message=text.encode(), tlvs={TlvTag[name]: value for name, value in tlvs.items()},
    )  # fmt: skip


async def test_a_batch_of_receipts_writes_logs_and_reports_exactly_this() -> None:
    """The whole receipt path on four receipts (Appendix B with TLVs, an UNDELIV with a
    network error, a loose intermediate one, one whose addresses were not swapped): the
    apply.lua arguments, the lines logged and what the observer hears, as recorded before
    the receipt path was made faster."""
    results = ["delivered 999.5 m1", "early:undelivered 998 m2", "matched", "unmatched"]
    calls: list[tuple[str, str, tuple[str, ...], str, str]] = []

    class Observer(FakeObserver):
        def receipt_applied(
            self, carrier: str, result: str, receipt: Receipt | None, handset: str
        ) -> None:
            assert receipt is not None
            calls.append((carrier, result, receipt.ids, receipt.state.value, handset))

    writer = FakeWriter()
    writer.write = _answering_each(results, writer)  # type: ignore[method-assign]
    handler = _receipt_handler(writer, Observer())
    pdus = [
        _receipt((1, "447700900123"), (5, "ACME"),
                 _RECEIPT_TEXT.format("1a2B", "001", "DELIVRD", "000"),
                 receipted_message_id="1a2b", message_state=2),
        _receipt((1, "+33612345678"), (1, "447700900999"),
                 _RECEIPT_TEXT.format("0042", "000", "UNDELIV", "001"),
                 network_error_code=b"\x03\x00\x01"),
        _receipt((0, "00447700900124"), (0, ""), "ID:77 STAT:ENROUTE"),
        _receipt((5, "ACME"), (1, "14155550100"),
                 _RECEIPT_TEXT.format("ff", "001", "DELIVRD", "000")),
    ]  # fmt: skip
    with capture_logs() as logs:
        await run(handler, pdus)
    ts = "2026-01-01T00:00:00.250Z"
    [batch] = writer.batches
    assert batch.args == [
        "scope", "t:", "smsgw:events", "1000", "60", "smsgw:outbound", "g",
        "receipt", "c", "3", "1a2b", "6699", "1a2B", "delivered", "1", "000", ts,
        "447700900123", None, "",
        "receipt", "c", "2", "0042", "42", "undelivered", "1", "001", ts,
        "33612345678", None, "447700900999",
        "receipt", "c", "1", "77", "enroute", "0", "", ts, "447700900124", None, "",
        "receipt", "c", "2", "ff", "255", "delivered", "1", "000", ts, "14155550100", None, "",
    ]  # fmt: skip
    assert calls == [
        ("c", results[0], ("1a2b", "1a2B"), "delivered", "447700900123"),
        ("c", results[1], ("0042",), "undelivered", "33612345678"),
        ("c", results[2], ("77",), "enroute", "447700900124"),
        ("c", results[3], ("ff",), "delivered", "14155550100"),
    ]
    assert logs == [
        {"message_id": "m1", "status": "delivered", "reason": None, "carrier": "c",
         "early_receipt": None, "event": "message_final", "log_level": "info"},
        {"message_id": "m2", "status": "undelivered", "reason": "001", "carrier": "c",
         "early_receipt": True, "event": "message_final", "log_level": "info"},
        {"carrier": "c", "result": "unmatched", "receipted_message_id": "ff",
         "kept_seconds": 600, "suppressed": 0, "event": "dlr_unmatched", "log_level": "warning"},
    ]  # fmt: skip


def _answering_each(results: list[str], writer: FakeWriter) -> Any:
    async def write(batch: OpBatch) -> list[str]:
        writer.batches.append(batch)
        return results[: batch.results]

    return write


async def test_a_receipt_that_cannot_be_read_is_refused_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receipt whose reading raises (a bug of ours) is answered ESME_RX_T_APPN, so the
    carrier sends it again; the receipts beside it in the batch are recorded and answered
    ESME_ROK, not refused with it on every redelivery."""

    def parse(pdu: DeliverSm, **kwargs: Any) -> Receipt | None:
        if b"id:bad " in pdu.short_message:
            raise ValueError("a reading bug")
        return parse_receipt(pdu, **kwargs)

    monkeypatch.setattr("gateway.engine.deliveries.parse_receipt", parse)
    writer = FakeWriter()
    writer.write = _answering("unmatched", writer)  # type: ignore[method-assign]
    handler = _receipt_handler(writer, FakeObserver())
    pdus = [
        _receipt((1, "447700900123"), (5, "ACME"),
                 _RECEIPT_TEXT.format(receipt_id, "001", "DELIVRD", "000"))
        for receipt_id in ("a1", "bad", "a3")
    ]  # fmt: skip
    with capture_logs() as logs:
        statuses = await handler(pdus)
    assert list(statuses) == [CommandStatus.ESME_ROK, CommandStatus.ESME_RX_T_APPN,
                              CommandStatus.ESME_ROK]  # fmt: skip
    written = [word for batch in writer.batches for word in batch.args]
    assert {"a1", "a3"} <= set(written)
    assert "bad" not in written
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["receipt_unreadable"]
