"""Sender IDs: classification, TON/NPI, country rules, registration and the fallback sender."""

from __future__ import annotations

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
