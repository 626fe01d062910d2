"""Quiet hours across many zones: the earliest common instant, else the primary zone; no refusal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.country_rules import CountryRules
from compliance.policy import CompliancePolicy
from compliance.quiet_hours import (
    QuietFallback,
    QuietHours,
    Weekday,
    is_allowed_at,
    plan_quiet_hours,
)
from compliance.settings import ComplianceConfig, TenantSettings, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
RU_MOBILE = "+79123456789"  # phonenumbers: 16 zones, Europe/Bucharest (UTC+2) .. Anadyr (+12)
MOSCOW = ZoneInfo("Europe/Moscow")
NO_HOLIDAYS: frozenset[date] = frozenset()


def ru_policy(start: int, end: int) -> CompliancePolicy:
    """The shipped RU rule, BRAND registered, a marketing window quiet `start`-`end` o'clock.

    (RU quiet hours are not modelled in ru.yaml: only a low-reliability source gives them.)
    """
    rule = CONFIG.countries.for_region("RU")
    assert rule is not None
    window = QuietHours(start=time(start), end=time(end))
    sender = dataclasses.replace(rule.sender, registered=frozenset({"BRAND"}))
    rules = CountryRules({"RU": dataclasses.replace(rule, quiet_hours=window, sender=sender)}, {})
    config = ComplianceConfig(dataclasses.replace(CONFIG.settings, caps=()), rules)
    return CompliancePolicy(config, MemoryComplianceStore())


def marketing(
    to: str = RU_MOBILE, sender: str = "BRAND", tenant: str | None = None
) -> ComplianceRequest:
    return ComplianceRequest(
        to=to,
        sender=sender,
        category=Category.marketing,
        country_hint=None,
        text="Sale STOP au 36180",
        parts=1,
        tenant=tenant,
    )


async def test_zones_that_overlap_get_the_earliest_common_instant() -> None:
    """09:00-21:00 across UTC+2..+12 leaves 07:00-09:00 UTC: conservative (domain.md §5.3:
    the latest local start and the earliest local end) when such an instant exists."""
    policy = ru_policy(21, 9)
    noon_moscow = datetime(2026, 1, 13, 9, tzinfo=UTC)  # 12:00 MSK, 21:00 in Anadyr
    verdict = await policy.evaluate(marketing(), noon_moscow)
    assert (verdict.outcome, verdict.reason) == (Outcome.defer, Reason.quiet_hours)
    assert verdict.defer_until == datetime(2026, 1, 14, 7, tzinfo=UTC)  # 09:00 at UTC+2
    assert len(verdict.quiet_zones) == 16
    assert verdict.quiet_fallbacks == ()


async def test_zones_that_never_open_together_use_the_primary_zone() -> None:
    """10:00-19:00 (9 h) cannot be open at once in zones 10 h apart. The issue: such a message
    was refused ("never overlap"). Now the country's primary zone decides and the verdict
    says so (fallback, flag and detail)."""
    policy = ru_policy(19, 10)
    evening_moscow = datetime(2026, 1, 13, 17, tzinfo=UTC)  # 20:00 MSK
    verdict = await policy.evaluate(marketing(), evening_moscow)
    assert (verdict.outcome, verdict.reason) == (Outcome.defer, Reason.quiet_hours)
    assert verdict.defer_until == datetime(2026, 1, 14, 7, tzinfo=UTC)  # 10:00 MSK
    assert verdict.quiet_zones == ("Europe/Moscow",)
    assert verdict.quiet_fallbacks == (QuietFallback.primary_zone,)
    assert "quiet_hours_primary_zone" in verdict.flags
    assert "primary zone" in verdict.detail
    assert "Europe/Moscow" in verdict.detail


async def test_primary_zone_fallback_allows_inside_the_primary_window() -> None:
    policy = ru_policy(19, 10)
    verdict = await policy.evaluate(marketing(), datetime(2026, 1, 13, 10, tzinfo=UTC))
    assert verdict.allowed
    assert verdict.quiet_fallbacks == (QuietFallback.primary_zone,)
    assert "quiet_hours_primary_zone" in verdict.flags


async def test_tenant_window_that_never_opens_with_the_country_keeps_the_country_window() -> None:
    """A tenant window quiet 08:00-20:00 against France's 20:00-08:00 leaves no instant; the
    country's window (the legal one) is honoured, and the verdict says the tenant's was not."""
    tenant = TenantSettings(quiet_hours=QuietHours(start=time(8), end=time(20)))
    settings_ = dataclasses.replace(CONFIG.settings, caps=(), tenants={"acme": tenant})
    policy = CompliancePolicy(
        ComplianceConfig(settings_, CONFIG.countries), MemoryComplianceStore()
    )
    req = dataclasses.replace(marketing("+33612345678", "MYBRAND"), tenant="acme")
    verdict = await policy.evaluate(req, datetime(2026, 1, 13, 9, tzinfo=UTC))  # 10:00 Paris
    assert verdict.allowed
    assert verdict.quiet_fallbacks == (QuietFallback.country_window,)
    assert verdict.quiet_zones == ("Europe/Paris",)


def test_primary_zone_not_among_the_numbers_zones_uses_the_first() -> None:
    zones = [ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/London")]
    narrow = QuietHours(start=time(11), end=time(10))  # open 10:00-11:00 only
    plan = plan_quiet_hours(
        datetime(2026, 1, 13, 12, tzinfo=UTC), zones, [narrow], NO_HOLIDAYS, MOSCOW
    )
    assert plan.zones == ("Asia/Tokyo",)
    assert plan.fallbacks == (QuietFallback.primary_zone,)
    assert plan.until == datetime(2026, 1, 14, 1, tzinfo=UTC)  # 10:00 in Tokyo


ALL_ZONES = [
    ZoneInfo(name)
    for name in (
        "Europe/Kaliningrad",
        "Europe/Moscow",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Vladivostok",
        "Asia/Kamchatka",
        "Pacific/Honolulu",
        "America/New_York",
    )
]
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))
WINDOWS = st.builds(
    QuietHours,
    start=TIMES,
    end=TIMES,
    closed_days=st.frozensets(st.sampled_from(list(Weekday)), max_size=3),
)


@settings(max_examples=40, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by API
        max_value=datetime(2027, 12, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zones=st.lists(st.sampled_from(ALL_ZONES), min_size=1, max_size=5, unique=True),
    windows=st.lists(WINDOWS, min_size=1, max_size=2),
)
def test_a_plan_always_exists_and_honours_what_it_names(
    now: datetime, zones: list[ZoneInfo], windows: list[QuietHours]
) -> None:
    """Never a refusal: a plan comes back, and its instant is open in every zone it names
    under every window it kept (all of them, or the country's after `country_window`)."""
    plan = plan_quiet_hours(now, zones, windows, NO_HOLIDAYS, MOSCOW)
    kept = windows[:1] if QuietFallback.country_window in plan.fallbacks else windows
    instant = now if plan.until is None else plan.until
    assert plan.until is None or plan.until > now
    for name in plan.zones:
        assert all(is_allowed_at(instant, ZoneInfo(name), w, NO_HOLIDAYS) for w in kept)
    if not plan.fallbacks:
        assert plan.zones == tuple(z.key for z in zones)


@pytest.mark.parametrize("category", [Category.transactional, Category.otp])
async def test_non_marketing_has_no_quiet_zone(category: Category) -> None:
    policy = ru_policy(19, 10)
    req = dataclasses.replace(marketing(), category=category)
    verdict = await policy.evaluate(req, datetime(2026, 1, 13, 17, tzinfo=UTC))
    assert verdict.allowed
    assert (verdict.quiet_zones, verdict.quiet_fallbacks) == ((), ())
