"""The SMPP 3.4 codec: bytes <-> PDU tables, round trips, unknown TLVs, malformed frames.

Byte tables are written by hand from SMPP 3.4 §3.2 (header), §4 (PDU bodies) and §5.3 (TLVs),
not produced by the codec; hypothesis checks `decode_pdu(encode_pdu(p)) == p` for every PDU
type and that the fast paths agree with the table-driven reference path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.smpp import codec
from gateway.smpp.codec import decode_header, decode_pdu, encode_pdu
from gateway.smpp.constants import TLV_FORMATS, CommandId, CommandStatus, TlvTag
from gateway.smpp.errors import (
    InvalidCommandIdError,
    InvalidCommandLengthError,
    InvalidDestinationFlagError,
    InvalidMessageLengthError,
    InvalidNumberOfDestinationsError,
    InvalidOptionalParameterStreamError,
    InvalidParameterLengthError,
    LocalProtocolError,
    RemoteProtocolError,
)
from gateway.smpp.pdu import (
    PDU_CLASSES,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduBase,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from tests.unit.smpp.codec_strategies import UNKNOWN_TAGS, any_pdu, pdus_of

SEQ = 0x01020304  # sequence_number of every hand-built malformed frame


def header(length: int, command_id: int, status: int = 0, seq: int = SEQ) -> bytes:
    return struct.pack(">IIII", length, command_id, status, seq)


def frame(command_id: int, body: bytes = b"", *, status: int = 0, seq: int = SEQ) -> bytes:
    """A frame whose command_length is right, so only the body can be malformed."""
    return header(16 + len(body), command_id, status, seq) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


# --- exact encodings from the spec ----------------------------------------------------------

SPEC_TABLE = [
    pytest.param(
        BindTransmitter(
            sequence_number=1,
            system_id="SMPP3TEST",
            password="secret08",
            system_type="SUBMIT1",
            interface_version=0x34,
            addr_ton=1,
            addr_npi=1,
            address_range="",
        ),
        b"\x00\x00\x00\x2f"  # command_length 47
        b"\x00\x00\x00\x02"  # command_id bind_transmitter (§5.1.2.1)
        b"\x00\x00\x00\x00"  # command_status
        b"\x00\x00\x00\x01"  # sequence_number
        b"SMPP3TEST\x00"  # system_id (C 16)
        b"secret08\x00"  # password (C 9)
        b"SUBMIT1\x00"  # system_type (C 13)
        b"\x34"  # interface_version 3.4
        b"\x01\x01"  # addr_ton international, addr_npi ISDN
        b"\x00",  # address_range empty (C 41)
        id="bind_transmitter",
    ),
    pytest.param(
        BindTransmitterResp(
            sequence_number=1, system_id="SMSC", tlvs={TlvTag.sc_interface_version: 0x34}
        ),
        b"\x00\x00\x00\x1a\x80\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01"
        b"SMSC\x00"  # system_id
        b"\x02\x10\x00\x01\x34",  # sc_interface_version TLV (§5.3.2.25)
        id="bind_transmitter_resp_with_sc_interface_version",
    ),
    pytest.param(
        SubmitSm(
            sequence_number=2,
            source_addr_ton=5,
            source_addr_npi=0,
            source_addr="ACME",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900123",
            registered_delivery=1,
            short_message=b"Hello",
            tlvs={
                TlvTag.sar_msg_ref_num: 0x1234,
                TlvTag.sar_total_segments: 2,
                TlvTag.sar_segment_seqnum: 1,
            },
        ),
        b"\x00\x00\x00\x46\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x02"
        b"\x00"  # service_type default
        b"\x05\x00ACME\x00"  # source_addr_ton alphanumeric, npi unknown, source_addr
        b"\x01\x01447700900123\x00"  # dest_addr_ton, dest_addr_npi, destination_addr
        b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        b"\x00\x00"  # schedule_delivery_time, validity_period: immediate, SMSC default
        b"\x01\x00\x00\x00"  # registered_delivery, replace_if_present, data_coding, default id
        b"\x05Hello"  # sm_length, short_message
        b"\x02\x0c\x00\x02\x12\x34"  # sar_msg_ref_num (§5.3.2.22)
        b"\x02\x0e\x00\x01\x02"  # sar_total_segments (§5.3.2.23)
        b"\x02\x0f\x00\x01\x01",  # sar_segment_seqnum (§5.3.2.24)
        id="submit_sm_with_sar_tlvs",
    ),
    pytest.param(
        SubmitSmResp(sequence_number=2, message_id="abc123"),
        b"\x00\x00\x00\x17\x80\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x02abc123\x00",
        id="submit_sm_resp",
    ),
    pytest.param(
        SubmitSmResp(sequence_number=3, command_status=CommandStatus.ESME_RTHROTTLED),
        b"\x00\x00\x00\x11\x80\x00\x00\x04\x00\x00\x00\x58\x00\x00\x00\x03\x00",
        id="submit_sm_resp_throttled",
    ),
    pytest.param(
        DeliverSm(
            sequence_number=9,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addr_ton=5,
            dest_addr_npi=0,
            destination_addr="ACME",
            esm_class=0x04,
            short_message=b"id:abc123 stat:DELIVRD",
            tlvs={TlvTag.receipted_message_id: "abc123", TlvTag.message_state: 2},
        ),
        b"\x00\x00\x00\x57\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x09"
        b"\x00\x01\x01447700900123\x00\x05\x00ACME\x00"
        b"\x04\x00\x00"  # esm_class SMSC delivery receipt
        b"\x00\x00\x00\x00\x00\x00"
        b"\x16id:abc123 stat:DELIVRD"
        b"\x00\x1e\x00\x07abc123\x00"  # receipted_message_id (§5.3.2.12)
        b"\x04\x27\x00\x01\x02",  # message_state DELIVERED (§5.3.2.35)
        id="deliver_sm_receipt",
    ),
    pytest.param(
        DeliverSmResp(sequence_number=9),
        b"\x00\x00\x00\x11\x80\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x09\x00",
        id="deliver_sm_resp",
    ),
    pytest.param(
        EnquireLink(sequence_number=0x2A),
        b"\x00\x00\x00\x10\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x2a",
        id="enquire_link",
    ),
    pytest.param(
        EnquireLinkResp(sequence_number=0x2A),
        b"\x00\x00\x00\x10\x80\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x2a",
        id="enquire_link_resp",
    ),
    pytest.param(
        GenericNack(sequence_number=7, command_status=CommandStatus.ESME_RINVCMDID),
        b"\x00\x00\x00\x10\x80\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x07",
        id="generic_nack",
    ),
    pytest.param(
        Unbind(sequence_number=0x7FFFFFFF),
        b"\x00\x00\x00\x10\x00\x00\x00\x06\x00\x00\x00\x00\x7f\xff\xff\xff",
        id="unbind_max_sequence_number",
    ),
]


@pytest.mark.parametrize(("pdu", "wire"), SPEC_TABLE)
def test_encode_pdu_writes_the_spec_bytes(pdu: Pdu, wire: bytes) -> None:
    assert encode_pdu(pdu) == wire


@pytest.mark.parametrize(("pdu", "wire"), SPEC_TABLE)
def test_decode_pdu_reads_the_spec_bytes(pdu: Pdu, wire: bytes) -> None:
    decoded = decode_pdu(wire)
    assert type(decoded) is type(pdu)
    assert decoded == pdu


def test_decode_header_reads_the_four_header_fields() -> None:
    wire = header(0x2F, CommandId.bind_transmitter, 0x58, 0x7FFFFFFF) + b"rest"
    assert decode_header(wire) == (0x2F, 0x02, 0x58, 0x7FFFFFFF)


def test_decode_header_refuses_fewer_than_16_octets() -> None:
    with pytest.raises(InvalidCommandLengthError):
        decode_header(b"\x00\x00\x00\x10\x00\x00\x00\x15")


def test_decode_pdu_accepts_bytearray_and_memoryview() -> None:
    wire = encode_pdu(EnquireLink(sequence_number=5))
    assert decode_pdu(bytearray(wire)) == EnquireLink(sequence_number=5)
    assert decode_pdu(memoryview(wire)) == EnquireLink(sequence_number=5)


# --- round trips ---------------------------------------------------------------------------


def test_pdu_classes_cover_every_command_id() -> None:
    assert {cls.command_id for cls in PDU_CLASSES} == set(CommandId)


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda cls: cls.command_id.name)
@settings(deadline=None)
@given(data=st.data())
def test_decode_inverts_encode_for_every_pdu_type(cls: type[PduBase], data: st.DataObject) -> None:
    pdu = data.draw(pdus_of(cls))
    wire = encode_pdu(pdu)
    assert decode_header(wire)[:2] == (len(wire), cls.command_id)
    decoded = decode_pdu(wire)
    assert type(decoded) is cls
    assert decoded == pdu
    assert list(getattr(decoded, "tlvs", {})) == list(getattr(pdu, "tlvs", {}))  # order kept
    assert encode_pdu(decoded) == wire


FAST_PATH_CLASSES = [SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp, EnquireLink, Unbind]


@pytest.mark.parametrize("cls", FAST_PATH_CLASSES, ids=lambda cls: cls.command_id.name)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_fast_path_encoding_matches_the_reference_encoder(
    cls: type[PduBase], data: st.DataObject
) -> None:
    pdu = data.draw(pdus_of(cls))
    assert encode_pdu(pdu) == codec._encode_generic(pdu)


def _outcome(decode: Callable[[], object]) -> object:
    try:
        return decode()
    except RemoteProtocolError as exc:
        return (type(exc), exc.command_status)


def _decode_error(wire: bytes) -> RemoteProtocolError | None:
    try:
        decode_pdu(wire)
    except RemoteProtocolError as exc:
        return exc
    return None


@st.composite
def damaged_frames(draw: st.DrawFn, classes: st.SearchStrategy[type[Any]]) -> bytes:
    """A valid frame with a few body octets overwritten and its tail cut; length fixed up."""
    wire = bytearray(encode_pdu(draw(classes.flatmap(pdus_of))))
    for _ in range(draw(st.integers(0, 4))):
        if len(wire) > 16:
            position = draw(st.integers(16, len(wire) - 1))
            wire[position] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x41, 0xFF]))
    wire = wire[: draw(st.integers(16, len(wire)))]
    struct.pack_into(">I", wire, 0, len(wire))
    return bytes(wire)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_frames(st.sampled_from(FAST_PATH_CLASSES)))
def test_fast_path_decoding_matches_the_reference_decoder(wire: bytes) -> None:
    """Both decoders return the same PDU, or raise the same error, on damaged frames too."""
    _, command_id, status, seq = decode_header(wire)
    cls = next(c for c in PDU_CLASSES if c.command_id == command_id)
    assert _outcome(lambda: decode_pdu(wire)) == _outcome(
        lambda: codec._decode_generic(cls, wire, status, seq)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_frames(st.sampled_from(PDU_CLASSES)))
def test_damaged_frames_decode_or_raise_only_remote_protocol_errors(wire: bytes) -> None:
    _, command_id, _, seq = decode_header(wire)
    error = _decode_error(wire)  # anything else (IndexError, UnicodeError...) propagates
    if error is not None:
        assert error.command_status in set(CommandStatus)
        assert (error.command_id, error.sequence_number) == (command_id, seq)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_octets_decode_or_raise_only_remote_protocol_errors(data: bytes) -> None:
    wire = struct.pack(">I", len(data) + 4) + data
    error = _decode_error(wire)
    assert error is None or error.command_status in set(CommandStatus)


# --- unknown TLVs ---------------------------------------------------------------------------

VENDOR_VALUE = b"\x00\xffvendor\x00\x01"


def test_unknown_tlvs_keep_their_raw_value_and_re_encode_byte_for_byte() -> None:
    body = encode_pdu(SubmitSm(destination_addr="447700900123", short_message=b"hi"))[16:]
    tlvs = (
        tlv(0x1401, VENDOR_VALUE)  # vendor range 0x1400-0x3FFF
        + tlv(TlvTag.sar_msg_ref_num, b"\x12\x34")
        + tlv(0x4000, b"")  # reserved, empty value
        + tlv(0x0000, b"\x01\x02\x03")
    )
    wire = frame(CommandId.submit_sm, body + tlvs)
    decoded = decode_pdu(wire)
    assert isinstance(decoded, SubmitSm)
    assert decoded.tlvs == {
        0x1401: VENDOR_VALUE,
        0x020C: 0x1234,
        0x4000: b"",
        0x0000: b"\x01\x02\x03",
    }
    assert list(decoded.tlvs) == [0x1401, 0x020C, 0x4000, 0x0000]
    assert encode_pdu(decoded) == wire


@pytest.mark.parametrize(
    "pdu",
    [
        DeliverSm(source_addr="1"),
        DataSm(destination_addr="1"),
        BindTransmitterResp(system_id="SMSC"),
        SubmitMulti(dest_addresses=[SmeAddress(destination_addr="1")]),
    ],
    ids=lambda pdu: pdu.command_id.name,
)
@settings(max_examples=50, deadline=None)
@given(
    raw=st.dictionaries(UNKNOWN_TAGS, st.binary(max_size=30), min_size=1, max_size=4),
)
def test_unknown_tlvs_from_the_wire_survive_decode_and_encode(
    pdu: Pdu, raw: dict[int, bytes]
) -> None:
    base = encode_pdu(pdu)
    wire = base + b"".join(tlv(tag, value) for tag, value in raw.items())
    wire = struct.pack(">I", len(wire)) + wire[4:]
    decoded = decode_pdu(wire)
    assert getattr(decoded, "tlvs") == raw  # noqa: B009 - Pdu has no common tlvs attribute
    assert encode_pdu(decoded) == wire


def test_repeated_tlv_tag_keeps_the_last_value() -> None:
    body = encode_pdu(DeliverSm())[16:]
    body += tlv(TlvTag.message_state, b"\x01") + tlv(TlvTag.message_state, b"\x02")
    decoded = decode_pdu(frame(CommandId.deliver_sm, body))
    assert isinstance(decoded, DeliverSm)
    assert decoded.tlvs == {TlvTag.message_state: 2}


def test_c_string_tlv_without_its_nul_is_accepted() -> None:
    body = encode_pdu(DeliverSm())[16:] + tlv(TlvTag.receipted_message_id, b"abc123")
    decoded = decode_pdu(frame(CommandId.deliver_sm, body))
    assert isinstance(decoded, DeliverSm)
    assert decoded.tlvs == {TlvTag.receipted_message_id: "abc123"}


def test_trailing_tlvs_on_a_pdu_without_tlvs_are_read_and_dropped() -> None:
    wire = frame(CommandId.enquire_link, tlv(0x1401, b"x"), seq=3)
    assert decode_pdu(wire) == EnquireLink(sequence_number=3)


def test_error_response_with_an_empty_body_decodes_with_empty_fields() -> None:
    """SMPP 5.0 clarified that error responses may carry no body; 3.4 peers send both."""
    wire = header(16, CommandId.submit_sm_resp, CommandStatus.ESME_RSYSERR, 4)
    assert decode_pdu(wire) == SubmitSmResp(
        sequence_number=4, command_status=CommandStatus.ESME_RSYSERR
    )
    wire = header(17, CommandId.bind_transmitter_resp, CommandStatus.ESME_RINVPASWD, 1) + b"\0"
    assert decode_pdu(wire) == BindTransmitterResp(
        sequence_number=1, command_status=CommandStatus.ESME_RINVPASWD
    )


def test_unknown_command_status_is_kept_as_a_raw_int() -> None:
    wire = header(17, CommandId.submit_sm_resp, 0x0000_0412, 4) + b"\0"
    decoded = decode_pdu(wire)
    assert decoded.command_status == 0x412
    assert encode_pdu(decoded) == wire


# --- malformed frames ----------------------------------------------------------------------

BIND_TAIL = b"\x34\x00\x00\x00"  # interface_version, addr_ton, addr_npi, address_range ""
SUBMIT_BODY = encode_pdu(
    SubmitSm(source_addr="ACME", destination_addr="4477", short_message=b"hi")
)[16:]
SM_HEAD = (  # submit_sm / deliver_sm up to, not including, sm_length
    b"\x00\x05\x00ACME\x00\x01\x01447700900123\x00"  # service_type, source, destination
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # esm_class .. sm_default_msg_id
)
MULTI_HEAD = b"\x00\x05\x00ACME\x00"  # service_type, source_addr_ton/npi, source_addr
MULTI_TAIL = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # esm_class .. sm_length 0

MALFORMED = [
    # command_length (§3.2): the frame must be exactly command_length octets, at least 16.
    pytest.param(
        b"\x00\x00\x00\x0c\x00\x00\x00\x15\x00\x00\x00\x00",
        InvalidCommandLengthError,
        0,
        id="header_cut_short",
    ),
    pytest.param(
        header(20, CommandId.enquire_link), InvalidCommandLengthError, 0x15, id="length_above_frame"
    ),
    pytest.param(
        header(16, CommandId.enquire_link) + b"\0\0\0\0",
        InvalidCommandLengthError,
        0x15,
        id="length_below_frame",
    ),
    pytest.param(
        header(8, CommandId.enquire_link), InvalidCommandLengthError, 0x15, id="length_below_16"
    ),
    pytest.param(
        header(0xFFFFFFFF, CommandId.enquire_link),
        InvalidCommandLengthError,
        0x15,
        id="length_far_too_big",
    ),
    # command_id (§5.1.2.1): anything not in the table is ESME_RINVCMDID.
    pytest.param(frame(0x00000099), InvalidCommandIdError, 0x99, id="unknown_command_id"),
    pytest.param(frame(0x0000000A), InvalidCommandIdError, 0x0A, id="reserved_command_id"),
    pytest.param(frame(0x8000000B), InvalidCommandIdError, 0x8000000B, id="outbind_resp"),
    pytest.param(
        frame(0x80000102), InvalidCommandIdError, 0x80000102, id="alert_notification_resp"
    ),
    pytest.param(frame(0x00010004), InvalidCommandIdError, 0x00010004, id="high_bits_set"),
    # C-octet strings (§3.1): the NUL must come within the field's maximum.
    pytest.param(
        frame(CommandId.bind_transmitter, b"SMPP3TEST"),
        InvalidParameterLengthError,
        0x02,
        id="system_id_truncated_before_nul",
    ),
    pytest.param(
        frame(CommandId.bind_transmitter, b"A" * 16 + b"\0pw\0\0" + BIND_TAIL),
        InvalidParameterLengthError,
        0x02,
        id="system_id_over_16",
    ),
    pytest.param(
        frame(CommandId.bind_transmitter, b"id\0" + b"p" * 9 + b"\0\0" + BIND_TAIL),
        InvalidParameterLengthError,
        0x02,
        id="password_over_9",
    ),
    pytest.param(
        frame(CommandId.submit_sm, b"\x00\x01\x01" + b"1" * 21 + b"\0" + SUBMIT_BODY[8:]),
        InvalidParameterLengthError,
        0x04,
        id="source_addr_over_21",
    ),
    pytest.param(
        frame(CommandId.submit_sm, b"CMTCMT\0" + SUBMIT_BODY[1:]),
        InvalidParameterLengthError,
        0x04,
        id="service_type_over_6",
    ),
    pytest.param(
        frame(CommandId.submit_sm, b"\x00\x05\x00ACME\x00\x01\x014477"),
        InvalidParameterLengthError,
        0x04,
        id="destination_addr_truncated_before_nul",
    ),
    pytest.param(
        frame(CommandId.submit_sm, b"\x00\x05\x00ACME\x00\x01\x014477\x00\x00\x00\x00" + b"9" * 17),
        InvalidParameterLengthError,
        0x04,
        id="schedule_delivery_time_over_17",
    ),
    pytest.param(
        frame(CommandId.submit_sm_resp, b"M" * 65 + b"\0"),
        InvalidParameterLengthError,
        0x80000004,
        id="message_id_over_65",
    ),
    pytest.param(
        frame(CommandId.deliver_sm_resp, b"abc"),
        InvalidParameterLengthError,
        0x80000005,
        id="message_id_truncated_before_nul",
    ),
    pytest.param(
        frame(CommandId.data_sm, b"\x00\x01\x01" + b"1" * 65 + b"\0\x01\x01\x31\0\0\0\0"),
        InvalidParameterLengthError,
        0x103,
        id="data_sm_source_addr_over_65",
    ),
    # A body that ends before a mandatory field is a command_length error.
    pytest.param(
        frame(CommandId.bind_transmitter, b"id\0pw\0type\0"),
        InvalidCommandLengthError,
        0x02,
        id="bind_ends_before_interface_version",
    ),
    pytest.param(
        frame(CommandId.submit_sm, SM_HEAD),
        InvalidCommandLengthError,
        0x04,
        id="submit_sm_ends_before_sm_length",
    ),
    pytest.param(
        frame(CommandId.query_sm_resp, b"abc\0\0"),
        InvalidCommandLengthError,
        0x80000003,
        id="query_sm_resp_ends_before_message_state",
    ),
    # sm_length (§5.2.21) past the end of the PDU.
    pytest.param(
        frame(CommandId.submit_sm, SM_HEAD + b"\x0aHello"),
        InvalidMessageLengthError,
        0x04,
        id="submit_sm_sm_length_past_end",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SM_HEAD + b"\xfe"),
        InvalidMessageLengthError,
        0x05,
        id="deliver_sm_sm_length_past_end",
    ),
    pytest.param(
        frame(CommandId.submit_sm, SM_HEAD + b"\xff" + b"x" * 255),
        InvalidMessageLengthError,
        0x04,
        id="submit_sm_sm_length_255_over_254",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SM_HEAD + b"\xff" + b"x" * 255 + tlv(0x1401, b"")),
        InvalidMessageLengthError,
        0x05,
        id="deliver_sm_sm_length_255_over_254",
    ),
    pytest.param(
        frame(CommandId.replace_sm, b"id\0\x00\x00\0\0\0\x00\x00\xff" + b"x" * 255),
        InvalidMessageLengthError,
        0x07,
        id="replace_sm_sm_length_255_over_254",
    ),
    pytest.param(
        frame(CommandId.replace_sm, b"id\0\x00\x00\0\0\0\x00\x00\x05abc"),
        InvalidMessageLengthError,
        0x07,
        id="replace_sm_sm_length_past_end",
    ),
    # TLVs (§3.2.4, §5.3): a cut stream is ESME_RINVOPTPARSTREAM, a bad length ESME_RINVPARLEN.
    pytest.param(
        frame(CommandId.submit_sm, SUBMIT_BODY + b"\x02\x0c"),
        InvalidOptionalParameterStreamError,
        0x04,
        id="tlv_header_cut",
    ),
    pytest.param(
        frame(CommandId.submit_sm, SUBMIT_BODY + b"\x02\x0c\x00\x02\x12"),
        InvalidOptionalParameterStreamError,
        0x04,
        id="tlv_value_cut",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SUBMIT_BODY + tlv(0x1401, b"abc") + b"\x14\x02\x00\x09ab"),
        InvalidOptionalParameterStreamError,
        0x05,
        id="unknown_tlv_value_cut",
    ),
    pytest.param(
        frame(CommandId.enquire_link, b"\x00\x00"),
        InvalidOptionalParameterStreamError,
        0x15,
        id="stray_octets_after_a_bodyless_pdu",
    ),
    pytest.param(
        frame(CommandId.submit_sm, SUBMIT_BODY + tlv(TlvTag.sar_msg_ref_num, b"\x01")),
        InvalidParameterLengthError,
        0x04,
        id="int2_tlv_with_one_octet",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SUBMIT_BODY + tlv(TlvTag.message_state, b"\x00\x02")),
        InvalidParameterLengthError,
        0x05,
        id="int1_tlv_with_two_octets",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SUBMIT_BODY + tlv(TlvTag.network_error_code, b"\x03\x00")),
        InvalidParameterLengthError,
        0x05,
        id="network_error_code_not_three_octets",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SUBMIT_BODY + tlv(TlvTag.receipted_message_id, b"9" * 70)),
        InvalidParameterLengthError,
        0x05,
        id="receipted_message_id_over_65",
    ),
    pytest.param(
        frame(CommandId.deliver_sm, SUBMIT_BODY + tlv(TlvTag.receipted_message_id, b"ab\0cd\0")),
        InvalidParameterLengthError,
        0x05,
        id="c_string_tlv_with_inner_nul",
    ),
    # submit_multi destinations (§4.5.1).
    pytest.param(
        frame(CommandId.submit_multi, MULTI_HEAD + b"\x00" + MULTI_TAIL),
        InvalidNumberOfDestinationsError,
        0x21,
        id="submit_multi_without_destinations",
    ),
    pytest.param(
        frame(CommandId.submit_multi, MULTI_HEAD + b"\x01\x03list\0" + MULTI_TAIL),
        InvalidDestinationFlagError,
        0x21,
        id="submit_multi_bad_dest_flag",
    ),
    pytest.param(
        frame(CommandId.submit_multi, MULTI_HEAD + b"\x02\x01\x01\x01123\0"),
        InvalidCommandLengthError,
        0x21,
        id="submit_multi_fewer_destinations_than_announced",
    ),
]

EXPECTED_STATUS = {
    InvalidCommandLengthError: CommandStatus.ESME_RINVCMDLEN,
    InvalidCommandIdError: CommandStatus.ESME_RINVCMDID,
    InvalidParameterLengthError: CommandStatus.ESME_RINVPARLEN,
    InvalidMessageLengthError: CommandStatus.ESME_RINVMSGLEN,
    InvalidOptionalParameterStreamError: CommandStatus.ESME_RINVOPTPARSTREAM,
    InvalidNumberOfDestinationsError: CommandStatus.ESME_RINVNUMDESTS,
    InvalidDestinationFlagError: CommandStatus.ESME_RINVDESTFLAG,
}


@pytest.mark.parametrize(("wire", "error", "command_id"), MALFORMED)
def test_malformed_frame_raises_one_typed_error_with_the_status_to_answer(
    wire: bytes, error: type[RemoteProtocolError], command_id: int
) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        decode_pdu(wire)
    assert type(caught.value) is error
    assert caught.value.command_status == EXPECTED_STATUS[error]
    assert caught.value.command_id == command_id
    assert caught.value.sequence_number == (SEQ if len(wire) >= 16 else 0)


def test_malformed_corpus_pieces_are_valid_when_whole() -> None:
    """The corpus's building blocks decode, so each case breaks exactly one rule."""
    assert isinstance(decode_pdu(frame(CommandId.submit_sm, SUBMIT_BODY)), SubmitSm)
    assert isinstance(decode_pdu(frame(CommandId.submit_sm, SM_HEAD + b"\x05Hello")), SubmitSm)
    multi = decode_pdu(frame(CommandId.submit_multi, MULTI_HEAD + b"\x01\x02list\0" + MULTI_TAIL))
    assert isinstance(multi, SubmitMulti)
    assert multi.dest_addresses == [DistributionList(dl_name="list")]
    bind = decode_pdu(frame(CommandId.bind_transmitter, b"id\0pw\0\0" + BIND_TAIL))
    assert bind == BindTransmitter(sequence_number=SEQ, system_id="id", password="pw")


