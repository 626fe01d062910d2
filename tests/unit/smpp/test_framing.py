"""PduBuffer: whole frames out of a byte stream cut anywhere; command_length checked early."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.smpp.codec import decode_pdu, encode_pdu
from gateway.smpp.constants import CommandId, CommandStatus, TlvTag
from gateway.smpp.errors import InvalidCommandLengthError
from gateway.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH, PduBuffer
from gateway.smpp.pdu import DataSm, EnquireLink, Pdu, SubmitSm
from tests.unit.smpp.codec_strategies import any_pdu


def drain(buffer: PduBuffer) -> list[Pdu]:
    return [decode_pdu(frame) for frame in buffer]


@st.composite
def cut_streams(draw: st.DrawFn) -> tuple[list[Pdu], list[bytes]]:
    """Several PDUs encoded back to back, then cut at random points into pieces."""
    pdus = draw(st.lists(any_pdu(), min_size=1, max_size=8))
    stream = b"".join(encode_pdu(pdu) for pdu in pdus)
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=12).map(sorted))
    edges = [0, *cuts, len(stream)]
    return pdus, [stream[start:stop] for start, stop in itertools.pairwise(edges)]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_streams())
def test_pdus_cut_at_random_points_decode_the_same(case: tuple[list[Pdu], list[bytes]]) -> None:
    pdus, pieces = case
    buffer = PduBuffer()
    received: list[Pdu] = []
    for piece in pieces:
        buffer.feed(piece)
        received.extend(drain(buffer))
    assert received == pdus
    assert len(buffer) == 0


def test_many_pdus_in_one_read_come_out_in_order() -> None:
    pdus: list[Pdu] = []
    for n in range(1, 101):
        pdus.append(SubmitSm(sequence_number=n, destination_addr=str(n), short_message=b"x" * n))
        pdus.append(EnquireLink(sequence_number=1000 + n))
    buffer = PduBuffer()
    buffer.feed(b"".join(encode_pdu(pdu) for pdu in pdus))
    assert drain(buffer) == pdus
    assert buffer.next_frame() is None


def test_one_octet_at_a_time_yields_each_frame_once_complete() -> None:
    wire = encode_pdu(SubmitSm(sequence_number=1, short_message=b"hello"))
    buffer = PduBuffer()
    for octet in wire[:-1]:
        buffer.feed(bytes((octet,)))
        assert buffer.next_frame() is None
    buffer.feed(wire[-1:])
    assert buffer.next_frame() == wire
    assert buffer.next_frame() is None


def test_partial_frame_stays_buffered_until_the_rest_arrives() -> None:
    first, second = encode_pdu(EnquireLink(sequence_number=1)), encode_pdu(SubmitSm())
    buffer = PduBuffer()
    buffer.feed(first + second[:10])
    assert list(buffer) == [first]
    assert len(buffer) == 10
    buffer.feed(second[10:])
    assert list(buffer) == [second]


def test_large_streams_fed_in_odd_chunks_survive_buffer_compaction() -> None:
    """Over 64 KiB pass through, so consumed prefixes are dropped mid-stream."""
    pdus: list[Pdu] = [
        DataSm(sequence_number=n, tlvs={TlvTag.message_payload: bytes([n]) * 1500})
        for n in range(1, 101)
    ]
    stream = b"".join(encode_pdu(pdu) for pdu in pdus)
    buffer = PduBuffer()
    received: list[Pdu] = []
    for start in range(0, len(stream), 777):
        buffer.feed(stream[start : start + 777])
        received.extend(drain(buffer))
    assert received == pdus


def test_default_maximum_admits_a_64_kib_message_payload() -> None:
    pdu = DataSm(sequence_number=1, tlvs={TlvTag.message_payload: b"\x42" * 0xFFFF})
    wire = encode_pdu(pdu)
    assert len(wire) <= DEFAULT_MAX_COMMAND_LENGTH
    buffer = PduBuffer()
    buffer.feed(wire)
    assert drain(buffer) == [pdu]


@pytest.mark.parametrize("length", [0, 1, 15, 17, 0xFFFFFFFF])
def test_bad_command_length_is_rejected_from_its_four_octets(length: int) -> None:
    """A length below 16 or above the maximum fails before any body is waited for."""
    buffer = PduBuffer(max_command_length=16)
    buffer.feed(length.to_bytes(4))
    with pytest.raises(InvalidCommandLengthError) as caught:
        buffer.next_frame()
    assert caught.value.command_status == CommandStatus.ESME_RINVCMDLEN
    assert (caught.value.command_id, caught.value.sequence_number) == (0, 0)


def test_length_above_the_configured_maximum_is_rejected_without_buffering_the_body() -> None:
    buffer = PduBuffer(max_command_length=64)
    buffer.feed((65).to_bytes(4) + CommandId.submit_sm.to_bytes(4) + bytes(4) + (9).to_bytes(4))
    with pytest.raises(InvalidCommandLengthError) as caught:
        buffer.next_frame()
    assert caught.value.command_status == CommandStatus.ESME_RINVCMDLEN
    assert (caught.value.command_id, caught.value.sequence_number) == (CommandId.submit_sm, 9)


def test_lengths_of_16_and_of_the_maximum_are_accepted() -> None:
    smallest = encode_pdu(EnquireLink(sequence_number=3))
    largest = encode_pdu(SubmitSm(sequence_number=4, short_message=b"m" * 20))
    buffer = PduBuffer(max_command_length=len(largest))
    buffer.feed(smallest + largest)
    assert list(buffer) == [smallest, largest]


def test_framing_stays_lost_after_a_bad_length() -> None:
    """Frames before the bad length come out; then every call raises (nack and close)."""
    good = encode_pdu(EnquireLink(sequence_number=1))
    buffer = PduBuffer()
    buffer.feed(good + (8).to_bytes(4) + bytes(12))
    assert buffer.next_frame() == good
    for _ in range(2):
        with pytest.raises(InvalidCommandLengthError):
            buffer.next_frame()
    buffer.feed(good)
    with pytest.raises(InvalidCommandLengthError):
        buffer.next_frame()


def test_fewer_than_four_octets_wait_for_more() -> None:
    buffer = PduBuffer()
    buffer.feed(b"\x00\x00\x00")
    assert buffer.next_frame() is None
    assert len(buffer) == 3


@pytest.mark.parametrize("maximum", [0, 15])
def test_maximum_below_the_header_size_is_refused(maximum: int) -> None:
    with pytest.raises(ValueError, match="max_command_length"):
        PduBuffer(max_command_length=maximum)
