"""GSM-7 codec: text <-> unpacked septets, escape rules, and 8-in-7 packing (TS 23.038 §6)."""

from __future__ import annotations

import pytest

from compliance.encoding.gsm7 import gsm7_codec, pack_septets, udh_septets, unpack_septets

DEFAULT = gsm7_codec()


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", b""),
        ("Hello", b"Hello"),
        ("@", b"\x00"),
        ("$", b"\x02"),
        ("_", b"\x11"),
        ("£¥èé", b"\x01\x03\x04\x05"),
        ("ΔΦΓΛΩΠΨΣΘΞ", bytes(range(0x10, 0x1B)).replace(b"\x11", b"")),
        ("¡¿§", b"\x40\x60\x5f"),
        ("äöñüà", b"\x7b\x7c\x7d\x7e\x7f"),
        ("\n\r", b"\x0a\x0d"),
        ("{}", b"\x1b\x28\x1b\x29"),
        ("[~]|\\^€\x0c", b"\x1b\x3c\x1b\x3d\x1b\x3e\x1b\x40\x1b\x2f\x1b\x14\x1b\x65\x1b\x0a"),
    ],
)
def test_default_tables_encode_to_their_codes(text: str, septets: bytes) -> None:
    assert DEFAULT.encode(text) == septets
    assert DEFAULT.decode(septets) == text


@pytest.mark.parametrize("text", ["`", "ç", "á", "“", "😀", "\x00", "a\tb", "Ω\u00a0"])
def test_characters_outside_the_tables_are_not_encodable(text: str) -> None:
    assert DEFAULT.encode(text) is None


def test_escape_then_unknown_code_shows_the_main_table_character() -> None:
    """TS 23.038 §6.2.1.1: no extension entry -> the default alphabet character at that code."""
    assert DEFAULT.decode(b"\x1b\x41") == "A"


def test_escape_escape_is_shown_as_a_space() -> None:
    assert DEFAULT.decode(b"a\x1b\x1bb") == "a b"


def test_trailing_lone_escape_is_dropped() -> None:
    assert DEFAULT.decode(b"ab\x1b") == "ab"


def test_undefined_or_eight_bit_septets_decode_to_replacement_character() -> None:
    assert DEFAULT.decode(b"a\x80") == "a\ufffd"
    assert gsm7_codec(11, 0).decode(b"\x00") == "\ufffd"  # Tamil 0x00 is empty


def test_locking_character_wins_over_the_same_character_in_the_shift_table() -> None:
    """Bengali single shift repeats '@' etc.; with the default alphabet they cost one septet."""
    assert gsm7_codec(0, 4).encode("@*") == b"\x00*"
    assert gsm7_codec(4, 4).encode("@") == b"\x1b\x00"


def test_national_pair_encodes_through_both_tables() -> None:
    codec = gsm7_codec(1, 1)  # Turkish locking + Turkish single shift
    assert codec.encode("ışİ€") == b"\x07\x1d\x40\x04"
    assert codec.encode("{") == b"\x1b\x28"
    assert codec.decode(b"\x07\x1d\x40\x04\x1b\x28") == "ışİ€{"


def test_codecs_are_built_once_per_table_pair() -> None:
    assert gsm7_codec(6, 6) is gsm7_codec(6, 6)


@pytest.mark.parametrize(
    ("udh_octets", "septets"), [(0, 0), (1, 2), (4, 5), (6, 7), (7, 8), (9, 11), (12, 14)]
)
def test_udh_septets_round_up_with_fill_bits(udh_octets: int, septets: int) -> None:
    assert udh_septets(udh_octets) == septets


def test_pack_known_vector() -> None:
    """The classic example: "hellohello" packs to E8 32 9B FD 46 97 D9 EC 37."""
    assert pack_septets(b"hellohello") == bytes.fromhex("E8329BFD4697D9EC37")
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37")) == b"hellohello"


def test_pack_fills_seven_spare_bits_with_cr() -> None:
    """TS 23.038 §6.1.2.3.1: 7 septets leave 7 spare bits; CR fills them, decoders drop it."""
    packed = pack_septets(b"1234567")
    assert len(packed) == 7
    assert packed[-1] >> 1 == 0x0D
    assert unpack_septets(packed) == b"1234567"


def test_pack_doubles_a_final_cr_on_an_octet_boundary() -> None:
    packed = pack_septets(b"1234567\r")
    assert unpack_septets(packed) == b"1234567\r"
    assert len(packed) == 8


def test_pack_after_udh_starts_text_on_a_septet_boundary() -> None:
    udh = bytes.fromhex("050003AA0201")
    packed = pack_septets(b"hello", udh=udh)
    assert packed[:6] == udh
    # 48 UDH bits + 1 fill bit = 7 septets, then the text: 7 + 5 = 12 septets in 11 octets.
    assert len(packed) == 11
    assert packed[6] & 0x01 == 0  # the fill bit
    assert unpack_septets(packed, udh_length=6) == b"hello"


@pytest.mark.parametrize("udh_len", [0, 4, 6, 7, 9, 10, 12, 13])
@pytest.mark.parametrize("count", [0, 1, 6, 7, 8, 9, 15, 16, 100])
def test_pack_unpack_round_trip(udh_len: int, count: int) -> None:
    septets = bytes((i * 37 + 5) % 0x7F for i in range(count)).replace(b"\r", b"x")
    udh = bytes((udh_len - 1,)) + bytes(range(udh_len - 1)) if udh_len else b""
    assert unpack_septets(pack_septets(septets, udh=udh), udh_length=udh_len) == septets
