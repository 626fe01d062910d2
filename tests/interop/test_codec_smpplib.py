"""Our codec against smpplib 2.2 (python-smpplib), byte for byte, in both directions.

For every PDU smpplib supports: our `encode_pdu` equals smpplib's `generate()`, our
`decode_pdu` reads smpplib's bytes back to the same PDU, and smpplib's `parse_pdu` reads our
bytes to the same field values. smpplib writes TLVs in its own fixed order and knows only some
tags per PDU, so the TLVs drawn here are the ones both codecs type the same way; the tags where
smpplib departs from SMPP 3.4 §5.3.2 are listed (and checked) in SMPPLIB_TLV_DISAGREEMENTS.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smpplib import consts as smpplib_consts
from smpplib import smpp as smpplib_smpp
from smpplib.ptypes import ostr

from gateway.smpp.codec import decode_pdu, encode_pdu
from gateway.smpp.constants import TLV_FORMATS, CommandStatus, TlvTag
from gateway.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    PduBase,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from tests.unit.smpp.codec_strategies import cstr, field_strategy

# smpplib implements these PDUs (smpplib.command.factory); it has no submit_multi, replace_sm,
# cancel_sm or outbind.
SUPPORTED: list[type[PduBase]] = [
    BindTransmitter,
    BindReceiver,
    BindTransceiver,
    BindTransmitterResp,
    BindReceiverResp,
    BindTransceiverResp,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Unbind,
    UnbindResp,
    GenericNack,
    QuerySm,
    QuerySmResp,
    DataSm,
    DataSmResp,
    AlertNotification,
]

# Where smpplib's TLV typing differs from SMPP 3.4 §5.3.2 (and from ours), by PDU and tag name.
SMPPLIB_TLV_DISAGREEMENTS = {
    ("submit_sm", "source_addr_subunit"),  # smpplib: 2-octet integer; §5.3.2.2: 1 octet
    ("submit_sm", "source_subaddress"),  # smpplib: C-string; §5.3.2.15: octet string
    ("submit_sm", "dest_subaddress"),  # smpplib: C-string; §5.3.2.16: octet string
    ("submit_sm", "alert_on_message_delivery"),  # smpplib never writes its flag type
    ("deliver_sm", "source_subaddress"),
    ("deliver_sm", "dest_subaddress"),
    ("data_sm", "source_telematics_id"),  # smpplib: 2-octet integer; ours: 1 octet
    ("data_sm", "callback_num_atag"),  # smpplib: C-string; §5.3.2.38: octet string
    ("data_sm", "source_subaddress"),
    ("data_sm", "dest_subaddress"),
    ("data_sm", "alert_on_message_delivery"),
    ("data_sm_resp", "delivery_failure_reason"),  # smpplib: C-string; §5.3.2.33: 1 octet
    ("data_sm_resp", "network_error_code"),  # smpplib: C-string; §5.3.2.31: 3 octets
}

# smpplib truncates these to 20 characters where SMPP 3.4 allows 64 (§4.7.1, §4.12.1).
SMPPLIB_SHORTER_FIELDS = {
    (DataSm, "source_addr"),
    (DataSm, "destination_addr"),
    (AlertNotification, "source_addr"),
    (AlertNotification, "esme_addr"),
}


class SequenceClient:
    """The client object smpplib's PDUs ask for sequence numbers; nothing else is used."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def command_name(cls: type[PduBase]) -> str:
    return cls.command_id.name


def smpplib_pdu(name: str) -> Any:
    return smpplib_smpp.make_pdu(name, client=SequenceClient())


def tlv_agrees(param: Any, tag: int) -> bool:
    """Does smpplib type this TLV the way SMPP 3.4 (and our codec) does?"""
    ours = TLV_FORMATS.get(tag)
    if param.type is int:
        return ours == f"int{param.size}"
    if param.type is str:
        return ours == "cstr"
    return param.type is ostr and ours == "octets"


