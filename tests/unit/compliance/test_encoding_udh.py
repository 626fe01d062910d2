"""User data headers (TS 23.040 §9.2.3.24) and SAR TLVs: bytes <-> UdhInfo / ConcatInfo."""

from __future__ import annotations

import pytest

from compliance.encoding import MalformedUserDataError
from compliance.encoding.model import ConcatInfo, NationalLanguage
from compliance.encoding.udh import (
    build_udh,
    concat_from_sar,
    concat_ie,
    parse_udh,
    sar_tlvs,
    shift_ies,
)


def test_concat_8_bit_layout() -> None:
    assert build_udh(concat_ie(0xAB, 3, 2, 8)) == bytes.fromhex("050003AB0302")


def test_concat_16_bit_layout() -> None:
    assert build_udh(concat_ie(0x1234, 3, 2, 16)) == bytes.fromhex("06080412340302")


def test_shift_elements_single_then_locking() -> None:
    assert shift_ies(0, 0) == b""
    assert shift_ies(0, 2) == bytes.fromhex("240102")
    assert shift_ies(1, 0) == bytes.fromhex("250101")
    assert shift_ies(3, 3) == bytes.fromhex("240103250103")


def test_no_elements_no_header() -> None:
    assert build_udh(b"") == b""


def test_parse_concat_and_both_shift_elements() -> None:
    data = bytes.fromhex("0B0003070302240101250106") + b"text"
    info = parse_udh(data)
    assert info.length == 12
    assert info.concat == ConcatInfo(reference=7, total=3, seq=2, reference_bits=8)
    assert info.single_shift is NationalLanguage.turkish
    assert info.locking_shift is NationalLanguage.hindi
    assert [iei for iei, _ in info.elements] == [0x00, 0x24, 0x25]


def test_parse_16_bit_concat() -> None:
    info = parse_udh(bytes.fromhex("060804BEEF0201"))
    assert info.concat == ConcatInfo(reference=0xBEEF, total=2, seq=1, reference_bits=16)


@pytest.mark.parametrize(
    "header",
    [
        "050003070300",  # seq 0
        "050003070304",  # seq > total
        "050003070000",  # total 0
        "0400020701",  # IEDL 2 for IEI 0x00
    ],
)
def test_invalid_concat_element_is_ignored(header: str) -> None:
    """TS 23.040 §9.2.3.24.1: a receiver ignores a concatenation IE with bad values."""
    assert parse_udh(bytes.fromhex(header)).concat is None


def test_unknown_language_and_unknown_elements_are_kept_raw_but_not_applied() -> None:
    info = parse_udh(bytes.fromhex("0924010E0504162A0000"))
    assert info.single_shift is None
    assert info.elements == ((0x24, b"\x0e"), (0x05, bytes.fromhex("162A0000")))


def test_element_running_past_the_header_ends_the_parse() -> None:
    info = parse_udh(bytes.fromhex("04000307") + b"xyz")
    assert info.elements == ()
    assert info.length == 5


@pytest.mark.parametrize("data", [b"", bytes.fromhex("05000307")])
def test_header_longer_than_the_message_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedUserDataError):
        parse_udh(data)


def test_sar_tlvs_round_trip() -> None:
    tlvs = sar_tlvs(0x1234, 4, 3)
    assert tlvs == {0x020C: 0x1234, 0x020E: 4, 0x020F: 3}
    assert concat_from_sar(tlvs) == ConcatInfo(reference=0x1234, total=4, seq=3, reference_bits=16)


@pytest.mark.parametrize(
    "tlvs",
    [{}, {0x020C: 1, 0x020E: 2}, {0x020C: 1, 0x020E: 2, 0x020F: 3}, {0x020C: b"1", 0x020E: 2}],
)
def test_incomplete_or_inconsistent_sar_is_none(tlvs: dict[int, object]) -> None:
    assert concat_from_sar(tlvs) is None
