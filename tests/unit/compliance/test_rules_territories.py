"""Territories: every region sharing a configured calling code resolves to an intended rule."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from compliance.country_rules import DEFAULT_COUNTRY, CountryRule, load_country_rules
from compliance.errors import ComplianceConfigError
from compliance.policy import CompliancePolicy
from compliance.registration import SenderRegistry
from compliance.sender_id import SenderProgram
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
CONFIG = load_compliance_config(CONFIG_DIR)
RULES = load_country_rules(CONFIG_DIR / "countries")


# the US territories' test senders (10DLC long codes), registered as config/countries/us.yaml
# requires (issue 13 item 6)
REGISTERED = ("17875550100", "16715550100", "16845550100")


def mobile(region: str) -> str:
    """phonenumbers' own example mobile number for `region`, as E.164 (domain.md §5.1)."""
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert number is not None, region
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def request(to: str, sender: str, category: Category = Category.marketing) -> ComplianceRequest:
    return ComplianceRequest(
        to=to, sender=sender, category=category, country_hint=None, text="Sale today", parts=1
    )


@pytest.fixture
def policy() -> CompliancePolicy:
    """The shipped rules, no caps, and the territories' test senders registered (10DLC) on
    a carrier, as a US sender must be (config/countries/us.yaml, carrier_registration)."""
    settings = dataclasses.replace(CONFIG.settings, caps=())
    registry = SenderRegistry(registered={"c": {SenderProgram.ten_dlc: frozenset(REGISTERED)}})
    return CompliancePolicy(
        ComplianceConfig(settings, CONFIG.countries), MemoryComplianceStore(), registry=registry
    )


def configured_calling_codes(rules: dict[str, CountryRule]) -> set[int]:
    regions = {code for code in rules if code != DEFAULT_COUNTRY}
    regions |= {region for rule in rules.values() for region in rule.applies_to}
    return {phonenumbers.country_code_for_region(region) for region in regions}


def test_every_region_of_a_configured_calling_code_is_accounted_for() -> None:
    """No region falls to the default rule by accident (issue: +1 787 got the DEFAULT rule).

    phonenumbers gives each territory its own region (PR, GU, GG, RE, ...), so a number of a
    configured calling code may land on a region without a file. Each such region must have
    its own file, be listed under exactly one file's `applies_to` (the rule it follows), or be
    listed in default.yaml's `applies_to` (reviewed: its own regulator, the generic rule).
    """
    claimed = {region for rule in RULES.values() for region in rule.applies_to}
    missing = [
        (code, region)
        for code in sorted(configured_calling_codes(RULES))
        for region in phonenumbers.region_codes_for_country_code(code)
        if region not in RULES and region not in claimed
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("region", "country"),
    [
        # 47 U.S.C. §153(57): "United States" includes the Territories and possessions, so the
        # TCPA (47 CFR 64.1200) reaches them; alphanumeric senders are not supported there.
        ("PR", "US"),
        ("VI", "US"),
        ("GU", "US"),
        ("AS", "US"),
        ("MP", "US"),
        ("CA", "CA"),  # Canada shares +1 but keeps its own rules (CASL, CTA short codes)
        ("JM", DEFAULT_COUNTRY),  # independent NANP country: its own regulator
        ("KY", DEFAULT_COUNTRY),  # British Overseas Territory: not Ofcom's UK rules
        ("KZ", DEFAULT_COUNTRY),  # shares +7 with Russia, but is a separate country
        ("GG", "GB"),  # Crown dependencies: UK numbering plan (domain.md §5.4)
        ("JE", "GB"),
        ("IM", "GB"),
        # French overseas departments: the CPCE applies in full; same national numbering
        # plan (ARCEP décision 2006-0509).
        ("RE", "FR"),
        ("YT", "FR"),
        ("GP", "FR"),
        ("MQ", "FR"),
        ("GF", "FR"),
        ("BL", "FR"),  # shares +590 with Guadeloupe
        ("MF", "FR"),
        ("NC", DEFAULT_COUNTRY),  # telecoms are a local competence in New Caledonia
        ("CX", "AU"),  # Spam Act 2003 s 13: extends to every external Territory
        ("CC", "AU"),
        ("AX", "FI"),
        ("SJ", "NO"),
        ("VA", "IT"),
    ],
)
def test_territory_resolves_to_its_intended_rule(region: str, country: str) -> None:
    rule = CONFIG.countries.for_region(region)
    assert rule is not None
    assert rule.country == country


async def test_puerto_rico_marketing_at_2230_local_waits_for_0800(policy: CompliancePolicy) -> None:
    """The issue's case: 22:30 in San Juan went out. TCPA 47 CFR 64.1200(c)(1): 08:00-21:00
    at the called party's location, and Puerto Rico is in the "United States" (47 U.S.C.
    §153(57)); America/Puerto_Rico is UTC-4 all year."""
    night = datetime(2026, 1, 14, 2, 30, tzinfo=UTC)  # Tuesday 22:30 AST
    verdict = await policy.evaluate(request("+17872345678", "+17875550100"), night)
    assert (verdict.outcome, verdict.reason, verdict.country) == (
        Outcome.defer,
        Reason.quiet_hours,
        "US",
    )
    assert verdict.defer_until == datetime(2026, 1, 14, 12, tzinfo=UTC)  # 08:00 AST
    assert verdict.quiet_zones == ("America/Puerto_Rico",)
    assert verdict.quiet_fallbacks == ()


