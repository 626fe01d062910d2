"""Destination numbers: E.164 normalisation, validation, type, region and time zones."""

from __future__ import annotations

import pytest

from compliance.numbers import Destination, InvalidNumber, NumberKind, NumberParser


@pytest.fixture
def parser() -> NumberParser:
    return NumberParser(default_region=None, cache_size=64)


@pytest.mark.parametrize(
    ("raw", "hint", "e164", "region", "kind"),
    [
        ("+33612345678", None, "33612345678", "FR", NumberKind.mobile),
        ("33612345678", None, "33612345678", "FR", NumberKind.mobile),  # SMPP TON 1, no '+'
        ("06 12 34 56 78", "FR", "33612345678", "FR", NumberKind.mobile),
        ("06 12 34 56 78", "fr", "33612345678", "FR", NumberKind.mobile),
        ("33612345678", "FR", "33612345678", "FR", NumberKind.mobile),  # hint, international
        ("+14155552671", None, "14155552671", "US", NumberKind.fixed_line_or_mobile),
        ("+390612345678", None, "390612345678", "IT", NumberKind.fixed_line),  # leading zero kept
        ("+33142685300", None, "33142685300", "FR", NumberKind.fixed_line),
        ("+447911123456", None, "447911123456", "GG", NumberKind.mobile),
        (" +49 151 23456789 ", None, "4915123456789", "DE", NumberKind.mobile),
    ],
)
def test_parse_table(
    parser: NumberParser, raw: str, hint: str | None, e164: str, region: str, kind: NumberKind
) -> None:
    got = parser.parse(raw, hint)
    assert isinstance(got, Destination)
    assert (got.e164, got.region, got.kind) == (e164, region, kind)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [("0612345678", None), ("+447700900123", None), ("hello", None), ("", "FR"), ("+999123", None)],
)
def test_invalid_numbers_are_values_with_a_reason(
    parser: NumberParser, raw: str, hint: str | None
) -> None:
    got = parser.parse(raw, hint)
    assert isinstance(got, InvalidNumber)
    assert got.detail


def test_default_region_applies_without_hint() -> None:
    parser = NumberParser(default_region="FR", cache_size=8)
    got = parser.parse("0612345678")
    assert isinstance(got, Destination)
    assert got.e164 == "33612345678"


def test_time_zones_come_from_the_number() -> None:
    parser = NumberParser(default_region=None, cache_size=8)
    paris = parser.parse("+33612345678")
    los_angeles = parser.parse("+14155552671")
    assert isinstance(paris, Destination)
    assert isinstance(los_angeles, Destination)
    assert paris.time_zones == ("Europe/Paris",)
    assert los_angeles.time_zones == ("America/Los_Angeles",)


def test_parse_results_are_cached_by_raw_and_hint(parser: NumberParser) -> None:
    parser.parse("+33612345678")
    parser.parse("+33612345678")
    parser.parse("0612345678", "FR")
    info = parser.cache_info()
    assert (info.hits, info.misses) == (1, 2)
