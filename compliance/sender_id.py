"""Sender IDs: classify a sender, derive its SMPP TON/NPI, check it against a country's rules.

Conventions (domain.md §1.8; SMPP 3.4 §5.2.5-§5.2.6): an alphanumeric sender is TON 5 / NPI 0
and at most 11 characters with at least one letter; an international number is TON 1 / NPI 1
written as digits without '+'; a short code defaults to TON 3 / NPI 0, overridable per country
because SMSCs differ. When the requested sender is not allowed, the country's fallback sender is
used if it is allowed; otherwise the message is rejected.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

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
    fallback: str | None = None


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


def sender_address(sender: str, rules: SenderRules) -> SenderAddress:
    """The submit_sm source address for `sender` (TON/NPI by kind; no '+' on numbers)."""
    kind = classify_sender(sender, rules.short_code_max_digits)
    if kind is SenderKind.alphanumeric:
        return SenderAddress(sender, Ton.alphanumeric, Npi.unknown, kind)
    digits = sender.removeprefix("+")
    if kind is SenderKind.long_code:
        return SenderAddress(digits, Ton.international, Npi.isdn, kind)
    return SenderAddress(digits, rules.short_code_ton, rules.short_code_npi, kind)


def sender_problem(
    sender: str, category: Category, rules: SenderRules, country_code: int
) -> str | None:
    """Why `sender` may not be used towards this country, or None when it may."""
    kind = classify_sender(sender, rules.short_code_max_digits)
    if not _kind_allowed(kind, rules):
        return f"{kind.value.replace('_', ' ')} senders are not allowed"
    problem = _shape_problem(sender, kind, category, rules, country_code)
    if problem is not None:
        return problem
    if kind in rules.registration_required and not _is_registered(sender, rules):
        return f"sender {sender!r} is not registered"
    return None


def choose_sender(
    sender: str, category: Category, rules: SenderRules, country_code: int
) -> SenderChoice:
    """The sender to use: the requested one, else the country fallback, else a refusal."""
    problem = sender_problem(sender, category, rules, country_code)
    if problem is None:
        return SenderChoice(sender_address(sender, rules), None)
    fallback = rules.fallback
    if fallback is not None and sender_problem(fallback, category, rules, country_code) is None:
        return SenderChoice(sender_address(fallback, rules), problem, fell_back=True)
    return SenderChoice(None, problem)


def _kind_allowed(kind: SenderKind, rules: SenderRules) -> bool:
    if kind is SenderKind.alphanumeric:
        return rules.alphanumeric
    if kind is SenderKind.long_code:
        return rules.long_code
    return rules.short_code


def _shape_problem(
    sender: str, kind: SenderKind, category: Category, rules: SenderRules, country_code: int
) -> str | None:
    if kind is SenderKind.alphanumeric:
        return _alphanumeric_problem(sender, category, rules)
    digits = sender.removeprefix("+")
    if kind is SenderKind.long_code:
        if len(digits) > _E164_MAX_DIGITS:
            return f"numeric sender has {len(digits)} digits, E.164 allows {_E164_MAX_DIGITS}"
        if rules.long_code_local_only and not digits.startswith(str(country_code)):
            return f"only +{country_code} numbers may be used as senders"
    return None


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