@pytest.mark.parametrize("command_id", [CommandId.submit_sm, CommandId.deliver_sm])
def test_short_message_of_254_octets_is_the_largest_accepted(command_id: CommandId) -> None:
    """SMPP 3.4 §5.2.21: sm_length 0..254; one octet more is ESME_RINVMSGLEN (see corpus)."""
    wire = frame(command_id, SM_HEAD + b"\xfe" + b"x" * 254)
    decoded = decode_pdu(wire)
    assert isinstance(decoded, SubmitSm | DeliverSm)
    assert decoded.short_message == b"x" * 254
    assert encode_pdu(decoded) == wire


# --- what encoding refuses -------------------------------------------------------------------

UNENCODABLE = [
    pytest.param(SubmitSm(source_addr="1" * 21), id="source_addr_over_21"),
    pytest.param(SubmitSm(service_type="CMTCMT"), id="service_type_over_6"),
    pytest.param(SubmitSm(destination_addr="44\0"), id="nul_inside_c_string"),
    pytest.param(SubmitSm(destination_addr="\u20ac"), id="not_latin_1"),
    pytest.param(SubmitSm(short_message=b"x" * 255), id="short_message_over_254"),
    pytest.param(
        SubmitSm(short_message=b"x", tlvs={TlvTag.message_payload: b"y"}),
        id="short_message_and_message_payload",
    ),
    pytest.param(SubmitSm(validity_period="000001"), id="time_field_not_16_characters"),
    pytest.param(SubmitSm(esm_class=256), id="int8_over_255"),
    pytest.param(SubmitSm(tlvs={TlvTag.sar_msg_ref_num: 0x10000}), id="int2_tlv_over_65535"),
    pytest.param(SubmitSm(tlvs={TlvTag.sar_msg_ref_num: b"\x00\x01"}), id="int_tlv_given_bytes"),
    pytest.param(SubmitSm(tlvs={0x1401: 7}), id="unknown_tlv_given_int"),
    pytest.param(SubmitSm(tlvs={0x10000: b""}), id="tlv_tag_over_16_bits"),
    pytest.param(DeliverSm(tlvs={TlvTag.network_error_code: b"\x03"}), id="network_error_code"),
    pytest.param(DeliverSm(tlvs={TlvTag.receipted_message_id: "9" * 65}), id="receipted_id_65"),
    pytest.param(SubmitSmResp(message_id="M" * 65), id="message_id_over_65"),
    pytest.param(BindTransmitter(system_id="S" * 16), id="system_id_over_16"),
    pytest.param(EnquireLink(sequence_number=1 << 32), id="sequence_number_over_32_bits"),
    pytest.param(SubmitMulti(dest_addresses=[]), id="submit_multi_without_destinations"),
]


@pytest.mark.parametrize("pdu", UNENCODABLE)
def test_encode_pdu_refuses_values_that_do_not_fit_smpp(pdu: Pdu) -> None:
    with pytest.raises(LocalProtocolError):
        encode_pdu(pdu)


def test_encode_pdu_refuses_objects_that_are_not_pdus() -> None:
    with pytest.raises(LocalProtocolError):
        encode_pdu(SmeAddress())  # type: ignore[arg-type]


def test_every_standard_tlv_tag_has_a_format() -> None:
    assert set(TLV_FORMATS) == set(TlvTag)


@settings(max_examples=100, deadline=None)
@given(any_pdu())
def test_command_length_is_the_encoded_size(pdu: Pdu) -> None:
    wire = encode_pdu(pdu)
    assert int.from_bytes(wire[:4]) == len(wire)
    assert int.from_bytes(wire[4:8]) == pdu.command_id
