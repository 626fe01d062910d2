"""Message ids, the receipt text (SMPP 3.4 Appendix B) and the receipt deliver_sm."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from gateway.smpp.constants import DataCoding, EsmClass, MessageState, TlvTag
from gateway.smpp.pdu import DeliverSm
from simulator.config import HandsetFormat, MessageIdFormat, Outcome
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

RECEIPT = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\d{3}) dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>\w{1,10}) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


def test_ids_are_unique_and_in_the_chosen_base() -> None:
    decimal = MessageIds(MessageIdFormat.decimal, 9)
    assert [decimal.allocate() for _ in range(3)] == ["9", "10", "11"]
    hexa = MessageIds(MessageIdFormat.hex, 255)
    assert [hexa.allocate() for _ in range(2)] == ["ff", "100"]


@pytest.mark.parametrize(
    ("message_id", "response_format", "receipt_format", "expected"),
    [
        ("255", MessageIdFormat.decimal, "same", "255"),
        ("255", MessageIdFormat.decimal, "decimal", "255"),
        ("255", MessageIdFormat.decimal, "hex", "ff"),
        ("ff", MessageIdFormat.hex, "decimal", "255"),
        ("ff", MessageIdFormat.hex, "hex", "ff"),
    ],
)
def test_receipt_id_converts_between_bases(
    message_id: str, response_format: MessageIdFormat, receipt_format: str, expected: str
) -> None:
    assert receipt_id(message_id, response_format, receipt_format) == expected  # type: ignore[arg-type]


def test_dates_are_utc_yymmddhhmm() -> None:
    moment = dt.datetime(2024, 3, 9, 17, 5, 59, tzinfo=dt.UTC).timestamp()
    dates = ReceiptDates()
    assert dates.format(moment) == "2403091705"
    assert dates.format(moment + 1) == "2403091706"


def test_receipt_text_has_the_appendix_b_layout() -> None:
    text = receipt_text(
        message_id="12345",
        outcome=Outcome.DELIVRD,
        err=0,
        submit_date="2403091705",
        done_date="2403091706",
        text="Hello world, this is longer than twenty",
    )
    match = RECEIPT.fullmatch(text)
    assert match is not None
    assert match["id"] == "12345"
    assert (match["sub"], match["dlvrd"], match["stat"], match["err"]) == (
        "001",
        "001",
        "DELIVRD",
        "000",
    )
    assert match["text"] == "Hello world, this is"


def test_failed_receipt_counts_nothing_delivered_and_masks_unsafe_text() -> None:
    text = receipt_text(
        message_id="a1",
        outcome=Outcome.UNDELIV,
        err=1,
        submit_date="0000000000",
        done_date="0000000000",
        text="Grüße {x}",
    )
    match = RECEIPT.fullmatch(text)
    assert match is not None
    assert (match["dlvrd"], match["stat"], match["err"]) == ("000", "UNDELIV", "001")
    assert match["text"] == "Gr??e ?x?"
    text.encode("ascii")


def test_receipt_pdu_reverses_addresses_and_carries_the_tlvs() -> None:
    pdu = build_receipt(
        message_id="77",
        text="id:77 stat:UNDELIV",
        outcome=Outcome.UNDELIV,
        err=1,
        original_source=(5, 0, "ACME"),
        original_destination=(1, 1, "447700900123"),
    )
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (1, 1, "447700900123")
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (5, 0, "ACME")
    assert pdu.esm_class == EsmClass.smsc_delivery_receipt
    assert pdu.tlvs[TlvTag.receipted_message_id] == "77"
    assert pdu.tlvs[TlvTag.message_state] == MessageState.UNDELIVERABLE
    assert pdu.tlvs[TlvTag.network_error_code] == b"\x03\x00\x01"


def test_delivered_receipt_has_no_network_error_code() -> None:
    pdu = build_receipt(
        message_id="1",
        text="x",
        outcome=Outcome.DELIVRD,
        err=0,
        original_source=(1, 1, "1"),
        original_destination=(1, 1, "2"),
    )
    assert TlvTag.network_error_code not in pdu.tlvs
    assert pdu.tlvs[TlvTag.message_state] == MessageState.DELIVERED


@pytest.mark.parametrize("outcome", list(Outcome))
def test_receipt_pdu_equals_the_keyword_built_deliver_sm(outcome: Outcome) -> None:
    """build_receipt stores slots on a bare object for speed; it must miss no field."""
    pdu = build_receipt(
        message_id="abc",
        text="id:abc",
        outcome=outcome,
        err=5,
        original_source=(5, 0, "ACME"),
        original_destination=(1, 1, "447700900123"),
    )
    expected = DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900123",
        dest_addr_ton=5,
        dest_addr_npi=0,
        destination_addr="ACME",
        esm_class=EsmClass.smsc_delivery_receipt,
        data_coding=DataCoding.default,
        short_message=b"id:abc",
        tlvs=pdu.tlvs,
    )
    assert pdu == expected  # dataclass eq reads every field: an unset slot raises


def test_intermediate_receipt_text_has_the_appendix_b_layout_with_its_word() -> None:
    text = intermediate_text(
        message_id="12",
        stat="BUFFRED",
        submit_date="2403091705",
        done_date="2403091706",
        text="Grüße",
    )
    match = RECEIPT.fullmatch(text)
    assert match is not None
    assert (match["id"], match["stat"]) == ("12", "BUFFRED")
    assert (match["dlvrd"], match["err"]) == ("000", "000")
    assert match["text"] == "Gr??e"


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("ENROUTE", MessageState.ENROUTE),
        ("ACCEPTD", MessageState.ACCEPTED),
        ("UNKNOWN", MessageState.UNKNOWN),
        ("BUFFRED", None),
        ("SCHEDLD", None),
    ],
)
def test_intermediate_receipt_carries_message_state_only_for_a_word_that_has_one(
    stat: str, state: MessageState | None
) -> None:
    pdu = build_intermediate_receipt(
        message_id="77",
        text=f"id:77 stat:{stat}",
        stat=stat,
        original_source=(5, 0, "ACME"),
        original_destination=(1, 1, "447700900123"),
    )
    assert (pdu.source_addr, pdu.destination_addr) == ("447700900123", "ACME")
    assert pdu.esm_class == EsmClass.smsc_delivery_receipt
    assert pdu.tlvs[TlvTag.receipted_message_id] == "77"
    assert pdu.tlvs.get(TlvTag.message_state) == state
    assert TlvTag.network_error_code not in pdu.tlvs


@pytest.mark.parametrize(
    ("handset_format", "expected"),
    [
        ("as_submitted", (1, 1, "447911123456")),
        ("plus", (1, 1, "+447911123456")),
        ("idd", (0, 1, "00447911123456")),
        ("national", (2, 1, "07911123456")),
    ],
)
def test_a_receipt_writes_the_handset_as_configured(
    handset_format: HandsetFormat, expected: tuple[int, int, str]
) -> None:
    assert handset_address((1, 1, "447911123456"), handset_format) == expected


def test_a_national_number_without_a_trunk_prefix_is_its_national_digits() -> None:
    assert handset_address((1, 1, "12125550123"), "national") == (2, 1, "2125550123")


@pytest.mark.parametrize("handset_format", ["plus", "idd", "national"])
def test_what_is_not_international_digits_stays_as_submitted(
    handset_format: HandsetFormat,
) -> None:
    for where in [(5, 0, "Acme"), (3, 0, "12345x"), (1, 1, "")]:
        assert handset_address(where, handset_format) == where


def test_an_invalid_number_is_not_written_nationally() -> None:
    assert handset_address((1, 1, "44123"), "national") == (1, 1, "44123")
