"""GSM-7 / UCS-2 text helpers used by the simulator (decode, encode, UDH, segmentation)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.encoding.gsm7 import unpack_septets
from gateway.smpp.constants import DataCoding
from simulator.text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    decode_gsm7,
    decode_text,
    encode_gsm7,
    encode_text,
    pack_gsm7,
    segment_body,
    split_udh,
)

GSM_CHARS = st.sampled_from([c for c in GSM7_BASIC if c != "\x1b"] + list(GSM7_EXTENSION.values()))


def test_gsm7_round_trip_of_specials() -> None:
    text = "@£$_€[]{}^~|\\ Hello"
    encoded = encode_gsm7(text)
    assert encoded is not None
    assert encoded[:4] == b"\x00\x01\x02\x11"
    assert b"\x1be" in encoded  # € is ESC 0x65
    assert decode_gsm7(encoded) == text


def test_non_gsm_text_falls_back_to_ucs2() -> None:
    assert encode_gsm7("Привет") is None
    coding, body = encode_text("Привет 😀")
    assert coding == DataCoding.ucs2
    assert decode_text(coding, body) == "Привет 😀"


def test_decode_by_data_coding() -> None:
    assert decode_text(DataCoding.latin1, "é".encode("latin-1")) == "é"
    assert decode_text(DataCoding.ia5, b"abc") == "abc"
    assert decode_text(DataCoding.binary, b"\x01\x02") == "0102"


def test_split_udh_only_with_udhi() -> None:
    message = b"\x05\x00\x03\x2a\x02\x01hello"
    assert split_udh(0x40, message) == (b"\x05\x00\x03\x2a\x02\x01", b"hello")
    assert split_udh(0x00, message) == (b"", message)


@settings(max_examples=60, deadline=None)
@given(st.lists(GSM_CHARS, min_size=0, max_size=700).map("".join))
def test_gsm7_segments_rejoin_and_never_split_an_escape(text: str) -> None:
    coding, body = encode_text(text)
    assert coding == DataCoding.default
    parts = segment_body(coding, body, reference=7)
    if len(parts) == 1:
        assert parts[0] == body
        return
    bodies = [split_udh(0x40, p)[1] for p in parts]
    assert all(len(b) <= 153 for b in bodies)
    assert all(not b.endswith(b"\x1b") for b in bodies)
    assert "".join(decode_gsm7(b) for b in bodies) == text


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=300).filter(lambda t: encode_gsm7(t) is None))
def test_ucs2_segments_never_split_a_surrogate_pair(text: str) -> None:
    coding, body = encode_text(text)
    parts = segment_body(coding, body, reference=1)
    bodies = [split_udh(0x40, p)[1] if len(parts) > 1 else p for p in parts]
    assert all(len(b) <= 140 for b in bodies)
    for b in bodies:
        b.decode("utf-16-be")  # each part decodes on its own
    assert b"".join(bodies).decode("utf-16-be") == text


def _decode_octet_by_octet(octets: bytes) -> str:
    """The reference: the table lookups of TS 23.038 §6.2.1, one octet at a time."""
    chars, escaped = [], False
    for octet in octets:
        if escaped:
            chars.append(GSM7_EXTENSION.get(octet, "?"))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            chars.append(GSM7_BASIC[octet] if octet < 0x80 else "?")
    return "".join(chars)


@given(st.binary(max_size=200))
def test_gsm7_decode_agrees_with_the_table_for_any_octets(octets: bytes) -> None:
    # with and without escapes: the translate fast path and the escape-aware loop
    assert decode_gsm7(octets) == _decode_octet_by_octet(octets)
    assert decode_gsm7(octets.replace(b"\x1b", b"")) == _decode_octet_by_octet(
        octets.replace(b"\x1b", b"")
    )


def test_pack_gsm7_matches_the_spec_example() -> None:
    """TS 23.038 §6.1.2.1 packing, LSB first: "hellohello" is the textbook E8 32 9B FD 46 97
    D9 EC 37; seven septets leave 7 spare bits, filled with CR (§6.1.2.3.1)."""
    assert pack_gsm7(b"hellohello", 0).hex() == "e8329bfd4697d9ec37"
    assert pack_gsm7(encode_gsm7("STOPNOW") or b"", 0)[-1] >> 1 == 0x0D


@given(
    st.lists(GSM_CHARS, min_size=1, max_size=153)
    .map("".join)
    .filter(lambda text: not text.endswith("\r"))
)
def test_pack_gsm7_after_a_udh_unpacks_with_the_gateway_codec(text: str) -> None:
    """With a UDH the text starts on the septet after it (TS 23.040 §9.2.3.24 fill bits); the
    gateway's own unpacker, written separately, must read back the same septets. A text that
    ends in CR is left out: where 7 spare bits are filled with CR (TS 23.038 §6.1.2.3.1) a
    final CR and the filler cannot be told apart, and the reader drops both."""
    septets = encode_gsm7(text) or b""
    udh = bytes((5, 0, 3, 7, 2, 1))
    packed = pack_gsm7(udh + septets, 0x40)
    assert packed[:6] == udh
    assert unpack_septets(packed, udh_length=6) == septets