@functools.cache
def smpplib_tlvs(command: str) -> tuple[list[str], list[str]]:
    """smpplib's TLV names for a PDU in the order it writes them: (agreeing, disagreeing)."""
    proto = smpplib_pdu(command)
    agree: list[str] = []
    disagree: list[str] = []
    for name in proto.params_order:
        if proto.field_is_optional(name):
            tag = smpplib_consts.OPTIONAL_PARAMS[name]
            (agree if tlv_agrees(proto.params[name], tag) else disagree).append(name)
    return agree, disagree


def interop_tlv_value(tag: int) -> st.SearchStrategy[int | str | bytes]:
    """Values both codecs write the same way: smpplib omits empty strings and octet strings
    and writes string TLVs as UTF-8, so strings here are non-empty ASCII."""
    fmt = TLV_FORMATS[tag]
    if fmt.startswith("int"):
        return st.integers(0, (1 << (8 * int(fmt[3]))) - 1)
    if fmt == "cstr":
        size = 64 if tag == TlvTag.receipted_message_id else 255
        return st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=size
        )
    if tag == TlvTag.network_error_code:
        return st.binary(min_size=3, max_size=3)
    return st.binary(min_size=1, max_size=40)


@st.composite
def interop_tlvs(draw: st.DrawFn, cls: type[PduBase]) -> dict[int, int | str | bytes]:
    names, _ = smpplib_tlvs(command_name(cls))
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=5)) if names else []
    chosen.sort(key=names.index)  # smpplib writes TLVs in its params_order
    tags = [smpplib_consts.OPTIONAL_PARAMS[name] for name in chosen]
    return {tag: draw(interop_tlv_value(tag)) for tag in tags}


def interop_field(cls: type[PduBase], name: str) -> st.SearchStrategy[Any]:
    if name == "tlvs":
        return interop_tlvs(cls)
    if (cls, name) in SMPPLIB_SHORTER_FIELDS:
        return cstr(21)
    if (cls, name) == (QuerySm, "message_id"):
        return cstr(65).filter(bool)  # smpplib refuses a query_sm without message_id
    if name == "sequence_number":
        return st.integers(0, 0x7FFFFFFF)
    return field_strategy(cls, name)


def _one_payload(pdu: Any) -> Any:
    """short_message and message_payload are exclusive (§5.3.2.32); smpplib refuses both."""
    if getattr(pdu, "short_message", b"") and TlvTag.message_payload in pdu.tlvs:
        del pdu.tlvs[TlvTag.message_payload]
    return pdu


def interop_pdus(cls: type[PduBase]) -> st.SearchStrategy[Any]:
    fields = {f.name: interop_field(cls, f.name) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields).map(_one_payload)


def to_smpplib(pdu: PduBase) -> Any:
    """The same PDU as an smpplib object (attributes set after construction, since smpplib's
    constructor overrides some keyword arguments, interface_version among them)."""
    theirs = smpplib_pdu(command_name(type(pdu)))
    for field in dataclasses.fields(pdu):
        if field.name == "tlvs":
            continue
        if field.name not in ("sequence_number", "command_status"):
            setattr(theirs, field.name, getattr(pdu, field.name))
    for tag, value in getattr(pdu, "tlvs", {}).items():
        setattr(theirs, TAG_NAMES[tag], value)
    theirs.sequence = pdu.sequence_number
    theirs.status = pdu.command_status
    return theirs


TAG_NAMES = {tag: name for name, tag in smpplib_consts.OPTIONAL_PARAMS.items()}


