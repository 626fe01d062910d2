"""Per-country rules as data: load `config/countries/*.yaml` into frozen `CountryRule`s.

One file per country, named by its ISO 3166-1 alpha-2 code in lower case (`fr.yaml` holds
`country: FR`); `default.yaml` (`country: DEFAULT`) applies to countries without a file. A
rule also covers the phonenumbers regions listed under its `applies_to` (territories that
follow it: PR, VI, GU, AS and MP follow US rules); `applies_to` in default.yaml lists regions
reviewed and deliberately left on the default rule, so that every region sharing a configured
calling code is accounted for. Files are read with `yaml.safe_load` and built by walking
`dataclasses.fields()` (compliance/schema.py), so an unknown key is an error naming its path.
Every file cites its sources under `source:`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers

from compliance.errors import ComplianceConfigError
from compliance.holiday_calendar import known_calendars
from compliance.numbers import NumberKind
from compliance.quiet_hours import QuietHours
from compliance.schema import build_dataclass, safe_load
from compliance.sender_id import SenderRules, sender_problem
from compliance.verdict import Category
from gateway.smpp.constants import Ton

DEFAULT_COUNTRY = "DEFAULT"


class TextAction(enum.StrEnum):
    """What a missing required text does: refuse the message, or let it pass with a flag."""

    reject = "reject"
    flag = "flag"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequiredText:
    """Wording a message of the listed categories must contain (searched anywhere)."""

    pattern: re.Pattern[str]
    description: str
    reason: Literal["missing_opt_out_text", "missing_required_text"] = "missing_opt_out_text"
    categories: frozenset[Category] = frozenset({Category.marketing})
    action: TextAction = TextAction.reject


@dataclass(frozen=True, slots=True, kw_only=True)
class CountryRule:
    """Everything compliance knows about one destination country."""

    country: str
    name: str
    source: tuple[str, ...]
    sender: SenderRules
    # The primary (most populous) zone: used when phonenumbers gives no zone for a number, and
    # for quiet hours when the windows of the number's zones never open together.
    time_zone: ZoneInfo | None = None
    applies_to: tuple[str, ...] = ()  # other phonenumbers regions that follow this rule
    # The zone of a one-zone territory in `applies_to`; replaces the number's zone list, which
    # phonenumbers sometimes gives for the whole calling code (American Samoa: 42 NANP zones).
    region_time_zones: dict[str, ZoneInfo] = field(default_factory=dict)
    number_kinds: frozenset[NumberKind] | None = None  # None: the compliance.yaml default
    max_parts: int | None = None  # None: the compliance.yaml default
    quiet_hours: QuietHours | None = None
    holidays: frozenset[date] = frozenset()  # extra closed dates, on top of the calendar
    holiday_calendar: str | None = None  # python-holidays code (compliance/holiday_calendar.py)
    required_text: tuple[RequiredText, ...] = ()
    notes: str = ""


class CountryRules:
    """Look-up of rules by phonenumbers region, with aliases (GG/JE/IM -> GB) and a default."""

    def __init__(self, rules: Mapping[str, CountryRule], aliases: Mapping[str, str]) -> None:
        """Args: rules by ISO code (plus DEFAULT); extra aliases from region to ISO code.

        Each rule's `applies_to` regions map to it; `aliases` (compliance.yaml
        `region_aliases`) are applied on top.
        """
        self._rules = dict(rules)
        self._aliases = {
            region: rule.country for rule in self._rules.values() for region in rule.applies_to
        }
        self._aliases.update(aliases)
        self._default = self._rules.get(DEFAULT_COUNTRY)

    def for_region(self, region: str) -> CountryRule | None:
        """The rule for a phonenumbers region code, the default rule, or None."""
        rule = self._rules.get(self._aliases.get(region, region))
        return rule if rule is not None else self._default

    def countries(self) -> tuple[str, ...]:
        """The ISO codes that have their own file, sorted."""
        return tuple(sorted(code for code in self._rules if code != DEFAULT_COUNTRY))


def load_country_rules(directory: Path) -> dict[str, CountryRule]:
    """Load every `*.yaml` under `directory` into rules keyed by ISO code.

    Raises:
        ComplianceConfigError: unreadable YAML, an unknown key, a bad value, or a file whose
            `country` does not match its name; the message names the file and key path.
    """
    rules: dict[str, CountryRule] = {}
    for path in sorted(directory.glob("*.yaml")):
        label = f"{directory.name}/{path.name}"
        rule = parse_country_rule(path.read_text(encoding="utf-8"), label)
        expected = DEFAULT_COUNTRY if path.stem == "default" else path.stem.upper()
        if rule.country != expected:
            raise ComplianceConfigError(
                f"{label}: country: expected {expected!r}, got {rule.country!r}"
            )
        rules[rule.country] = rule
    _check_regions(rules, directory.name)
    return rules


def _check_regions(rules: Mapping[str, CountryRule], folder: str) -> None:
    """Each region follows one rule: not listed twice, and not a country with its own file."""
    claimed: dict[str, str] = {}
    for rule in rules.values():
        label = f"{folder}/{'default' if rule.country == DEFAULT_COUNTRY else rule.country.lower()}"
        for region in rule.applies_to:
            if region in rules:
                raise ComplianceConfigError(f"{label}.yaml: applies_to: {region} has its own file")
            if region in claimed:
                raise ComplianceConfigError(
                    f"{label}.yaml: applies_to: {region} is also listed by {claimed[region]}"
                )
            claimed[region] = rule.country


def parse_country_rule(text: str, label: str) -> CountryRule:
    """Parse and check one country file's text; `label` prefixes error messages."""
    data = safe_load(text, label)
    rule = build_dataclass(CountryRule, data, f"{label}: ")
    _check_rule(rule, label)
    return rule


