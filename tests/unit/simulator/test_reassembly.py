"""Concatenated messages (UDH IEI 0x00 / 0x08, SAR TLVs) are reassembled in order."""

from __future__ import annotations

from gateway.smpp.constants import DataCoding, TlvTag
from gateway.smpp.pdu import DataSm, SubmitSm
from simulator.reassembly import Reassembler, concat_info


def udh8(ref: int, total: int, seq: int) -> bytes:
    return bytes((5, 0x00, 3, ref, total, seq))


def udh16(ref: int, total: int, seq: int) -> bytes:
    return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))


def part(body: bytes, header: bytes = b"", **kw: object) -> SubmitSm:
    return SubmitSm(
        source_addr="ACME",
        destination_addr="447700900123",
        esm_class=0x40 if header else 0,
        short_message=header + body,
        **kw,  # type: ignore[arg-type]
    )


def test_udh_8bit_parts_out_of_order_are_joined_in_sequence() -> None:
    r = Reassembler()
    assert r.add("acme", "2", part(b"world", udh8(42, 2, 2))) is None
    assert r.pending == 1
    whole = r.add("acme", "1", part(b"hello ", udh8(42, 2, 1)))
    assert whole is not None
    assert whole.text == "hello world"
    assert whole.parts == 2
    assert whole.message_ids == ("1", "2")
    assert r.pending == 0


def test_udh_16bit_reference_and_ucs2() -> None:
    r = Reassembler()
    body = "Привет, мир".encode("utf-16-be")
    r.add("acme", "1", part(body[:10], udh16(0x1234, 2, 1), data_coding=DataCoding.ucs2))
    whole = r.add("acme", "2", part(body[10:], udh16(0x1234, 2, 2), data_coding=DataCoding.ucs2))
    assert whole is not None
    assert whole.text == "Привет, мир"


def test_sar_tlvs() -> None:
    r = Reassembler()

    def tlvs(seq: int) -> dict[TlvTag, int]:
        return {
            TlvTag.sar_msg_ref_num: 7,
            TlvTag.sar_total_segments: 2,
            TlvTag.sar_segment_seqnum: seq,
        }

    assert r.add("acme", "1", part(b"ab", tlvs=tlvs(1))) is None
    whole = r.add("acme", "2", part(b"cd", tlvs=tlvs(2)))
    assert whole is not None
    assert whole.text == "abcd"


def test_same_reference_from_different_accounts_is_kept_apart() -> None:
    r = Reassembler()
    r.add("acme", "1", part(b"a", udh8(1, 2, 1)))
    r.add("other", "2", part(b"x", udh8(1, 2, 2)))
    assert r.pending == 2


def test_single_messages_land_in_history_decoded_on_read() -> None:
    r = Reassembler(history=2)
    r.add("acme", "1", part(b"one"))
    r.add("acme", "2", part(b"two"))
    r.add(
        "acme",
        "3",
        DataSm(source_addr="A", destination_addr="B", tlvs={TlvTag.message_payload: b"three"}),
    )
    texts = [m.text for m in r.history()]
    assert texts == ["two", "three"]


def test_pending_partials_are_bounded() -> None:
    r = Reassembler(max_pending=2)
    for ref in range(3):
        r.add("acme", str(ref), part(b"x", udh8(ref, 2, 1)))
    assert r.pending == 2
    assert r.abandoned == 1


def test_concat_info_ignores_udh_without_concat_ie() -> None:
    port_ie = bytes((4, 0x05, 2, 0x0B, 0x84))  # application port addressing, no concat
    assert concat_info(0x40, port_ie + b"x", {}) is None
    assert concat_info(0x40, udh8(1, 3, 2) + b"x", {}) is not None
