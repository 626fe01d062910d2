"""Sender IDs: classify a sender, derive its SMPP TON/NPI, check it against a country's rules.

Conventions (domain.md §1.8; SMPP 3.4 §5.2.5-§5.2.6): an alphanumeric sender is TON 5 / NPI 0
and at most 11 characters with at least one letter; an international number is TON 1 / NPI 1
written as digits without '+'; a short code defaults to TON 3 / NPI 0, overridable per country
because SMSCs differ. When the requested sender is not allowed, the country's fallback sender is
used if it is allowed; otherwise the message is rejected.

A numeric sender is international (TON 1) only when it is an E.164 number: written with '+',
with the international prefix of the destination's region, or as country code and national
number that phonenumbers finds valid. A number in the national format of the destination's
region (`0212345678` or `15881234` to Korea) is national: TON 2 / NPI 1 with the national
significant number, since "prefix or escape digits shall not be included" (3GPP TS 23.040
§9.1.2.5), or as the country rule's `national_ton` says. A long number that is neither is sent
as given with TON 0 (unknown, "as dialled"), never as an international number it is not:
`15881234` read as E.164 is +1 588 1234.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from compliance.verdict import Category
from gateway.smpp.constants import Npi, Ton

_PRINTABLE_ASCII = re.compile(r"[ -~]+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_E164_MAX_DIGITS = 15  # ITU-T E.164 §6.1


class SenderKind(enum.StrEnum):
    """The three sender types carriers distinguish."""

    alphanumeric = "alphanumeric"
    long_code = "long_code"
    short_code = "short_code"


class SenderProgram(enum.StrEnum):
    """The US A2P sender programs, each registered its own way (compliance/registration.py)."""

    ten_dlc = "ten_dlc"  # 10-digit long code: brand + campaign (TCR), number bound to it
    toll_free = "toll_free"  # toll-free verification
    short_code = "short_code"  # leased (CSCA) and provisioned per carrier


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderRules:
    """One country's sender rules, as written under `sender:` in config/countries/*.yaml."""

    alphanumeric: bool
    long_code: bool
    short_code: bool
    registration_required: frozenset[SenderKind] = frozenset()  # kinds that must be listed
    registered: frozenset[str] = frozenset()  # the allow-list of registered senders
    case_insensitive: bool = False  # registration match ignores case (e.g. AU)
    alphanumeric_min_length: int = 1
    alphanumeric_max_length: int = 11
    alphanumeric_pattern: re.Pattern[str] | None = None  # full match; default printable ASCII
    marketing_pattern: re.Pattern[str] | None = None  # alphanumeric marketing senders (AE AD-)
    long_code_local_only: bool = False  # numeric senders must carry the destination's code
    short_code_max_digits: int = 8
    short_code_ton: Ton = Ton.network_specific
    short_code_npi: Npi = Npi.unknown
    national_ton: Ton = Ton.national  # national-format numbers: national, or unknown (as given)
    national_npi: Npi = Npi.isdn
    fallback: str | None = None
    # Programs whose senders must be registered on every carrier of the route
    # (compliance/registration.py; carriers[].registered_senders).
    carrier_registration: frozenset[SenderProgram] = frozenset()


@dataclass(frozen=True, slots=True)
class SenderAddress:
    """The sender as it goes into submit_sm: source_addr, source_addr_ton, source_addr_npi."""

    source_addr: str
    ton: int
    npi: int
    kind: SenderKind


@dataclass(frozen=True, slots=True)
class SenderChoice:
    """The outcome of `choose_sender`: an address, or the problem with the requested one."""

    address: SenderAddress | None
    problem: str | None  # why the requested sender was refused (also set when falling back)
    fell_back: bool = False


def classify_sender(sender: str, short_code_max_digits: int = 8) -> SenderKind:
    """Alphanumeric unless all digits (an optional leading '+'); short if few digits."""
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isdigit() and digits.isascii():
        return (
            SenderKind.short_code if len(digits) <= short_code_max_digits else SenderKind.long_code
        )
    return SenderKind.alphanumeric


@dataclass(frozen=True, slots=True)
class NumericSender:
    """How a long numeric sender reads: `international` (E.164, `digits` without '+'),
    `national` (`digits` the national significant number of `region`) or `unknown`
    (`digits` as given)."""

    form: Literal["international", "national", "unknown"]
    digits: str
    country_code: int | None


# phonenumbers' CountryCodeSource: where the country code came from.
_INTERNATIONAL_SOURCES = frozenset(
    {
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD,
        phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN,
    }
)


@functools.lru_cache(maxsize=4096)
def read_numeric_sender(sender: str, region: str | None) -> NumericSender:
    """Read a long numeric sender towards a destination in `region` (see the module doc).

    Cached: senders are few and phonenumbers costs ~30 us a call (domain.md, measured).
    """
    digits = sender.removeprefix("+")
    if sender.startswith("+"):
        return NumericSender("international", digits, _country_code("+" + digits))
    number = _parse(digits, region) if region else None
    if number is not None and phonenumbers.is_valid_number(number):
        if number.country_code_source in _INTERNATIONAL_SOURCES:
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return NumericSender("international", e164[1:], number.country_code)
        national = phonenumbers.national_significant_number(number)
        return NumericSender("national", national, number.country_code)
    code = _country_code("+" + digits)
    if code is not None:
        return NumericSender("international", digits, code)
    return NumericSender("unknown", digits, None)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None


