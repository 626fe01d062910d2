"""Destination numbers: parse, validate and normalise to E.164 with `phonenumbers`, cached.

`phonenumbers.parse` + `is_valid_number` cost ~31-60 us per call (domain reference, measured
here), so results are kept in an LRU keyed by (raw, region hint). A miss (every number of a
bulk send) runs the pattern matching once: `number_type` is computed once and stands in for
`is_valid_number` (which is exactly `number_type(n) != UNKNOWN`, see `_parse_typed`) and for
the type check inside `timezone.time_zones_for_number`, and it is one regex match per region
tried (`_number_type`), not one per type. The destination_addr for
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
from phonenumbers.phonenumberutil import (  # see _parse_typed and _parse_international
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    COUNTRY_CODE_TO_REGION_CODE,
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
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


@dataclass(slots=True, kw_only=True)
class Destination:
    """A valid number: E.164 digits (no '+'), its region, type and IANA time zones.

    Slotted, not frozen: one is built per number parsed (0.9 us frozen, 0.45 not; style guide §3).
    The parser's cache hands the same one to every caller: treat it as read-only.
    """

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
        found = _number_type(national, metadata) if metadata is not None else UNKNOWN
        return number, found, regions[0]
    for candidate in regions:  # phonenumbers' _region_code_for_number_from_list, typed once
        metadata = PhoneMetadata.metadata_for_region(candidate.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _compiled(metadata.leading_digits).match(national):
                return number, _number_type(national, metadata), candidate
            continue
        found = _number_type(national, metadata)
        if found != UNKNOWN:
            return number, found, candidate
    return number, UNKNOWN, None


_compiled = functools.cache(re.compile)
"""Metadata patterns matched at the start of a number (leading digits, national prefix),
compiled once: `re.match` and phonenumbers look each up in `re`'s cache on every call."""

_SPECIFIC_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)
_TYPE_OF_GROUP: dict[str | None, int] = {
    **dict(_SPECIFIC_TYPES),
    "mobile": PhoneNumberType.MOBILE,
}


@dataclass(frozen=True, slots=True)
class _LengthTyper:
    """One region's type patterns for national numbers of one length, as one regex.

    `pattern` is the general description as a lookahead, then the type patterns that allow
    the length, each in a group named after its type, in phonenumbers' order: a full match
    takes the first alternative that matches in full, so `lastgroup` names the type
    phonenumbers would find first. Fixed line comes before mobile; a fixed-line match is
    also tried against `mobile` (None: it cannot match) unless the two are the same.
    """

    pattern: re.Pattern[str]
    same_mobile_and_fixed_line: bool
    mobile: re.Pattern[str] | None

    def number_type(self, national: str) -> int:
        """The type of a national number of this length (UNKNOWN: not valid)."""
        match = self.pattern.fullmatch(national)
        if match is None:
            return UNKNOWN
        if match.lastgroup != "fixed_line":
            return _TYPE_OF_GROUP[match.lastgroup]
        mobile = self.mobile
        if self.same_mobile_and_fixed_line or (mobile is not None and mobile.fullmatch(national)):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE


_typers: dict[tuple[int, int], tuple[PhoneMetadata, _LengthTyper | None]] = {}
"""By (id(metadata), length): phonenumbers' metadata objects are not hashable."""


def _number_type(national: str, metadata: PhoneMetadata) -> int:
    """phonenumbers' `_number_type_helper(national, metadata)` in one regex match: it tries
    the general pattern and then up to ten type patterns one by one, each after a length test
    and a look-up in `re`'s cache, which was nearly all of typing a number. Same patterns,
    same order, same length tests (tests/unit/compliance/test_rules_numbers.py checks the two
    agree)."""
    key = (id(metadata), len(national))
    cached = _typers.get(key)
    if cached is None or cached[0] is not metadata:
        cached = _typers[key] = (metadata, _length_typer(metadata, len(national)))
    typer = cached[1]
    return typer.number_type(national) if typer is not None else UNKNOWN


def _length_typer(metadata: PhoneMetadata, length: int) -> _LengthTyper | None:
    """The typer for national numbers of `length` digits; None when none can be valid."""
    general = _pattern_for(metadata.general_desc, length)
    if general is None:
        return None
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    names = [name for name, _ in _SPECIFIC_TYPES] + ["fixed_line"] + ([] if same else ["mobile"])
    alternatives = [
        f"(?P<{name}>{pattern})"
        for name in names
        if (pattern := _pattern_for(getattr(metadata, name), length)) is not None
    ]
    if not alternatives:
        return None
    mobile = _pattern_for(metadata.mobile, length)
    return _LengthTyper(
        pattern=re.compile(f"(?=(?:{general})\\Z)(?:{'|'.join(alternatives)})"),
        same_mobile_and_fixed_line=same,
        mobile=re.compile(mobile) if mobile is not None else None,
    )


def _pattern_for(desc: phonenumbers.PhoneNumberDesc | None, length: int) -> str | None:
    """The description's pattern when a number of `length` digits can match it: phonenumbers'
    `_is_number_matching_desc` tests the possible lengths (none listed: any) before the
    pattern, and a description without a pattern matches nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return f"(?:{desc.national_number_pattern})"


def _try_parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    if _INTERNATIONAL.fullmatch(raw):
        number = _parse_international(raw[1:])
        if number is not None:
            return number
    try:
        return phonenumbers.parse(raw, region)
    except NumberParseException:
        return None


_INTERNATIONAL = re.compile(r"\+[0-9]{3,20}")
"""'+' and digits only: how upstream apps and SMPP TON 1 addresses write nearly every number."""

_SHORT_RESULTS = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


def _parse_international(digits: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse("+" + digits)` for ASCII `digits`, or None where that parse is not
    a plain success (an unknown country code, too short or too long): the caller then asks
    phonenumbers itself, so its answer and errors stay the reference.

    For such input `parse` spends most of its time on what cannot apply: finding the number
    in free text, RFC 3966, extensions, the default region's international prefix. What is
    left is its own steps, in its order, by its own functions (phonenumbers 9.0): the
    country code, the national prefix stripped if the rest still has a valid length, the
    Italian leading zero. tests/unit/compliance/test_rules_numbers.py checks the two agree.
    """
    country_code, national = _extract_country_code(digits)
    if country_code == 0:
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    if metadata is None or len(national) < _MIN_LENGTH_FOR_NSN:
        return None
    national = _without_national_prefix(national, metadata)
    if not _MIN_LENGTH_FOR_NSN <= len(national) <= _MAX_LENGTH_FOR_NSN:
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number


def _without_national_prefix(national: str, metadata: PhoneMetadata) -> str:
    """`national` with the region's national prefix stripped when what is left still has a
    valid length, as `parse` does. Its first step is matching `national_prefix_for_parsing`
    at the start; where that fails (nearly every number written with its country code) it
    strips nothing, so it is not asked (nor is the length tested)."""
    prefix = metadata.national_prefix_for_parsing
    if not prefix or _compiled(prefix).match(national) is None:
        return national
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    if stripped != national and _test_number_length(stripped, metadata) not in _SHORT_RESULTS:
        return stripped
    return national


def _mask(raw: str) -> str:
    """Mask a number for messages and logs: keep the first 3 and last 3 characters."""
    return raw if len(raw) <= 6 else f"{raw[:3]}...{raw[-3:]}"
