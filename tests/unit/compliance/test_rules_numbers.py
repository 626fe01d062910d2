"""Destination numbers: E.164 normalisation, validation, type, region and time zones."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonenumberutil import (
    _maybe_strip_national_prefix_carrier_code,
    _number_type_helper,
    _test_number_length,
)

from compliance.numbers import (
    _KIND_BY_TYPE,
    _SHORT_RESULTS,
    Destination,
    InvalidNumber,
    NumberKind,
    NumberParser,
    _number_type,
    _without_national_prefix,
)


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


def _example_numbers() -> list[str]:
    """phonenumbers' example of every type in every region, and each with its last digit cut."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in _KIND_BY_TYPE:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                numbers += [e164, e164[:-1]]
    return numbers


def test_parse_agrees_with_the_phonenumbers_reference_calls() -> None:
    """Computing the type once gives what is_valid_number, region and time zone calls give."""
    parser = NumberParser(default_region=None, cache_size=0)
    for raw in _example_numbers():
        number = phonenumbers.parse(raw)
        got = parser.parse(raw)
        if not phonenumbers.is_valid_number(number):
            assert isinstance(got, InvalidNumber), raw
            continue
        region = phonenumbers.region_code_for_number(number)
        assert region is not None, raw  # a valid number has a region and a country code
        assert number.country_code is not None, raw
        assert got == Destination(
            e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
            region=region,
            country_code=number.country_code,
            kind=_KIND_BY_TYPE[phonenumbers.number_type(number)],
            time_zones=tuple(phone_timezone.time_zones_for_number(number)),
        ), raw


def test_type_and_region_agree_with_phonenumbers_for_every_example_number() -> None:
    """numbers._parse_typed looks the region up once and types the number against that
    region's metadata, as phonenumbers.number_type does inside; for every region's example
    number of every type (and a few made invalid), both must equal phonenumbers' own."""
    from compliance.numbers import _parse_typed

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            for raw in (e164, e164[:-2], e164 + "9"):
                number, number_type, number_region = _parse_typed(raw, None)
                if number is None:
                    continue
                assert number_type == phonenumbers.number_type(number), raw
                assert number_region == phonenumbers.region_code_for_number(number), raw
                checked += 1
    assert checked > 2000


def _reference_parse(raw: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None


def _check_international(raw: str) -> bool:
    """numbers._parse_international gives phonenumbers.parse's number, or None (the caller
    then asks phonenumbers); True when it answered itself."""
    from compliance.numbers import _parse_international, _parse_typed, _try_parse

    fast = _parse_international(raw[1:])
    reference = _reference_parse(raw)
    if fast is not None:
        assert fast == reference, raw
        assert fast.italian_leading_zero == reference.italian_leading_zero, raw
    assert _try_parse(raw, None) == reference, raw
    if reference is not None:  # and numbers._number_type types it as phonenumbers does
        _, number_type, region = _parse_typed(raw, None)
        assert number_type == phonenumbers.number_type(reference), raw
        if number_type != phonenumbers.PhoneNumberType.UNKNOWN:
            assert region == phonenumbers.region_code_for_number(reference), raw
    return fast is not None


def test_the_international_fast_path_parses_every_example_number_as_phonenumbers_does() -> None:
    """Every region's example number of every type, cut short, made long, and with the
    region's national prefix written after the country code (which parse strips when what
    is left has a valid length): the fast path's number is phonenumbers.parse's."""
    answered = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS | {"001"}):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            phonenumbers.country_code_for_region(region) or 800, region
        )
        prefix = (metadata.national_prefix if metadata is not None else None) or ""
        for kind in range(12):
            example = (
                phonenumbers.example_number_for_type(region, kind)
                if region != "001"
                else phonenumbers.example_number_for_non_geo_entity(800)
            )
            if example is None:
                continue
            cc = str(example.country_code)
            national = phonenumbers.national_significant_number(example)
            variants = (national, national[:-2], national + "9", prefix + national, "0" + national)
            for rest in variants:
                answered += _check_international(f"+{cc}{rest}")
    assert answered > 3000


@given(
    st.one_of(
        st.text(alphabet="0123456789", min_size=3, max_size=20),
        st.tuples(
            st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
            st.text(alphabet="0123456789", min_size=0, max_size=17),
        ).map(lambda pair: f"{pair[0]}{pair[1]}"),
    )
)
@settings(max_examples=400, deadline=None)
def test_the_international_fast_path_agrees_with_phonenumbers_on_any_digits(digits: str) -> None:
    _check_international("+" + digits)


def _every_metadata() -> list[PhoneMetadata]:
    """Every region's metadata and every non-geographical calling code's."""
    found = [PhoneMetadata.metadata_for_region(r) for r in sorted(phonenumbers.SUPPORTED_REGIONS)]
    found += [
        PhoneMetadata.metadata_for_nongeo_region(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    return [metadata for metadata in found if metadata is not None]


EVERY_METADATA = _every_metadata()
_DESCRIPTIONS = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate",
                 "shared_cost", "personal_number", "voip", "pager", "uan", "voicemail")  # fmt: skip
TYPE_EXAMPLES = [
    (metadata, example)
    for metadata in EVERY_METADATA
    for name in _DESCRIPTIONS
    if (example := getattr(getattr(metadata, name), "example_number", None))
]


def test_number_type_agrees_with_phonenumbers_for_every_type_example() -> None:
    """numbers._number_type (one regex per region and length) types every region's example
    number of every type, cut, lengthened and with its last digit changed, as phonenumbers'
    own per-type matching does."""
    for metadata, example in TYPE_EXAMPLES:
        for national in (example, example[:-1], example + "0", *(example[:-1] + d for d in "05")):
            expected = _number_type_helper(national, metadata)
            assert _number_type(national, metadata) == expected, (metadata.id, national)
    assert len(TYPE_EXAMPLES) > 1000


@given(
    st.sampled_from(TYPE_EXAMPLES),
    st.integers(0, 4),
    st.text(alphabet="0123456789", max_size=5),
)
@settings(max_examples=500, deadline=None)
def test_number_type_agrees_with_phonenumbers_on_any_digits(
    example: tuple[PhoneMetadata, str], cut: int, tail: str
) -> None:
    metadata, national = example
    digits = national[: len(national) - cut] + tail
    assert _number_type(digits, metadata) == _number_type_helper(digits, metadata)


WITH_NATIONAL_PREFIX = [m for m in EVERY_METADATA if m.national_prefix_for_parsing]


@given(
    st.sampled_from(WITH_NATIONAL_PREFIX),
    st.text(alphabet="0123456789", min_size=2, max_size=17),
    st.sampled_from(["", "0", "1", "8", "prefix"]),
)
@settings(max_examples=500, deadline=None)
def test_the_national_prefix_is_stripped_as_phonenumbers_strips_it(
    metadata: PhoneMetadata, digits: str, lead: str
) -> None:
    """numbers._without_national_prefix asks phonenumbers only when the prefix pattern
    matches; its answer is phonenumbers' strip, kept when the rest has a valid length."""
    national = (metadata.national_prefix or "") + digits if lead == "prefix" else lead + digits
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    valid_length = _test_number_length(stripped, metadata) not in _SHORT_RESULTS
    assert _without_national_prefix(national, metadata) == (stripped if valid_length else national)
