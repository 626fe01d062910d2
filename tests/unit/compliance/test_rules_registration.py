"""US sender registration per carrier: 10DLC, toll-free and short codes (issue 13 item 6).

In the US, A2P traffic from a long code or short code is only carried when the sender is
registered through the connection that hosts it: 10DLC numbers are bound to a brand's
campaign in The Campaign Registry, toll-free numbers are verified, short codes are leased and
provisioned carrier by carrier; carriers block (and fine) the rest (domain.md §3 row US,
[S61a][S61b][S61f]). So registrations are per carrier, and every carrier a route may pick,
fallbacks included, must have the sender.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance.policy import CompliancePolicy
from compliance.registration import SenderRegistry, sender_program
from compliance.sender_id import SenderProgram, SenderRules, sender_address
from compliance.settings import load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from gateway.config import settings_from_mapping
from gateway.engine.compliance_wiring import sender_registry
from gateway.smpp.constants import Ton
from tests.unit.compliance.fake_store import MemoryComplianceStore
from tests.unit.compliance.test_rules_policy import TUESDAY_MORNING

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
US_RULES = SenderRules(alphanumeric=False, long_code=True, short_code=True, short_code_max_digits=6)
US_MOBILE = "+14155552671"
TEN_DLC, TOLL_FREE, SHORT = "+14155550100", "+18005550100", "12345"


@pytest.mark.parametrize(
    ("sender", "program"),
    [
        (TEN_DLC, SenderProgram.ten_dlc),
        ("4155550100", SenderProgram.ten_dlc),  # national format: +1 415 555 0100
        (TOLL_FREE, SenderProgram.toll_free),
        ("+18885550100", SenderProgram.toll_free),
        (SHORT, SenderProgram.short_code),
    ],
)
def test_us_senders_are_classified_by_program(sender: str, program: SenderProgram) -> None:
    """Toll-free (8XX) is told from a 10-digit long code by phonenumbers' number type
    (TOLL_FREE, domain.md §5.2); up to 6 digits is a US short code (5-6 digits)."""
    assert sender_program(sender_address(sender, US_RULES, "US"), 1) is program


def carrier(name: str, **registered: list[str]) -> dict[str, Any]:
    return {"name": name, "system_id": "x", "registered_senders": registered}


def policy(carriers: list[dict[str, Any]], fallbacks: tuple[str, ...] = ()) -> CompliancePolicy:
    settings = settings_from_mapping(
        {
            "carriers": carriers,
            "routes": [
                {"name": "us", "countries": ["US"], "targets": [{"carrier": carriers[0]["name"]}],
                 "fallbacks": list(fallbacks)},
                {"name": "default", "targets": [{"carrier": carriers[0]["name"]}]},
            ],
        }
    )  # fmt: skip
    return CompliancePolicy(CONFIG, MemoryComplianceStore(), registry=sender_registry(settings))


async def verdict_for(p: CompliancePolicy, sender: str, to: str = US_MOBILE) -> tuple[Any, ...]:
    request = ComplianceRequest(to=to, sender=sender, category=Category.transactional,
                                country_hint=None, text="Your code is 1234", parts=1)  # fmt: skip
    verdict = await p.evaluate(request, TUESDAY_MORNING)
    return verdict.outcome, verdict.reason, verdict.detail


@pytest.mark.parametrize(
    ("sender", "registered"),
    [
        (TEN_DLC, {"ten_dlc": [TEN_DLC]}),
        ("4155550100", {"ten_dlc": ["14155550100"]}),  # '+' optional; national sender matches
        (TOLL_FREE, {"toll_free": [TOLL_FREE]}),
        (SHORT, {"short_code": [SHORT]}),
    ],
)
async def test_registered_us_sender_is_allowed(sender: str, registered: dict[str, Any]) -> None:
    outcome, reason, _ = await verdict_for(policy([carrier("a", **registered)]), sender)
    assert (outcome, reason) == (Outcome.allow, Reason.allowed)


@pytest.mark.parametrize(
    ("sender", "registered", "named"),
    [
        (TEN_DLC, {}, "ten_dlc"),
        (TOLL_FREE, {"ten_dlc": [TOLL_FREE]}, "toll_free"),  # verified as toll-free, not 10DLC
        (SHORT, {"ten_dlc": [TEN_DLC]}, "short_code"),
    ],
)
async def test_unregistered_us_sender_is_refused_with_a_clear_reason(
    sender: str, registered: dict[str, Any], named: str
) -> None:
    outcome, reason, detail = await verdict_for(policy([carrier("a", **registered)]), sender)
    assert (outcome, reason) == (Outcome.reject, Reason.sender_not_registered)
    assert named in detail
    assert "carrier a" in detail


async def test_every_carrier_the_route_may_use_needs_the_registration() -> None:
    """A 10DLC number is hosted by one provider; if the route could fail over to a carrier
    without it, that carrier would block the traffic, so the sender is refused up front and
    the carrier lacking it is named."""
    carriers = [carrier("a", ten_dlc=[TEN_DLC]), carrier("b")]
    outcome, reason, detail = await verdict_for(policy(carriers, fallbacks=("b",)), TEN_DLC)
    assert (outcome, reason) == (Outcome.reject, Reason.sender_not_registered)
    assert "not registered on carrier b" in detail
    carriers[1] = carrier("b", ten_dlc=[TEN_DLC])
    outcome, reason, _ = await verdict_for(policy(carriers, fallbacks=("b",)), TEN_DLC)
    assert (outcome, reason) == (Outcome.allow, Reason.allowed)


async def test_registration_is_not_asked_outside_the_us() -> None:
    """Only countries naming `carrier_registration` check it (here GB, from a UK number)."""
    outcome, reason, _ = await verdict_for(policy([carrier("a")]), "+447700900123",
                                           to="+447911123456")  # fmt: skip
    assert reason is not Reason.sender_not_registered
    assert outcome is Outcome.allow


async def test_policy_without_a_registry_registers_nothing() -> None:
    """Safe by default: a policy built without carrier data refuses US long codes."""
    p = CompliancePolicy(CONFIG, MemoryComplianceStore())
    outcome, reason, detail = await verdict_for(p, TEN_DLC)
    assert (outcome, reason) == (Outcome.reject, Reason.sender_not_registered)
    assert "not registered on any carrier" in detail
    assert SenderRegistry().route_carriers is None
    assert sender_address(TEN_DLC, US_RULES, "US").ton == Ton.international
