"""Sender IDs: classification, TON/NPI, country rules, registration and the fallback sender."""

from __future__ import annotations

import dataclasses
import re

import pytest

from compliance.sender_id import (
    SenderKind,
    SenderRules,
    choose_sender,
    classify_sender,
    sender_address,
    sender_problem,
)
from compliance.verdict import Category
from gateway.smpp.constants import Npi, Ton

OPEN = SenderRules(alphanumeric=True, long_code=True, short_code=True)
T, M = Category.transactional, Category.marketing


@pytest.mark.parametrize(
    ("sender", "kind"),
    [
        ("MYBRAND", SenderKind.alphanumeric),
        ("Shop24", SenderKind.alphanumeric),
        ("36180", SenderKind.short_code),
        ("+33612345678", SenderKind.long_code),
        ("33612345678", SenderKind.long_code),
        ("12345678", SenderKind.short_code),
        ("123456789", SenderKind.long_code),
        ("٣٦١٨٠", SenderKind.alphanumeric),  # non-ASCII digits are not a number
    ],
)
def test_classify_sender(sender: str, kind: SenderKind) -> None:
    assert classify_sender(sender) is kind


@pytest.mark.parametrize(
    ("sender", "rules", "expected"),
    [
        ("MYBRAND", OPEN, ("MYBRAND", Ton.alphanumeric, Npi.unknown)),
        ("+33612345678", OPEN, ("33612345678", Ton.international, Npi.isdn)),
        ("36180", OPEN, ("36180", Ton.network_specific, Npi.unknown)),
        (
            "36180",
            SenderRules(
                alphanumeric=True,
                long_code=True,
                short_code=True,
                short_code_ton=Ton.unknown,
                short_code_npi=Npi.isdn,
            ),
            ("36180", Ton.unknown, Npi.isdn),
        ),
    ],
)
def test_ton_npi_by_sender_type(
    sender: str, rules: SenderRules, expected: tuple[str, int, int]
) -> None:
    address = sender_address(sender, rules)
    assert (address.source_addr, address.ton, address.npi) == expected


US = SenderRules(alphanumeric=False, long_code=True, short_code=True, long_code_local_only=True)
GB = SenderRules(
    alphanumeric=True,
    long_code=True,
    short_code=True,
    long_code_local_only=True,
    alphanumeric_pattern=re.compile(r"[A-Za-z0-9 .&_-]+"),
)
IN = SenderRules(
    alphanumeric=True,
    long_code=False,
    short_code=True,
    registration_required=frozenset({SenderKind.alphanumeric}),
    registered=frozenset({"ACMEIN"}),
    alphanumeric_min_length=6,
    alphanumeric_max_length=6,
)
AE = SenderRules(
    alphanumeric=True,
    long_code=False,
    short_code=True,
    registration_required=frozenset({SenderKind.alphanumeric}),
    registered=frozenset({"AD-Acme", "Acme"}),
    marketing_pattern=re.compile("^AD-"),
)
AU = SenderRules(
    alphanumeric=True,
    long_code=True,
    short_code=False,
    registration_required=frozenset({SenderKind.alphanumeric}),
    registered=frozenset({"AcmeBank"}),
    case_insensitive=True,
)


@pytest.mark.parametrize(
    ("sender", "category", "rules", "country_code", "problem"),
    [
        ("MYBRAND", T, US, 1, "alphanumeric senders are not allowed"),
        ("+14155552671", T, US, 1, None),
        ("+447911123456", T, US, 1, "only +1 numbers may be used as senders"),
        ("Acme & Co", T, GB, 44, None),
        ("Acme!", T, GB, 44, "has characters outside"),
        ("ABCDEFGHIJKL", T, GB, 44, "must be 1-11 characters, got 12"),
        ("12 34", T, GB, 44, "needs at least one letter"),
        ("ACMEIN", T, IN, 91, None),
        ("OTHERS", T, IN, 91, "is not registered"),
        ("ACME", T, IN, 91, "must be 6-6 characters"),
        ("Acme", T, AE, 971, None),
        ("Acme", M, AE, 971, "does not match ^AD-"),
        ("AD-Acme", M, AE, 971, None),
        ("ACMEBANK", T, AU, 61, None),
        ("1234567890123456", T, OPEN, 33, "E.164 allows 15"),
    ],
)
def test_sender_rules_table(
    sender: str, category: Category, rules: SenderRules, country_code: int, problem: str | None
) -> None:
    got = sender_problem(sender, category, rules, country_code)
    if problem is None:
        assert got is None
    else:
        assert got is not None
        assert problem in got


