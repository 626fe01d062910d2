"""Public holidays for quiet hours: computed for any year (python-holidays), per territory."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from compliance.country_rules import parse_country_rule
from compliance.errors import ComplianceConfigError
from compliance.holiday_calendar import HolidayCalendars, calendar_for
from compliance.policy import CompliancePolicy
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
PROMO = "Soldes -20% STOP au 36180"


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Meeus/Jones/Butcher algorithm), independent of
    python-holidays, to check it against."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


@pytest.mark.parametrize(
    ("year", "sunday"),
    [(2026, date(2026, 4, 5)), (2028, date(2028, 4, 16)), (2038, date(2038, 4, 25))],
)
def test_easter_reference_dates(year: int, sunday: date) -> None:
    assert easter(year) == sunday


@pytest.mark.parametrize("year", range(2026, 2061))
def test_french_public_holidays_any_year(year: int) -> None:
    """Code du travail L3133-1 lists eleven jours fériés: eight fixed dates and three tied to
    Easter (lundi de Pâques +1 day, Ascension +39, lundi de Pentecôte +50). The old country
    file listed 2026-2027 only; the calendar must hold them for every year."""
    sunday = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    expected = {date(year, m, d) for m, d in fixed}
    expected |= {sunday + timedelta(days=n) for n in (1, 39, 50)}
    got = {d for d in HolidayCalendars().around("FR", year) if d.year == year}
    assert got == expected


@pytest.mark.parametrize(
    ("region", "day"),
    [
        # Décret 83-1003 du 23 novembre 1983: abolition of slavery, a public holiday on a
        # different date in each overseas department.
        ("GP", date(2027, 5, 27)),
        ("MQ", date(2027, 5, 22)),
        ("GF", date(2027, 6, 10)),
        ("RE", date(2027, 12, 20)),
        ("YT", date(2027, 4, 27)),
    ],
)
def test_overseas_departments_close_on_their_own_holiday(region: str, day: date) -> None:
    calendar = calendar_for(region, "FR", "FR")
    assert calendar == region
    assert day in HolidayCalendars().around(calendar, 2027)
    assert day not in HolidayCalendars().around("FR", 2027)


def test_calendar_for_uses_the_rule_calendar_or_none() -> None:
    assert calendar_for("FR", "FR", "FR") == "FR"
    assert calendar_for("RE", "FR", None) is None  # no calendar on the rule: no holidays
    assert calendar_for("GG", "GB", None) is None


@pytest.fixture
def policy() -> CompliancePolicy:
    settings = dataclasses.replace(CONFIG.settings, caps=())
    return CompliancePolicy(ComplianceConfig(settings, CONFIG.countries), MemoryComplianceStore())


def promo(to: str) -> ComplianceRequest:
    return ComplianceRequest(
        to=to, sender="MYBRAND", category=Category.marketing, country_hint=None, text=PROMO, parts=1
    )


async def test_easter_monday_2031_holds_french_marketing(policy: CompliancePolicy) -> None:
    """Past the old list's end (2027): Easter Monday 14 April 2031, 10:00 in Paris, waits for
    Tuesday 08:00 (French marketing: no Sundays or public holidays, Vonage/Bird/Brevo)."""
    verdict = await policy.evaluate(promo("+33612345678"), datetime(2031, 4, 14, 8, tzinfo=UTC))
    assert (verdict.outcome, verdict.reason) == (Outcome.defer, Reason.quiet_hours)
    assert verdict.defer_until == datetime(2031, 4, 15, 6, tzinfo=UTC)  # 08:00 CEST


async def test_reunion_holiday_holds_marketing_there_only(policy: CompliancePolicy) -> None:
    """Monday 20 December 2027 is a public holiday in Réunion, not in metropolitan France."""
    morning = datetime(2027, 12, 20, 7, tzinfo=UTC)  # 11:00 in Réunion, 08:00 in Paris
    reunion = await policy.evaluate(promo("+262692123456"), morning)
    assert reunion.outcome is Outcome.defer
    assert reunion.defer_until == datetime(2027, 12, 21, 4, tzinfo=UTC)  # Tuesday 08:00 RET
    paris = await policy.evaluate(promo("+33612345678"), morning)
    assert paris.allowed


MINIMAL = """
country: FR
name: France
source: ["test"]
time_zone: Europe/Paris
sender: {alphanumeric: true, long_code: false, short_code: true}
quiet_hours: {start: '20:00', end: '08:00', closed_on_holidays: true}
"""


def test_unknown_holiday_calendar_is_a_config_error() -> None:
    with pytest.raises(ComplianceConfigError, match="holiday_calendar: 'XX' is not a python"):
        parse_country_rule(MINIMAL + "holiday_calendar: XX\n", "countries/fr.yaml")


def test_holiday_calendar_satisfies_closed_on_holidays() -> None:
    rule = parse_country_rule(MINIMAL + "holiday_calendar: FR\n", "countries/fr.yaml")
    assert rule.holiday_calendar == "FR"
    assert rule.holidays == frozenset()
