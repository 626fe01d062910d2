"""Country data fixes: Italy's part limit, Saudi promotional sender suffixes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compliance.country_rules import CountryRules
from compliance.policy import CompliancePolicy
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
NOON_UTC = datetime(2026, 1, 13, 11, tzinfo=UTC)  # Tuesday 14:00 in Riyadh, 12:00 in Rome
SA_MOBILE = "+966501234567"


def policy_with(country: str, **sender_changes: object) -> CompliancePolicy:
    rule = CONFIG.countries.for_region(country)
    assert rule is not None
    sender = dataclasses.replace(rule.sender, **sender_changes)  # type: ignore[arg-type]
    rules = CountryRules({country: dataclasses.replace(rule, sender=sender)}, {})
    settings = dataclasses.replace(CONFIG.settings, caps=())
    return CompliancePolicy(ComplianceConfig(settings, rules), MemoryComplianceStore())


def request(to: str, sender: str, category: Category, parts: int = 1) -> ComplianceRequest:
    return ComplianceRequest(
        to=to, sender=sender, category=category, country_hint=None, text="Offer", parts=parts
    )


async def test_italy_takes_ordinary_long_messages() -> None:
    """it.yaml had `max_parts: 5`, from Twilio's "Italy Short Code Best Practises" (short-code
    programs only); no source limits long messages from other senders in Italy, so the
    compliance.yaml default (10) applies and a 6-part message is not refused."""
    italy = CONFIG.countries.for_region("IT")
    assert italy is not None
    assert italy.max_parts is None
    policy = policy_with("IT")
    verdict = await policy.evaluate(
        request("+393123456789", "48000", Category.transactional, parts=6), NOON_UTC
    )
    assert verdict.allowed, verdict.detail
    assert verdict.max_parts == CONFIG.settings.max_parts


REGISTERED = frozenset({"Acme", "Acme-AD", "Acme AD", "ABCDEFGH-AD", "ABCDEFGHI-AD"})


@pytest.mark.parametrize(
    ("sender", "category", "outcome"),
    [
        # Vonage [S45a] and 8x8: promotional IDs carry "-AD" or " AD".
        ("Acme-AD", Category.marketing, Outcome.allow),
        ("Acme AD", Category.marketing, Outcome.allow),
        ("Acme", Category.marketing, Outcome.reject),  # no suffix: not a promotional ID
        ("AcmeAD", Category.marketing, Outcome.reject),  # glued: neither form
        ("Acme-ad", Category.marketing, Outcome.reject),  # case-sensitive (Vonage)
        # The suffix counts within the 11 characters [S45c].
        ("ABCDEFGH-AD", Category.marketing, Outcome.allow),
        ("ABCDEFGHI-AD", Category.marketing, Outcome.reject),
        # Transactional traffic needs no suffix; registration applies to all traffic.
        ("Acme", Category.transactional, Outcome.allow),
        ("Other-AD", Category.marketing, Outcome.reject),  # not registered
    ],
)
async def test_saudi_promotional_senders_carry_the_ad_suffix(
    sender: str, category: Category, outcome: Outcome
) -> None:
    policy = policy_with("SA", registered=REGISTERED)
    verdict = await policy.evaluate(request(SA_MOBILE, sender, category), NOON_UTC)
    assert verdict.outcome is outcome, verdict.detail
    if outcome is Outcome.reject:
        assert verdict.reason is Reason.sender_not_allowed
    else:
        assert verdict.source_addr == sender  # sent as registered: nothing appended