def test_fallback_sender_replaces_a_refused_one() -> None:
    rules = SenderRules(alphanumeric=False, long_code=False, short_code=True, fallback="36180")
    choice = choose_sender("MYBRAND", T, rules, 33)
    assert choice.fell_back
    assert choice.address is not None
    assert choice.address.source_addr == "36180"
    assert choice.problem == "alphanumeric senders are not allowed"


def test_no_fallback_means_refusal() -> None:
    choice = choose_sender("MYBRAND", T, US, 1)
    assert choice.address is None
    assert choice.problem is not None


def test_allowed_sender_is_kept() -> None:
    choice = choose_sender("MYBRAND", T, OPEN, 33)
    assert not choice.fell_back
    assert choice.address is not None
    assert choice.address.source_addr == "MYBRAND"


# Issue 13 item 5: a numeric sender is TON 1 (international) only when it is E.164.

KR = SenderRules(alphanumeric=False, long_code=True, short_code=True, short_code_max_digits=6)


@pytest.mark.parametrize(
    ("sender", "region", "expected"),
    [
        # Seoul landline in national format: TON 2 with the national significant number,
        # "prefix or escape digits shall not be included" (3GPP TS 23.040 §9.1.2.5)
        ("0212345678", "KR", ("212345678", Ton.national, Npi.isdn)),
        # a Korean nationwide representative number (1588-xxxx): national, not +1 588 1234
        ("15881234", "KR", ("15881234", Ton.national, Npi.isdn)),
        ("+821012345678", "KR", ("821012345678", Ton.international, Npi.isdn)),
        # country code and national number without '+': E.164, so international
        ("821012345678", "KR", ("821012345678", Ton.international, Npi.isdn)),
        ("33612345678", "GB", ("33612345678", Ton.international, Npi.isdn)),
        # the international prefix of the destination's region (KR: 001) is E.164 too
        ("001821012345678", "KR", ("821012345678", Ton.international, Npi.isdn)),
        # neither a valid E.164 nor a national number there: sent as given, TON unknown
        ("999999999999", "KR", ("999999999999", Ton.unknown, Npi.isdn)),
    ],
)
def test_numeric_sender_is_international_only_when_it_is_e164(
    sender: str, region: str, expected: tuple[str, int, int]
) -> None:
    """SMPP 3.4 §5.2.5: TON 1 says the digits start with a country code. `15881234` sent as
    TON 1 reaches the handset as +1 588 1234 and `0212345678` as +0 212...; national-format
    and unreadable numbers must say so (TON 2, or TON 0 "as dialled")."""
    address = sender_address(sender, KR, region)
    assert (address.source_addr, address.ton, address.npi) == expected


def test_country_may_send_national_numbers_as_dialled_with_ton_unknown() -> None:
    """Some SMSCs want national numbers as dialled: `national_ton: 0` sends the digits given
    (trunk prefix kept) with TON 0, which TS 23.040 §9.1.2.5 defines as "as dialled"."""
    rules = dataclasses.replace(KR, national_ton=Ton.unknown)
    address = sender_address("0212345678", rules, "KR")
    assert (address.source_addr, address.ton, address.npi) == ("0212345678", Ton.unknown, 1)


def test_national_format_sender_is_local_for_a_local_only_country() -> None:
    """`long_code_local_only` (US: +1 numbers only) accepts a national-format US number and
    still refuses a foreign E.164 one, by country code rather than by leading digits."""
    assert sender_problem("4155550100", T, US, 1, "US") is None
    assert sender_address("4155550100", US, "US").ton == Ton.national
    problem = sender_problem("447911123456", T, US, 1, "US")
    assert problem is not None
    assert "only +1" in problem
