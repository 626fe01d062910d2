"""Country table and compliance.yaml: the shipped files load, and bad files fail by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.country_rules import CountryRule, load_country_rules, parse_country_rule
from compliance.errors import ComplianceConfigError
from compliance.holiday_calendar import HolidayCalendars
from compliance.settings import load_compliance_config, parse_settings
from compliance.verdict import Category

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


REQUIRED = _codes(
    "US CA GB IE FR DE ES IT NL BE PT PL SE NO DK FI CH AT TR RU IN CN JP KR AU NZ SG MY ID PH "
    "TH VN AE SA QA EG ZA NG KE BR MX AR CO CL PE"
)

MINIMAL = """
country: FR
name: France
source: ["test"]
time_zone: Europe/Paris
sender: {alphanumeric: true, long_code: false, short_code: true}
"""


def test_shipped_config_loads_with_every_high_traffic_country() -> None:
    config = load_compliance_config(CONFIG)
    countries = config.countries.countries()
    assert set(REQUIRED) <= set(countries)
    assert len(countries) >= 30


@pytest.fixture(scope="module")
def rules() -> dict[str, CountryRule]:
    return load_country_rules(CONFIG / "countries")


@pytest.mark.parametrize("iso", REQUIRED)
def test_every_country_cites_a_source_and_has_a_zone(
    iso: str, rules: dict[str, CountryRule]
) -> None:
    rule = rules[iso]
    assert rule.source
    assert rule.time_zone is not None


def test_unknown_region_gets_the_default_rule_and_aliases_map_to_gb() -> None:
    countries = load_compliance_config(CONFIG).countries
    default = countries.for_region("ZW")
    gb = countries.for_region("GG")
    assert default is not None
    assert default.country == "DEFAULT"
    assert gb is not None
    assert gb.country == "GB"


def test_france_rules_as_data(rules: dict[str, CountryRule]) -> None:
    rule = rules["FR"]
    assert rule.quiet_hours is not None
    assert rule.quiet_hours.closed_on_holidays
    assert rule.holiday_calendar == "FR"
    assert len([d for d in HolidayCalendars().around("FR", 2026) if d.year == 2026]) == 11
    assert rule.required_text[0].pattern.search("Promo -20% STOP au 36180")
    assert not rule.required_text[0].pattern.search("Promo -20%")
    assert rule.required_text[0].categories == frozenset({Category.marketing})


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            MINIMAL + "quiet_hours: {start: '25:00', end: '08:00'}\n",
            "countries/fr.yaml: quiet_hours.start: expected HH:MM, got '25:00'",
        ),
        (
            MINIMAL + "quiet_hours: {start: 20:00, end: '08:00'}\n",
            "countries/fr.yaml: quiet_hours.start: expected HH:MM, got 1200",
        ),
        (MINIMAL + "colour: blue\n", "countries/fr.yaml: colour: unknown key"),
        (
            MINIMAL.replace("short_code: true", "short_code: true, shortcode_ton: 3"),
            "countries/fr.yaml: sender.shortcode_ton: unknown key",
        ),
        (MINIMAL.replace("name: France\n", ""), "countries/fr.yaml: name: required key is missing"),
        (
            MINIMAL.replace("Europe/Paris", "Europe/Atlantis"),
            "countries/fr.yaml: time_zone: expected an IANA time zone name, got 'Europe/Atlantis'",
        ),
        (
            MINIMAL + "required_text: [{pattern: '(', description: x}]\n",
            "countries/fr.yaml: required_text[0].pattern: bad regular expression '('",
        ),
        (
            MINIMAL + "required_text: [{pattern: x, description: x, action: drop}]\n",
            "countries/fr.yaml: required_text[0].action: expected reject | flag, got 'drop'",
        ),
        (
            MINIMAL + "holidays: ['2026-02-30']\n",
            "countries/fr.yaml: holidays[0]: expected a date YYYY-MM-DD, got '2026-02-30'",
        ),
        (MINIMAL + "max_parts: 0\n", "countries/fr.yaml: max_parts: expected 1..255, got 0"),
        (MINIMAL.replace("country: FR", "country: NO"), "country: expected a string, got False"),
        (
            MINIMAL + "quiet_hours: {start: '20:00', end: '08:00', closed_on_holidays: true}\n",
            "countries/fr.yaml: holidays: required when closed_on_holidays",
        ),
        (
            MINIMAL.replace("long_code: false", "long_code: false, fallback: '+33612345678'"),
            "countries/fr.yaml: sender.fallback: long code senders are not allowed",
        ),
        ("- a list\n", "countries/fr.yaml: expected a mapping, got ['a list']"),
        (MINIMAL + "sender: [\n", "countries/fr.yaml: not valid YAML"),
        (MINIMAL + "holidays: [2026-02-30]\n", "countries/fr.yaml: not valid YAML: day is out"),
    ],
)
def test_bad_country_file_names_its_path(yaml_text: str, message: str) -> None:
    with pytest.raises(ComplianceConfigError) as caught:
        parse_country_rule(yaml_text, "countries/fr.yaml")
    assert message in str(caught.value)


def test_file_name_must_match_country(tmp_path: Path) -> None:
    (tmp_path / "de.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ComplianceConfigError, match=r"de\.yaml: country: expected 'DE', got 'FR'"):
        load_country_rules(tmp_path)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "keywords: {opt_out: [STOP], opt_out_all: [], opt_in: [YES], help: []}",
            "compliance.yaml: keywords.opt_in[0]: expected a string, got True",
        ),
        (
            "keywords: {opt_out: [], opt_out_all: [], opt_in: [], help: []}\nopt_out_scope: all",
            "compliance.yaml: opt_out_scope: expected 'sender' | 'global', got 'all'",
        ),
        (
            "keywords: {opt_out: [], opt_out_all: [], opt_in: [], help: []}\n"
            "caps: [{name: x, limit: 0, window_seconds: 60}]",
            "compliance.yaml: caps[0]: limit and window_seconds must be >= 1",
        ),
        (
            "keywords: {opt_out: [], opt_out_all: [], opt_in: [], help: []}\n"
            "caps: [{name: x, limit: 1, window_seconds: 60, categories: [promo]}]",
            "compliance.yaml: caps[0].categories[0]: expected transactional | otp | marketing",
        ),
        ("redis_prefix: x", "compliance.yaml: keywords: required key is missing"),
    ],
)
def test_bad_settings_name_their_path(yaml_text: str, message: str) -> None:
    with pytest.raises(ComplianceConfigError) as caught:
        parse_settings(yaml_text)
    assert message in str(caught.value)


def test_missing_settings_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ComplianceConfigError, match=r"compliance\.yaml: cannot read"):
        load_compliance_config(tmp_path)