def _check_rule(rule: CountryRule, label: str) -> None:
    if not rule.source:
        raise ComplianceConfigError(f"{label}: source: cite at least one source")
    quiet = rule.quiet_hours
    if quiet is not None and len(quiet.closed_days) == 7:
        raise ComplianceConfigError(f"{label}: quiet_hours.closed_days: every day is closed")
    if quiet is not None and rule.time_zone is None:
        raise ComplianceConfigError(f"{label}: time_zone: required when quiet_hours is set")
    _check_holidays(rule, label)
    _check_territories(rule, label)
    if rule.max_parts is not None and not 1 <= rule.max_parts <= 255:
        raise ComplianceConfigError(f"{label}: max_parts: expected 1..255, got {rule.max_parts}")
    if rule.sender.national_ton not in (Ton.national, Ton.unknown):
        raise ComplianceConfigError(
            f"{label}: sender.national_ton: expected 2 (national) or 0 (unknown), "
            f"got {int(rule.sender.national_ton)}"
        )
    fallback = rule.sender.fallback
    if fallback is not None:
        code = phonenumbers.country_code_for_region(rule.country)
        region = rule.country if code else None
        problem = sender_problem(fallback, Category.transactional, rule.sender, code, region)
        if problem is not None:
            raise ComplianceConfigError(f"{label}: sender.fallback: {problem}")


def _check_holidays(rule: CountryRule, label: str) -> None:
    quiet = rule.quiet_hours
    if quiet is not None and quiet.closed_on_holidays and not _has_holidays(rule):
        raise ComplianceConfigError(
            f"{label}: holidays: required when closed_on_holidays (or a holiday_calendar)"
        )
    calendar = rule.holiday_calendar
    if calendar is not None and calendar not in known_calendars():
        raise ComplianceConfigError(
            f"{label}: holiday_calendar: {calendar!r} is not a python-holidays calendar"
        )


def _check_territories(rule: CountryRule, label: str) -> None:
    for index, region in enumerate(rule.applies_to):
        if region == rule.country or phonenumbers.country_code_for_region(region) == 0:
            raise ComplianceConfigError(
                f"{label}: applies_to[{index}]: expected another phonenumbers region, "
                f"got {region!r}"
            )
    for region in rule.region_time_zones:
        if region not in rule.applies_to:
            raise ComplianceConfigError(
                f"{label}: region_time_zones.{region}: not a region listed under applies_to"
            )


def _has_holidays(rule: CountryRule) -> bool:
    return bool(rule.holidays) or rule.holiday_calendar is not None
