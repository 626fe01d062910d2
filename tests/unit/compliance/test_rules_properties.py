"""Properties: whatever the order of MO keywords, conversions and clock moves, no marketing
message is allowed inside a quiet window, to an opted-out recipient or during suppression."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.policy import CompliancePolicy
from compliance.quiet_hours import is_allowed_at
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome
from tests.unit.compliance.fake_store import MemoryComplianceStore

ROOT = Path(__file__).resolve().parents[3]
CONFIG = load_compliance_config(ROOT / "config")
FR = CONFIG.countries.for_region("FR")
PARIS = ZoneInfo("Europe/Paris")
OUR_NUMBERS = ("36180", "36181", "36182")
MSISDN = "33612345678"
START = datetime(2026, 3, 20, tzinfo=UTC)  # spans the 29 March DST change and Sundays

Event = tuple[str, int]
EVENTS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["stop", "stopall", "start", "send", "convert"]), st.integers(0, 2)
        ),
        st.tuples(st.just("advance"), st.integers(1, 60 * 30)),  # minutes
    ),
    max_size=40,
)


class Model:
    """User intent, independent of the store's encoding: the last word about a sender decides."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}
        self.suppressed_until: datetime | None = None

    def opted_out(self, sender: str) -> bool:
        return self.last.get(sender, "start") in ("stop", "stopall")

    def apply(self, word: str, sender: str) -> None:
        if word == "stopall":
            self.last = dict.fromkeys(OUR_NUMBERS, "stopall")
        else:
            self.last[sender] = word


@settings(max_examples=60, deadline=None)
@given(events=EVENTS, category=st.sampled_from(list(Category)))
async def test_no_marketing_to_opted_out_or_in_quiet_hours_or_suppressed(
    events: list[Event], category: Category
) -> None:
    config = ComplianceConfig(dataclasses.replace(CONFIG.settings, caps=()), CONFIG.countries)
    policy = CompliancePolicy(config, MemoryComplianceStore())
    model, now = Model(), START
    for kind, value in events:
        if kind == "advance":
            now += timedelta(minutes=value)
        elif kind == "convert":
            until = await policy.record_conversion(MSISDN, now, window=timedelta(hours=value + 1))
            model.suppressed_until = max(model.suppressed_until or until, until)  # type: ignore[type-var]
        elif kind == "send":
            await _check_send(policy, model, OUR_NUMBERS[value], category, now)
        else:
            await policy.handle_mo("+" + MSISDN, OUR_NUMBERS[value], kind.upper(), now)
            model.apply(kind, OUR_NUMBERS[value])


async def _check_send(
    policy: CompliancePolicy, model: Model, sender: str, category: Category, now: datetime
) -> None:
    text = "Promo STOP au 36180"
    req = ComplianceRequest(
        to=MSISDN, sender=sender, category=category, country_hint=None, text=text, parts=1
    )
    verdict = await policy.evaluate(req, now)
    if model.opted_out(sender) and category in CONFIG.settings.opt_out_categories:
        assert verdict.outcome is Outcome.suppress
    if verdict.outcome is not Outcome.allow or category is not Category.marketing:
        return
    assert FR is not None
    assert FR.quiet_hours is not None
    assert is_allowed_at(now, PARIS, FR.quiet_hours, FR.holidays)
    assert model.suppressed_until is None or model.suppressed_until <= now


def test_only_redis_stores_imports_redis() -> None:
    """Pure modules take a store Protocol; redis_stores.py is the one Redis boundary."""
    offenders = []
    for path in sorted((ROOT / "compliance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "redis" or n.startswith("redis.") for n in names):
                offenders.append(path.name)
    assert set(offenders) <= {"redis_stores.py"}
