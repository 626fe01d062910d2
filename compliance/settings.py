"""Compliance settings: `config/compliance.yaml` (defaults) plus `config/countries/*.yaml`.

Loaded with `yaml.safe_load` into frozen dataclasses by walking `dataclasses.fields()`
(schema.py); unknown keys are errors naming their path. Passed down through constructors; there
is no module-level settings object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from compliance.country_rules import CountryRule, CountryRules, load_country_rules
from compliance.errors import ComplianceConfigError
from compliance.frequency_cap import CapRule
from compliance.keywords import KeywordSettings
from compliance.numbers import NumberKind
from compliance.quiet_hours import QuietHours
from compliance.schema import build_dataclass, safe_load
from compliance.verdict import Category


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmationTexts:
    """Optional replies to MO keywords (None: send nothing)."""

    opt_out: str | None = None
    opt_out_all: str | None = None
    opt_in: str | None = None
    help: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantSettings:
    """Per-tenant overrides; a tenant window applies on top of the country's."""

    quiet_hours: QuietHours | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplianceSettings:
    """The contents of compliance.yaml."""

    redis_prefix: str = "smsgw:"
    default_region: str | None = None
    number_cache_size: int = 100_000
    number_kinds: frozenset[NumberKind] = frozenset(
        {NumberKind.mobile, NumberKind.fixed_line_or_mobile}
    )
    max_parts: int = 10
    region_aliases: dict[str, str] = field(default_factory=dict)
    opt_out_scope: Literal["sender", "global"] = "sender"
    opt_out_categories: frozenset[Category] = frozenset(Category)
    sender_scope_aliases: dict[str, str] = field(default_factory=dict)
    keywords: KeywordSettings
    confirmations: ConfirmationTexts = ConfirmationTexts()
    caps: tuple[CapRule, ...] = ()
    conversion_suppression_seconds: int = 7 * 24 * 3600
    tenants: dict[str, TenantSettings] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComplianceConfig:
    """Settings plus the country table: what `CompliancePolicy` is built from."""

    settings: ComplianceSettings
    countries: CountryRules


def parse_settings(text: str, label: str = "compliance.yaml") -> ComplianceSettings:
    """Parse compliance.yaml text; errors name `label` and the key path."""
    data = safe_load(text, label)
    settings = build_dataclass(ComplianceSettings, data, f"{label}: ")
    for index, cap in enumerate(settings.caps):
        if cap.limit < 1 or cap.window_seconds < 1:
            raise ComplianceConfigError(
                f"{label}: caps[{index}]: limit and window_seconds must be >= 1"
            )
    if not 1 <= settings.max_parts <= 255:
        raise ComplianceConfigError(
            f"{label}: max_parts: expected 1..255, got {settings.max_parts}"
        )
    return settings


def load_compliance_config(config_dir: Path) -> ComplianceConfig:
    """Load `<config_dir>/compliance.yaml` and `<config_dir>/countries/*.yaml`.

    Raises:
        ComplianceConfigError: a file is missing or malformed (the message names it).
    """
    path = config_dir / "compliance.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComplianceConfigError(f"{path.name}: cannot read: {exc}") from None
    settings = parse_settings(text, path.name)
    rules: dict[str, CountryRule] = load_country_rules(config_dir / "countries")
    _check_aliases(settings.region_aliases, rules, path.name)
    return ComplianceConfig(settings, CountryRules(rules, settings.region_aliases))


def _check_aliases(aliases: dict[str, str], rules: dict[str, CountryRule], label: str) -> None:
    """`region_aliases` may add regions, not contradict a country file's `applies_to`."""
    for rule in rules.values():
        for region in rule.applies_to:
            target = aliases.get(region, rule.country)
            if target != rule.country:
                raise ComplianceConfigError(
                    f"{label}: region_aliases.{region}: {target!r}, but countries/ lists "
                    f"{region} under {rule.country}'s applies_to"
                )