@pytest.mark.parametrize("region", ["PR", "VI", "GU", "AS", "MP"])
async def test_us_territories_refuse_alphanumeric_senders(
    policy: CompliancePolicy, region: str
) -> None:
    """US sender rules: no alphanumeric IDs (reference README: not in the US, Canada or Puerto
    Rico); before the fix these numbers got the default rule, which allows them."""
    noon = datetime(2026, 1, 13, 17, tzinfo=UTC)
    verdict = await policy.evaluate(request(mobile(region), "Acme", Category.otp), noon)
    assert (verdict.outcome, verdict.reason, verdict.country) == (
        Outcome.reject,
        Reason.sender_not_allowed,
        "US",
    )


async def test_guam_quiet_hours_are_judged_in_guam_time(policy: CompliancePolicy) -> None:
    """TCPA hours are the recipient's local time: 21:30 in Guam (UTC+10), not New York's."""
    guam_night = datetime(2026, 1, 13, 11, 30, tzinfo=UTC)  # 21:30 ChST; 06:30 in New York
    verdict = await policy.evaluate(request(mobile("GU"), "+16715550100"), guam_night)
    assert verdict.outcome is Outcome.defer
    assert verdict.defer_until == datetime(2026, 1, 13, 22, tzinfo=UTC)  # 08:00 ChST
    assert verdict.quiet_zones == ("Pacific/Guam",)


async def test_american_samoa_is_judged_in_pago_pago_not_the_whole_nanp(
    policy: CompliancePolicy,
) -> None:
    """phonenumbers gives +1 684 mobiles all 42 NANP zones (Guam UTC+10 .. Pago Pago UTC-11),
    whose 08:00-21:00 windows never open together. The region is known exactly (AS), and the
    territory has one zone (IANA zone.tab), so us.yaml's region_time_zones decides: 22:00 in
    Pago Pago waits for 08:00 there, with no fallback."""
    night = datetime(2026, 1, 14, 9, tzinfo=UTC)  # Tuesday 22:00 SST (UTC-11)
    verdict = await policy.evaluate(request(mobile("AS"), "+16845550100"), night)
    assert verdict.outcome is Outcome.defer
    assert verdict.defer_until == datetime(2026, 1, 14, 19, tzinfo=UTC)  # 08:00 SST
    assert (verdict.quiet_zones, verdict.quiet_fallbacks) == (("Pacific/Pago_Pago",), ())


async def test_reunion_follows_french_rules_in_its_own_zone(policy: CompliancePolicy) -> None:
    """Réunion is a French overseas department: French marketing rules ("STOP au 3xxxx",
    20:00-08:00 quiet hours) apply, in Indian/Reunion time (UTC+4)."""
    evening = datetime(2026, 1, 13, 16, 30, tzinfo=UTC)  # 20:30 in Réunion, 17:30 in Paris
    no_stop = await policy.evaluate(request(mobile("RE"), "MYBRAND"), evening)
    assert (no_stop.reason, no_stop.country) == (Reason.missing_opt_out_text, "FR")
    promo = dataclasses.replace(request(mobile("RE"), "MYBRAND"), text="Promo STOP au 36180")
    verdict = await policy.evaluate(promo, evening)
    assert verdict.outcome is Outcome.defer
    assert verdict.defer_until == datetime(2026, 1, 14, 4, tzinfo=UTC)  # 08:00 in Réunion
    assert verdict.quiet_zones == ("Indian/Reunion",)


MINIMAL = """
country: {code}
name: X
source: ["test"]
time_zone: Europe/Paris
sender: {{alphanumeric: true, long_code: true, short_code: true}}
"""


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"fr": "applies_to: [RE]", "gb": "applies_to: [RE]"},
            "countries/gb.yaml: applies_to: RE is also listed by FR",
        ),
        (
            {"fr": "applies_to: [GB]", "gb": ""},
            "countries/fr.yaml: applies_to: GB has its own file",
        ),
        ({"fr": "applies_to: [XX]"}, "countries/fr.yaml: applies_to[0]: expected another"),
        ({"fr": "applies_to: [FR]"}, "countries/fr.yaml: applies_to[0]: expected another"),
        (
            {"fr": "applies_to: [RE]\nregion_time_zones: {GP: America/Guadeloupe}"},
            "countries/fr.yaml: region_time_zones.GP: not a region listed under applies_to",
        ),
    ],
)
def test_bad_applies_to_names_its_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    folder = tmp_path / "countries"
    folder.mkdir()
    for name, extra in files.items():
        text = MINIMAL.format(code=name.upper()) + extra + "\n"
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ComplianceConfigError, match=re.escape(message)):
        load_country_rules(folder)


def test_region_aliases_may_not_contradict_applies_to(tmp_path: Path) -> None:
    (tmp_path / "countries").mkdir()
    for code, extra in (("FR", "applies_to: [RE]\n"), ("GB", "")):
        text = MINIMAL.format(code=code) + extra
        (tmp_path / "countries" / f"{code.lower()}.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "compliance.yaml").write_text(
        "keywords: {opt_out: [STOP], opt_out_all: [], opt_in: [], help: []}\n"
        "region_aliases: {RE: GB, GG: GB}\n",
        encoding="utf-8",
    )
    with pytest.raises(ComplianceConfigError, match=r"region_aliases\.RE: 'GB', but countries/"):
        load_compliance_config(tmp_path)