def _country_code(text: str) -> int | None:
    """The country code of `text` ('+' and digits) when it is a valid E.164 number."""
    number = _parse(text, None)
    if number is not None and phonenumbers.is_valid_number(number):
        return number.country_code
    return None


def sender_address(sender: str, rules: SenderRules, region: str | None = None) -> SenderAddress:
    """The submit_sm source address for `sender` towards `region` (TON/NPI by kind and, for
    long numbers, by how they read there: see the module docstring; no '+' on numbers)."""
    kind = classify_sender(sender, rules.short_code_max_digits)
    if kind is SenderKind.alphanumeric:
        return SenderAddress(sender, Ton.alphanumeric, Npi.unknown, kind)
    digits = sender.removeprefix("+")
    if kind is SenderKind.short_code:
        return SenderAddress(digits, rules.short_code_ton, rules.short_code_npi, kind)
    numeric = read_numeric_sender(sender, region)
    if numeric.form == "international":
        return SenderAddress(numeric.digits, Ton.international, Npi.isdn, kind)
    if numeric.form == "national" and rules.national_ton is Ton.national:
        return SenderAddress(numeric.digits, Ton.national, rules.national_npi, kind)
    return SenderAddress(digits, Ton.unknown, rules.national_npi, kind)


def sender_problem(
    sender: str,
    category: Category,
    rules: SenderRules,
    country_code: int,
    region: str | None = None,
) -> str | None:
    """Why `sender` may not be used towards this country (`region`: the destination's
    phonenumbers region, to read national-format numbers), or None when it may."""
    kind = classify_sender(sender, rules.short_code_max_digits)
    if not _kind_allowed(kind, rules):
        return f"{kind.value.replace('_', ' ')} senders are not allowed"
    problem = _shape_problem(sender, kind, category, rules, country_code, region)
    if problem is not None:
        return problem
    if kind in rules.registration_required and not _is_registered(sender, rules):
        return f"sender {sender!r} is not registered"
    return None


def choose_sender(
    sender: str,
    category: Category,
    rules: SenderRules,
    country_code: int,
    region: str | None = None,
) -> SenderChoice:
    """The sender to use: the requested one, else the country fallback, else a refusal.

    `region` is the destination's phonenumbers region (TON of national-format numbers).
    """
    problem = sender_problem(sender, category, rules, country_code, region)
    if problem is None:
        return SenderChoice(sender_address(sender, rules, region), None)
    fallback = rules.fallback
    if (
        fallback is not None
        and sender_problem(fallback, category, rules, country_code, region) is None
    ):
        return SenderChoice(sender_address(fallback, rules, region), problem, fell_back=True)
    return SenderChoice(None, problem)


def _kind_allowed(kind: SenderKind, rules: SenderRules) -> bool:
    if kind is SenderKind.alphanumeric:
        return rules.alphanumeric
    if kind is SenderKind.long_code:
        return rules.long_code
    return rules.short_code


def _shape_problem(
    sender: str,
    kind: SenderKind,
    category: Category,
    rules: SenderRules,
    country_code: int,
    region: str | None,
) -> str | None:
    if kind is SenderKind.alphanumeric:
        return _alphanumeric_problem(sender, category, rules)
    digits = sender.removeprefix("+")
    if kind is SenderKind.long_code:
        if len(digits) > _E164_MAX_DIGITS:
            return f"numeric sender has {len(digits)} digits, E.164 allows {_E164_MAX_DIGITS}"
        if rules.long_code_local_only and not _is_local(sender, country_code, region):
            return f"only +{country_code} numbers may be used as senders"
    return None


def _is_local(sender: str, country_code: int, region: str | None) -> bool:
    """A national-format number of the destination's region, or an E.164 number with its
    country code (digits as given when neither reads: the old prefix test)."""
    numeric = read_numeric_sender(sender, region)
    if numeric.country_code is not None:
        return numeric.country_code == country_code
    return numeric.digits.startswith(str(country_code))


def _alphanumeric_problem(sender: str, category: Category, rules: SenderRules) -> str | None:
    low, high = rules.alphanumeric_min_length, rules.alphanumeric_max_length
    if not low <= len(sender) <= high:
        return f"alphanumeric sender must be {low}-{high} characters, got {len(sender)}"
    if _HAS_LETTER.search(sender) is None:
        return "alphanumeric sender needs at least one letter"
    pattern = rules.alphanumeric_pattern or _PRINTABLE_ASCII
    if pattern.fullmatch(sender) is None:
        return f"alphanumeric sender {sender!r} has characters outside {pattern.pattern}"
    marketing = rules.marketing_pattern
    if category is Category.marketing and marketing and marketing.search(sender) is None:
        return f"marketing sender {sender!r} does not match {marketing.pattern}"
    return None


def _is_registered(sender: str, rules: SenderRules) -> bool:
    if sender in rules.registered:
        return True
    if rules.case_insensitive:
        folded = sender.casefold()
        return any(folded == known.casefold() for known in rules.registered)
    return False
