"""Destination numbers: parse, validate and normalise to E.164 with `phonenumbers`, cached.

`phonenumbers.parse` + `is_valid_number` cost ~31-60 us per call (domain reference, measured
here), so results are kept in an LRU keyed by (raw, region hint). A miss (every number of a
bulk send) runs the pattern matching once: `number_type` is computed once and stands in for
`is_valid_number` (which is exactly `number_type(n) != UNKNOWN`, see `_parse_typed`) and for
the type check inside `timezone.time_zones_for_number`. The destination_addr for
SMPP TON 1 / NPI 1 is `format_number(n, E164)[1:]` (never country_code + national_number,
which drops Italy's significant leading zero; domain.md §5.1).
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonenumberutil import (  # see _parse_typed
    COUNTRY_CODE_TO_REGION_CODE,
    _number_type_helper,
)

UNKNOWN = PhoneNumberType.UNKNOWN
UNKNOWN_TIME_ZONE = phone_timezone.UNKNOWN_TIMEZONE  # 'Etc/Unknown'


class NumberKind(enum.StrEnum):
    """`phonenumbers.PhoneNumberType`, by lower-case name (as written in YAML)."""

    fixed_line = "fixed_line"
    mobile = "mobile"
    fixed_line_or_mobile = "fixed_line_or_mobile"
    toll_free = "toll_free"
    premium_rate = "premium_rate"
    shared_cost = "shared_cost"
    voip = "voip"
    personal_number = "personal_number"
    pager = "pager"
    uan = "uan"
    voicemail = "voicemail"
    unknown = "unknown"


_KIND_BY_TYPE: dict[int, NumberKind] = {
    PhoneNumberType.FIXED_LINE: NumberKind.fixed_line,
    PhoneNumberType.MOBILE: NumberKind.mobile,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.fixed_line_or_mobile,
    PhoneNumberType.TOLL_FREE: NumberKind.toll_free,
    PhoneNumberType.PREMIUM_RATE: NumberKind.premium_rate,
    PhoneNumberType.SHARED_COST: NumberKind.shared_cost,
    PhoneNumberType.VOIP: NumberKind.voip,
    PhoneNumberType.PERSONAL_NUMBER: NumberKind.personal_number,
    PhoneNumberType.PAGER: NumberKind.pager,
    PhoneNumberType.UAN: NumberKind.uan,
    PhoneNumberType.VOICEMAIL: NumberKind.voicemail,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A valid number: E.164 digits (no '+'), its region, type and IANA time zones."""

    e164: str
    region: str  # phonenumbers' precise region: '+44 7911' is 'GG', not 'GB'
    country_code: int
    kind: NumberKind
    time_zones: tuple[str, ...]  # may be (UNKNOWN_TIME_ZONE,)


@dataclass(frozen=True, slots=True)
class InvalidNumber:
    """Why a raw number could not be used; `detail` is a human sentence."""

    detail: str


class NumberParser:
    """Parses raw destinations with a bounded LRU cache (one instance per policy)."""

    def __init__(self, *, default_region: str | None, cache_size: int) -> None:
        """Args: default_region for national numbers without a hint; cache_size LRU entries."""
        self._default_region = default_region
        self._cached = functools.lru_cache(maxsize=cache_size)(self._parse_uncached)
        # time zones of numbers of a non-geographical type, which depend on the country only
        self._country_zones: dict[int, tuple[str, ...]] = {}

    def parse(self, raw: str, hint: str | None = None) -> Destination | InvalidNumber:
        """Parse `raw` ("+33612345678", "33612345678", "06 12 34 56 78" with hint "FR").

        A national number needs `hint` (the message's country) or the default region. A bare
        digit string that is not valid nationally is retried as international ("+" + digits),
        since SMPP TON 1 addresses carry no '+'.
        """
        region = hint.upper() if hint else self._default_region
        return self._cached(raw.strip(), region)

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the parse cache."""
        return self._cached.cache_info()

    def _parse_uncached(self, raw: str, region: str | None) -> Destination | InvalidNumber:
        number, number_type, number_region = _parse_typed(raw, region)
        if number_type == PhoneNumberType.UNKNOWN and raw.isdigit():
            number, number_type, number_region = _parse_typed("+" + raw, None)
        if number is None:
            return InvalidNumber(f"{_mask(raw)} is not a phone number (region {region})")
        if number_type == PhoneNumberType.UNKNOWN:
            return InvalidNumber(f"{_mask(raw)} is not a valid number in any numbering plan")
        return Destination(
            e164=phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:],
            region=number_region or "ZZ",
            country_code=int(number.country_code or 0),
            kind=_KIND_BY_TYPE.get(number_type, NumberKind.unknown),
            time_zones=self._time_zones(number, number_type),
        )

    def _time_zones(self, number: phonenumbers.PhoneNumber, number_type: int) -> tuple[str, ...]:
        """`timezone.time_zones_for_number(number)` for a valid number of `number_type`.

        That function computes the type again, then answers from the full number for a
        geographical type and from the country code alone otherwise; the latter is memoised.
        """
        country_code = int(number.country_code or 0)
        if phonenumbers.is_number_type_geographical(number_type, country_code):
            return tuple(phone_timezone.time_zones_for_geographical_number(number))
        zones = self._country_zones.get(country_code)
        if zones is None:
            zones = tuple(phone_timezone.time_zones_for_number(number))
            self._country_zones[country_code] = zones
        return zones


def _parse_typed(
    raw: str, region: str | None
) -> tuple[phonenumbers.PhoneNumber | None, int, str | None]:
    """The parsed number (None if unparseable), its type (UNKNOWN if invalid or None) and its
    region (`region_code_for_number`).

    `is_valid_number(n)` is `number_type(n) != UNKNOWN`: both take the region from
    `region_code_for_number(n)` and run the same type matching against that region's
    metadata; is_valid_number's extra checks (no region; the region's country code differs
    from n's) cannot pass where number_type finds a type, since a missing region gives no
    metadata and every region listed under a country code has that code (phonenumbers 8-9).

    Region and type are computed here as phonenumbers computes them (`region_code_for_number`,
    then `number_type` against that region's metadata), but together: for a calling code
    shared by several regions (+1, +44, +7, ...) finding the region types the number region
    by region, and phonenumbers then types it again (and `number_type` finds the region
    again): two thirds of the parse.
    tests/unit/compliance/test_numbers.py checks both against phonenumbers' own functions.
    """
    number = _try_parse(raw, region)
    if number is None:
        return None, PhoneNumberType.UNKNOWN, None
    national = phonenumbers.national_significant_number(number)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0, ())
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(
            number.country_code or 0, regions[0]
        )
        found = _number_type_helper(national, metadata) if metadata is not None else UNKNOWN
        return number, found, regions[0]
    for candidate in regions:  # phonenumbers' _region_code_for_number_from_list, typed once
        metadata = PhoneMetadata.metadata_for_region(candidate.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, national):
                return number, _number_type_helper(national, metadata), candidate
            continue
        found = _number_type_helper(national, metadata)
        if found != UNKNOWN:
            return number, found, candidate
    return number, UNKNOWN, None


def _try_parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except NumberParseException:
        return None


def _mask(raw: str) -> str:
    """Mask a number for messages and logs: keep the first 3 and last 3 characters."""
    return raw if len(raw) <= 6 else f"{raw[:3]}...{raw[-3:]}"