def plain(value: Any) -> Any:
    """smpplib parses every string to bytes; ours are latin-1 str."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def assert_smpplib_read(parsed: Any, pdu: PduBase) -> None:
    """smpplib's parsed object holds the same header, fields and TLVs as our PDU."""
    assert parsed.command == command_name(type(pdu))
    assert (parsed.sequence, parsed.status) == (pdu.sequence_number, pdu.command_status)
    tlvs: dict[int, Any] = getattr(pdu, "tlvs", {})
    for field in dataclasses.fields(pdu):
        if field.name not in ("sequence_number", "command_status", "tlvs"):
            ours = getattr(pdu, field.name)
            theirs = getattr(parsed, field.name)
            if theirs is None:  # smpplib stops at the end of the body: only empty fields left
                assert ours in ("", b""), field.name
            else:
                assert plain(theirs) == plain(ours), field.name
    for tag, value in tlvs.items():
        assert plain(getattr(parsed, TAG_NAMES[tag])) == plain(value), TAG_NAMES[tag]
    agree, _ = smpplib_tlvs(command_name(type(pdu))) if hasattr(pdu, "tlvs") else ([], [])
    absent = {smpplib_consts.OPTIONAL_PARAMS[name] for name in agree} - set(tlvs)
    assert all(getattr(parsed, TAG_NAMES[tag]) is None for tag in absent)


@pytest.mark.parametrize("cls", SUPPORTED, ids=command_name)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encode_pdu_matches_smpplib_generate(cls: type[PduBase], data: st.DataObject) -> None:
    pdu = data.draw(interop_pdus(cls))
    generated = to_smpplib(pdu).generate()
    assert encode_pdu(pdu) == generated
    assert decode_pdu(generated) == pdu


@pytest.mark.parametrize("cls", SUPPORTED, ids=command_name)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_smpplib_parses_our_bytes_to_the_same_fields(
    cls: type[PduBase], data: st.DataObject
) -> None:
    pdu = data.draw(interop_pdus(cls))
    tlvs = getattr(pdu, "tlvs", {})
    if tlvs:  # TLVs may come in any order (§3.2.4); smpplib must cope with ours
        order = data.draw(st.permutations(list(tlvs)))
        pdu = dataclasses.replace(pdu, tlvs={tag: tlvs[tag] for tag in order})
    parsed = smpplib_smpp.parse_pdu(encode_pdu(pdu), client=SequenceClient())
    assert_smpplib_read(parsed, pdu)


def test_smpplib_skips_our_vendor_tlvs_when_told_to() -> None:
    """Vendor TLVs (0x1400-0x3FFF) pass through smpplib's parser without disturbing the rest."""
    pdu = DeliverSm(
        sequence_number=8,
        source_addr="447700900123",
        esm_class=0x04,
        short_message=b"id:1 stat:DELIVRD",
        tlvs={0x1401: b"\x01\x02", TlvTag.receipted_message_id: "1", 0x3FFF: b""},
    )
    parsed = smpplib_smpp.parse_pdu(
        encode_pdu(pdu), client=SequenceClient(), allow_unknown_opt_params=True
    )
    assert parsed.receipted_message_id == b"1"
    assert parsed.short_message == b"id:1 stat:DELIVRD"


def test_error_response_round_trips_through_smpplib() -> None:
    pdu = SubmitSmResp(sequence_number=77, command_status=CommandStatus.ESME_RTHROTTLED)
    parsed = smpplib_smpp.parse_pdu(encode_pdu(pdu), client=SequenceClient())
    assert parsed.is_error()
    assert parsed.status == CommandStatus.ESME_RTHROTTLED
    assert encode_pdu(pdu) == to_smpplib(pdu).generate()


def test_smpplib_tlv_disagreements_are_the_known_ones() -> None:
    """Pins which TLVs the interop tests leave out, so an smpplib change is noticed."""
    found = {
        (command_name(cls), name)
        for cls in SUPPORTED
        for name in smpplib_tlvs(command_name(cls))[1]
    }
    assert found == SMPPLIB_TLV_DISAGREEMENTS


def test_the_common_tlvs_are_exercised() -> None:
    """The TLVs the gateway relies on are among those compared byte for byte."""
    assert {
        "sar_msg_ref_num",
        "sar_total_segments",
        "sar_segment_seqnum",
        "message_payload",
    } <= set(smpplib_tlvs(command_name(SubmitSm))[0])
    assert {"receipted_message_id", "message_state", "network_error_code"} <= set(
        smpplib_tlvs(command_name(DeliverSm))[0]
    )
    assert "sc_interface_version" in smpplib_tlvs(command_name(BindTransmitterResp))[0]
