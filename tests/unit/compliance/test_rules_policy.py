"""CompliancePolicy.evaluate and handle_mo: the shipped country table with an in-memory store."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance import policy as policy_module
from compliance.country_rules import CountryRules, RequiredText, TextAction
from compliance.frequency_cap import CapAction, CapRule
from compliance.policy import CompliancePolicy, Prepared
from compliance.quiet_hours import QuietHours
from compliance.sender_id import choose_sender
from compliance.settings import ComplianceConfig, TenantSettings, load_compliance_config
from compliance.verdict import (
    Category,
    ComplianceRequest,
    MoAction,
    OptOutScope,
    Outcome,
    Reason,
    Verdict,
)
from gateway.smpp.constants import Npi, Ton
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
FR_MOBILE = "+33612345678"
# Tuesday 13 January 2026, 10:00 in Paris (09:00Z): inside every marketing window.
TUESDAY_MORNING = datetime(2026, 1, 13, 9, tzinfo=UTC)
TUESDAY_NIGHT = datetime(2026, 1, 13, 21, tzinfo=UTC)  # 22:00 in Paris
FR_PROMO = "Soldes -20% ce week-end. STOP au 36180"
M, T, OTP = Category.marketing, Category.transactional, Category.otp


def make_config(**changes: object) -> ComplianceConfig:
    settings = dataclasses.replace(CONFIG.settings, **changes)  # type: ignore[arg-type]
    return ComplianceConfig(settings, CONFIG.countries)


def request(
    to: str = FR_MOBILE,
    sender: str = "MYBRAND",
    category: Category = T,
    text: str = "Your parcel arrives today",
    parts: int = 1,
    **extra: object,
) -> ComplianceRequest:
    return ComplianceRequest(
        to=to,
        sender=sender,
        category=category,
        country_hint=None,
        text=text,
        parts=parts,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def store() -> MemoryComplianceStore:
    return MemoryComplianceStore()


@pytest.fixture
def policy(store: MemoryComplianceStore) -> CompliancePolicy:
    return CompliancePolicy(make_config(caps=()), store)


async def test_allowed_verdict_carries_smpp_addressing(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    verdict = await policy.evaluate(request(), TUESDAY_MORNING)
    assert verdict.allowed
    assert verdict.reason is Reason.allowed
    assert (verdict.destination_addr, verdict.dest_addr_ton, verdict.dest_addr_npi) == (
        "33612345678",
        Ton.international,
        Npi.isdn,
    )
    assert (verdict.source_addr, verdict.source_addr_ton, verdict.source_addr_npi) == (
        "MYBRAND",
        Ton.alphanumeric,
        Npi.unknown,
    )
    assert (verdict.country, verdict.max_parts, verdict.defer_until) == ("FR", 10, None)
    assert store.check_calls == 1  # one store round trip per evaluation


@pytest.mark.parametrize(
    ("req", "outcome", "reason"),
    [
        (request(to="+336"), Outcome.reject, Reason.invalid_number),
        (request(to="12345"), Outcome.reject, Reason.invalid_number),
        (request(to="+33142685300"), Outcome.reject, Reason.not_mobile),  # Paris landline
        (request(to="+14155552671", sender="MYBRAND"), Outcome.reject, Reason.sender_not_allowed),
        # US long codes need a carrier registration (10DLC): none is configured here
        (
            request(to="+14155552671", sender="+14155550100"),
            Outcome.reject,
            Reason.sender_not_registered,
        ),
        (request(sender="+33612345679"), Outcome.reject, Reason.sender_not_allowed),  # FR: P2P
        (request(sender="36180"), Outcome.allow, Reason.allowed),
        (request(sender="ABCDEFGHIJKL"), Outcome.reject, Reason.sender_not_allowed),
        (request(parts=11), Outcome.reject, Reason.too_many_parts),
        (
            request(to="+966501234567", sender="Acme", parts=2),
            Outcome.reject,
            Reason.too_many_parts,
        ),
        (request(to="+966501234567", sender="Acme"), Outcome.reject, Reason.sender_not_allowed),
        (request(category=M, text="Soldes -20%"), Outcome.reject, Reason.missing_opt_out_text),
        (request(category=M, text=FR_PROMO), Outcome.allow, Reason.allowed),
        (
            request(to="+60123456789", sender="62000", text="Hi"),
            Outcome.reject,
            Reason.missing_required_text,
        ),
        (
            request(to="+60123456789", sender="62000", text="RM0.00 Hi"),
            Outcome.allow,
            Reason.allowed,
        ),
        (request(to="+447911123456"), Outcome.allow, Reason.allowed),  # GG -> GB rules
        (request(to="+263771234567"), Outcome.allow, Reason.allowed),  # ZW -> default rule
    ],
)
async def test_static_rules_table(
    policy: CompliancePolicy,
    store: MemoryComplianceStore,
    req: ComplianceRequest,
    outcome: Outcome,
    reason: Reason,
) -> None:
    verdict = await policy.evaluate(req, TUESDAY_MORNING)
    assert (verdict.outcome, verdict.reason) == (outcome, reason), verdict.detail
    assert verdict.detail
    assert store.check_calls == (1 if outcome is Outcome.allow else 0)


async def test_gb_rules_apply_to_guernsey_numbers(policy: CompliancePolicy) -> None:
    verdict = await policy.evaluate(request(to="+447911123456"), TUESDAY_MORNING)
    assert verdict.country == "GB"


async def test_unknown_country_without_default_rule_is_rejected(
    store: MemoryComplianceStore,
) -> None:
    only_fr = {"FR": CONFIG.countries.for_region("FR")}
    config = ComplianceConfig(CONFIG.settings, CountryRules(only_fr, {}))  # type: ignore[arg-type]
    verdict = await CompliancePolicy(config, store).evaluate(
        request(to="+4915123456789"), TUESDAY_MORNING
    )
    assert verdict.reason is Reason.unsupported_country


async def test_fallback_sender_is_used_when_the_requested_one_is_refused(
    store: MemoryComplianceStore,
) -> None:
    fr = CONFIG.countries.for_region("FR")
    assert fr is not None
    patched = dataclasses.replace(fr, sender=dataclasses.replace(fr.sender, fallback="38100"))
    config = ComplianceConfig(CONFIG.settings, CountryRules({"FR": patched}, {}))
    verdict = await CompliancePolicy(config, store).evaluate(
        request(sender="+33612345679"), TUESDAY_MORNING
    )
    assert verdict.allowed
    assert (verdict.source_addr, verdict.source_addr_ton, verdict.source_addr_npi) == (
        "38100",
        Ton.network_specific,
        Npi.unknown,
    )


async def test_flag_action_allows_with_a_flag(store: MemoryComplianceStore) -> None:
    fr = CONFIG.countries.for_region("FR")
    assert fr is not None
    flagged = RequiredText(pattern=re.compile("STOP"), description="STOP", action=TextAction.flag)
    patched = dataclasses.replace(fr, required_text=(flagged,))
    config = ComplianceConfig(CONFIG.settings, CountryRules({"FR": patched}, {}))
    verdict = await CompliancePolicy(config, store).evaluate(
        request(category=M, text="Soldes"), TUESDAY_MORNING
    )
    assert verdict.allowed
    assert verdict.flags == ("missing_opt_out_text",)


@pytest.mark.parametrize(
    ("category", "outcome"), [(M, Outcome.defer), (T, Outcome.allow), (OTP, Outcome.allow)]
)
async def test_quiet_hours_hold_marketing_only(
    policy: CompliancePolicy, category: Category, outcome: Outcome
) -> None:
    verdict = await policy.evaluate(request(category=category, text=FR_PROMO), TUESDAY_NIGHT)
    assert verdict.outcome is outcome
    if outcome is Outcome.defer:
        assert verdict.reason is Reason.quiet_hours
        assert verdict.defer_until == datetime(2026, 1, 14, 7, tzinfo=UTC)  # 08:00 Paris


async def test_sunday_marketing_waits_for_monday(policy: CompliancePolicy) -> None:
    sunday_noon = datetime(2026, 1, 18, 11, tzinfo=UTC)
    verdict = await policy.evaluate(request(category=M, text=FR_PROMO), sunday_noon)
    assert verdict.defer_until == datetime(2026, 1, 19, 7, tzinfo=UTC)


async def test_tenant_window_applies_on_top_of_the_country(store: MemoryComplianceStore) -> None:
    tenant = TenantSettings(quiet_hours=QuietHours(start=time(9), end=time(11)))
    policy = CompliancePolicy(make_config(caps=(), tenants={"acme": tenant}), store)
    req = request(category=M, text=FR_PROMO, tenant="acme")
    verdict = await policy.evaluate(req, TUESDAY_MORNING)  # 10:00 Paris
    assert verdict.defer_until == datetime(2026, 1, 13, 10, tzinfo=UTC)
    other = await policy.evaluate(dataclasses.replace(req, tenant="other"), TUESDAY_MORNING)
    assert other.allowed


async def test_opted_out_recipient_gets_no_marketing(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    await store.add_opt_out("33612345678", None, TUESDAY_MORNING)
    verdict = await policy.evaluate(request(category=M, text=FR_PROMO), TUESDAY_MORNING)
    assert (verdict.outcome, verdict.reason) == (Outcome.suppress, Reason.opted_out)


@pytest.mark.parametrize("category", [T, OTP])
async def test_opted_out_recipient_still_gets_transactional_and_otp_by_default(
    policy: CompliancePolicy, store: MemoryComplianceStore, category: Category
) -> None:
    """config/compliance.yaml: opt_out_categories [marketing]; an OTP asked for still goes."""
    await store.add_opt_out("33612345678", None, TUESDAY_MORNING)
    verdict = await policy.evaluate(request(category=category), TUESDAY_MORNING)
    assert verdict.outcome is Outcome.allow


@pytest.mark.parametrize("category", [T, OTP])
async def test_opt_out_covers_every_listed_category(
    store: MemoryComplianceStore, category: Category
) -> None:
    policy = CompliancePolicy(make_config(caps=(), opt_out_categories=frozenset(Category)), store)
    await store.add_opt_out("33612345678", None, TUESDAY_MORNING)
    verdict = await policy.evaluate(request(category=category), TUESDAY_MORNING)
    assert (verdict.outcome, verdict.reason) == (Outcome.suppress, Reason.opted_out)


async def test_opt_out_outranks_quiet_hours(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    await store.add_opt_out("33612345678", "MYBRAND", TUESDAY_MORNING)
    verdict = await policy.evaluate(request(category=M, text=FR_PROMO), TUESDAY_NIGHT)
    assert verdict.reason is Reason.opted_out


async def test_per_sender_opt_out_leaves_other_senders(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    await store.add_opt_out("33612345678", "MYBRAND", TUESDAY_MORNING)
    assert (await policy.evaluate(request(sender="OTHER"), TUESDAY_MORNING)).allowed


async def test_opt_out_categories_are_configurable(store: MemoryComplianceStore) -> None:
    policy = CompliancePolicy(make_config(caps=(), opt_out_categories=frozenset({M})), store)
    await store.add_opt_out("33612345678", None, TUESDAY_MORNING)
    assert (await policy.evaluate(request(category=OTP), TUESDAY_MORNING)).allowed


async def test_conversion_suppresses_marketing_until_the_window_ends(
    policy: CompliancePolicy,
) -> None:
    until = await policy.record_conversion(FR_MOBILE, TUESDAY_MORNING, window=timedelta(days=2))
    assert until == TUESDAY_MORNING + timedelta(days=2)
    promo = request(category=M, text=FR_PROMO)
    suppressed = await policy.evaluate(promo, TUESDAY_MORNING + timedelta(hours=1))
    assert (suppressed.outcome, suppressed.reason) == (
        Outcome.suppress,
        Reason.conversion_suppressed,
    )
    assert (await policy.evaluate(request(), TUESDAY_MORNING)).allowed  # transactional
    later = await policy.evaluate(promo, TUESDAY_MORNING + timedelta(days=2, minutes=1))
    assert later.allowed


async def test_conversion_for_a_bad_number_records_nothing(policy: CompliancePolicy) -> None:
    assert await policy.record_conversion("nonsense", TUESDAY_MORNING) is None


WEEKLY = CapRule(name="weekly", limit=2, window_seconds=7 * 86400, categories=frozenset({M}))


async def test_frequency_cap_suppresses_over_the_limit(store: MemoryComplianceStore) -> None:
    policy = CompliancePolicy(make_config(caps=(WEEKLY,)), store)
    verdicts = [
        await policy.evaluate(
            request(category=M, text=FR_PROMO, message_id=f"m{i}"),
            TUESDAY_MORNING + timedelta(hours=i),
        )
        for i in range(3)
    ]
    assert [v.outcome for v in verdicts] == [Outcome.allow, Outcome.allow, Outcome.suppress]
    assert verdicts[2].reason is Reason.frequency_cap


async def test_frequency_cap_defers_until_the_window_frees(store: MemoryComplianceStore) -> None:
    deferring = dataclasses.replace(WEEKLY, on_exceed=CapAction.defer)
    policy = CompliancePolicy(make_config(caps=(deferring,)), store)
    for i in range(2):
        await policy.evaluate(
            request(category=M, text=FR_PROMO, message_id=f"m{i}"), TUESDAY_MORNING
        )
    verdict = await policy.evaluate(
        request(category=M, text=FR_PROMO, message_id="m2"), TUESDAY_MORNING
    )
    assert (verdict.outcome, verdict.reason) == (Outcome.defer, Reason.frequency_cap)
    assert verdict.defer_until == TUESDAY_MORNING + timedelta(days=7)


async def test_re_evaluating_a_message_does_not_count_it_twice(
    store: MemoryComplianceStore,
) -> None:
    policy = CompliancePolicy(make_config(caps=(WEEKLY,)), store)
    promo = request(category=M, text=FR_PROMO, message_id="same")
    for _ in range(5):
        assert (await policy.evaluate(promo, TUESDAY_MORNING)).allowed
    assert len(store.history["33612345678"]) == 1


async def test_dry_run_and_quiet_hours_consume_nothing(store: MemoryComplianceStore) -> None:
    policy = CompliancePolicy(make_config(caps=(WEEKLY,)), store)
    promo = request(category=M, text=FR_PROMO, message_id="x")
    assert (await policy.evaluate(promo, TUESDAY_MORNING, consume=False)).allowed
    assert (await policy.evaluate(promo, TUESDAY_NIGHT)).outcome is Outcome.defer
    assert store.history.get("33612345678", []) == []


async def test_stop_opts_out_of_the_number_it_was_sent_to(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    outcome = await policy.handle_mo("+33612345678", "36180", "Stop", TUESDAY_MORNING)
    assert (outcome.action, outcome.scope, outcome.keyword) == (
        MoAction.opt_out,
        OptOutScope.sender,
        "STOP",
    )
    assert outcome.msisdn == "33612345678"
    assert outcome.reply_text is not None
    assert await store.opted_out("33612345678", "36180") is OptOutScope.sender
    assert await store.opted_out("33612345678", "36181") is None


async def test_stopall_is_global_and_start_reopens_one_sender(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    await policy.handle_mo("33612345678", "36180", "STOPALL", TUESDAY_MORNING)
    assert await store.opted_out("33612345678", "36181") is OptOutScope.global_
    outcome = await policy.handle_mo("33612345678", "36180", "start", TUESDAY_MORNING)
    assert outcome.action is MoAction.opt_in
    assert await store.opted_out("33612345678", "36180") is None
    assert await store.opted_out("33612345678", "36181") is OptOutScope.global_


async def test_sender_scope_aliases_link_an_alpha_brand_to_its_reply_number(
    store: MemoryComplianceStore,
) -> None:
    policy = CompliancePolicy(
        make_config(caps=(), sender_scope_aliases={"36180": "MYBRAND"}), store
    )
    await policy.handle_mo("+33612345678", "36180", "STOP", TUESDAY_MORNING)
    marketing = request(sender="MYBRAND", category=M, text=FR_PROMO)
    verdict = await policy.evaluate(marketing, TUESDAY_MORNING)
    assert verdict.reason is Reason.opted_out


async def test_global_scope_config_makes_stop_global(store: MemoryComplianceStore) -> None:
    policy = CompliancePolicy(make_config(caps=(), opt_out_scope="global"), store)
    outcome = await policy.handle_mo("+33612345678", "36180", "STOP", TUESDAY_MORNING)
    assert outcome.scope is OptOutScope.global_
    assert await store.opted_out("33612345678", "ANY") is OptOutScope.global_


@pytest.mark.parametrize(
    ("text", "action"), [("HELP", MoAction.help), ("hello there", MoAction.none)]
)
async def test_help_and_other_words_change_nothing(
    policy: CompliancePolicy, store: MemoryComplianceStore, text: str, action: MoAction
) -> None:
    outcome = await policy.handle_mo("+33612345678", "36180", text, TUESDAY_MORNING)
    assert outcome.action is action
    assert store.opt_outs == {}


async def test_mo_from_an_unparseable_number_changes_nothing(
    policy: CompliancePolicy, store: MemoryComplianceStore
) -> None:
    outcome = await policy.handle_mo("abc", "36180", "STOP", TUESDAY_MORNING)
    assert (outcome.action, outcome.msisdn, outcome.reply_text) == (MoAction.opt_out, None, None)
    assert store.opt_outs == {}


@pytest.mark.parametrize(
    ("sender", "addressing"),
    [
        ("15881234", ("15881234", Ton.national, Npi.isdn)),
        ("0212345678", ("212345678", Ton.national, Npi.isdn)),
        ("+821012345678", ("821012345678", Ton.international, Npi.isdn)),
    ],
)
async def test_korean_national_senders_are_not_sent_as_international(
    policy: CompliancePolicy, sender: str, addressing: tuple[str, int, int]
) -> None:
    """Issue 13: `15881234` to Korea went out TON 1 / NPI 1, i.e. +1 588 1234. A number in
    Korean national format is TON 2 (SMPP 3.4 §5.2.5; TS 23.040 §9.1.2.5)."""
    verdict = await policy.evaluate(request(to="+821012345678", sender=sender), TUESDAY_MORNING)
    assert verdict.allowed, verdict.detail
    assert (verdict.source_addr, verdict.source_addr_ton, verdict.source_addr_npi) == addressing


SENDER_EXAMPLES = (
    "MYBRAND", "Acme", "acme", "AD-Shop", "Shop-AD", "ABCDEFGHIJKL", "A", "", "12345", "36180",
    "+14155550100", "4155550100", "+18005550100", "+447700900123", "07700900123", "0212345678",
    "15881234", "+33612345679", "0612345679",
)  # fmt: skip
# Several numbers per region; regions that share a rule (GB/GG/IM, US/PR) or only a calling
# code (US/CA, RU/KZ).
DESTINATIONS = (
    "+33612345678", "+33612345679", "+447911123456", "+447700900123", "+447624123456",
    "+14155552671", "+12125551234", "+17875550100", "+14165551234", "+79123456789",
    "+77012345678", "+821012345678", "+919812345678", "+971501234567", "+61412345678",
    "+4915123456789", "+393123456789", "+905321234567",
)  # fmt: skip


def prepared_fresh(asked: ComplianceRequest) -> Verdict | Prepared:
    """What a policy that remembers nothing yet prepares."""
    return CompliancePolicy(CONFIG, MemoryComplianceStore()).prepare(asked, TUESDAY_MORNING)


def test_remembered_sender_choices_are_the_ones_a_fresh_policy_makes() -> None:
    """The policy remembers sender choices by sender, category, region and country code; an
    answer from memory, first given for another number or category, is still the right one."""
    policy = CompliancePolicy(CONFIG, MemoryComplianceStore())
    for to in DESTINATIONS:
        for sender in SENDER_EXAMPLES:
            for category in Category:
                asked = request(to=to, sender=sender, category=category, message_id="m")
                assert policy.prepare(asked, TUESDAY_MORNING) == prepared_fresh(asked)


REMEMBERING = CompliancePolicy(CONFIG, MemoryComplianceStore())  # remembers across examples


@settings(max_examples=300, deadline=None)
@given(
    sender=st.one_of(
        st.text(alphabet="ABZabz09 +-_.&!éЖ", max_size=14),
        st.from_regex(r"\+?[0-9]{1,17}", fullmatch=True),
    ),
    category=st.sampled_from(Category),
    to=st.sampled_from(DESTINATIONS),
)
def test_any_sender_remembered_or_not_is_the_one_choose_sender_makes(
    sender: str, category: Category, to: str
) -> None:
    asked = request(to=to, sender=sender, category=category, message_id="m")
    fresh = prepared_fresh(asked)
    assert REMEMBERING.prepare(asked, TUESDAY_MORNING) == fresh
    assert REMEMBERING.prepare(asked, TUESDAY_MORNING) == fresh  # now from memory
    if isinstance(fresh, Prepared):
        dest, rules = fresh.destination, fresh.rule.sender
        chosen = choose_sender(sender, category, rules, dest.country_code, dest.region)
        assert fresh.sender == chosen.address


def test_remembered_sender_choices_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy_module, "SENDER_CACHE_SIZE", 3)
    policy = CompliancePolicy(CONFIG, MemoryComplianceStore())
    for n in range(10):
        prepared = policy.prepare(request(sender=f"BRAND{n}", message_id="m"), TUESDAY_MORNING)
        assert isinstance(prepared, Prepared)
        assert prepared.sender.source_addr == f"BRAND{n}"
        assert len(policy._sender_choices) <= 3
