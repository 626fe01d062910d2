"""Destination numbers: parse, validate and normalise to E.164 with `phonenumbers`, cached.

`phonenumbers.parse` + `is_valid_number` cost ~31-60 us per call (domain reference, measured
here), so results are kept in an LRU keyed by (raw, region hint). The destination_addr for
SMPP TON 1 / NPI 1 is `format_number(n, E164)[1:]` (never country_code + national_number,
which drops Italy's significant leading zero; domain.md §5.1).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as phone_timezone

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

    @staticmethod
    def _parse_uncached(raw: str, region: str | None) -> Destination | InvalidNumber:
        number = _try_parse(raw, region)
        if (number is None or not phonenumbers.is_valid_number(number)) and raw.isdigit():
            number = _try_parse("+" + raw, None)
        if number is None:
            return InvalidNumber(f"{_mask(raw)} is not a phone number (region {region})")
        if not phonenumbers.is_valid_number(number):
            return InvalidNumber(f"{_mask(raw)} is not a valid number in any numbering plan")
        region_code = phonenumbers.region_code_for_number(number) or "ZZ"
        return Destination(
            e164=phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:],
            region=region_code,
            country_code=int(number.country_code or 0),
            kind=_KIND_BY_TYPE.get(phonenumbers.number_type(number), NumberKind.unknown),
            time_zones=tuple(phone_timezone.time_zones_for_number(number)),
        )


def _try_parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except NumberParseException:
        return None


def _mask(raw: str) -> str:
    """Mask a number for messages and logs: keep the first 3 and last 3 characters."""
    return raw if len(raw) <= 6 else f"{raw[:3]}...{raw[-3:]}"
