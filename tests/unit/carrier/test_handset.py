"""A receipt's or MO's handset number read back to E.164 digits (gateway/carrier/handset.py),
whichever way the SMSC wrote it."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from compliance.numbers import Destination, NumberParser
from gateway.carrier.handset import handset_number, receipt_handsets
from gateway.smpp.constants import Ton
from simulator.config import HandsetFormat
from simulator.receipts import handset_address

GB = NumberParser(default_region="GB", cache_size=100)


def in_gb(raw: str) -> str | None:
    parsed = GB.parse(raw)
    return parsed.e164 if isinstance(parsed, Destination) else None


@pytest.mark.parametrize(
    ("addr", "ton", "expected"),
    [
        ("447911123456", Ton.international, "447911123456"),
        ("+447911123456", Ton.international, "447911123456"),
        ("+447911123456", Ton.unknown, "447911123456"),
        ("447911123456", Ton.unknown, "447911123456"),
        ("00447911123456", Ton.unknown, "447911123456"),
        ("00447911123456", Ton.international, "447911123456"),
        ("07911123456", Ton.national, "447911123456"),
        ("07911123456", Ton.unknown, "447911123456"),
        ("7911123456", Ton.national, "447911123456"),
    ],
)
def test_each_way_of_writing_a_uk_mobile_gives_its_e164_digits(
    addr: str, ton: Ton, expected: str
) -> None:
    assert handset_number(addr, ton, in_gb) == expected


@pytest.mark.parametrize(
    ("addr", "ton"),
    [
        ("Acme", Ton.alphanumeric),  # not a number at all
        ("+44 7911", Ton.international),  # not digits after the '+'
        ("12345", Ton.network_specific),  # a short code: no country code to find
        ("07911123456", Ton.national),  # national, but no country to read it in
        ("", Ton.unknown),
    ],
)
def test_what_cannot_be_told_is_used_as_written(addr: str, ton: Ton) -> None:
    assert handset_number(addr, ton, None) == addr


def test_a_national_number_the_resolver_refuses_is_used_as_written() -> None:
    assert handset_number("0123", Ton.national, in_gb) == "0123"


_FORMATS: list[HandsetFormat] = ["as_submitted", "plus", "idd", "national"]


@given(
    national=st.integers(min_value=7_400_000_000, max_value=7_999_999_999),
    handset_format=st.sampled_from(_FORMATS),
)
def test_every_format_the_simulator_writes_reads_back_to_the_submitted_digits(
    national: int, handset_format: HandsetFormat
) -> None:
    digits = f"44{national}"
    # a range with no mobiles is written as submitted by the simulator
    assume(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits)))
    ton, _, addr = handset_address((Ton.international, 1, digits), handset_format)
    assert handset_number(addr, ton, in_gb) == digits


@pytest.mark.parametrize(
    ("source", "source_ton", "destination", "destination_ton", "expected"),
    [
        # swapped, as most SMSCs do: the handset is the source
        ("447911123456", Ton.international, "Acme", Ton.alphanumeric, ("447911123456", "")),
        ("07911123456", Ton.national, "Acme", Ton.alphanumeric, ("447911123456", "")),
        # not swapped, from a name: the handset is the destination, read back to E.164
        ("Acme", Ton.alphanumeric, "447911123456", Ton.international, ("447911123456", "")),
        ("Acme", Ton.alphanumeric, "07911123456", Ton.national, ("447911123456", "")),
        # two numbers: a long code cannot be told from a handset, so the source, and the
        # destination as the alternative (the handset if not swapped, else our long code)
        ("447700900999", Ton.international, "447911123456", Ton.international,
         ("447700900999", "447911123456")),
        ("447911123456", Ton.international, "447700900999", Ton.international,
         ("447911123456", "447700900999")),
        ("447911123456", Ton.international, "+447911123456", Ton.international,
         ("447911123456", "")),  # the same number twice: no alternative
        # neither is a number, or there is no destination: the source as written
        ("Acme", Ton.alphanumeric, "Shop", Ton.alphanumeric, ("Acme", "")),
        ("Acme", Ton.alphanumeric, "", Ton.unknown, ("Acme", "")),
    ],
)  # fmt: skip
def test_a_receipts_handset_is_its_source_unless_that_is_a_name_and_the_destination_a_number(
    source: str, source_ton: Ton, destination: str, destination_ton: Ton,
    expected: tuple[str, str],
) -> None:  # fmt: skip
    assert receipt_handsets(source, source_ton, destination, destination_ton, in_gb) == expected
