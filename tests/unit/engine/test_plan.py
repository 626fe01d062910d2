"""plan_message: the engine's decision for a message, without I/O (no store, no sockets)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from compliance.encoding import EncodingProfile
from compliance.policy import CompliancePolicy
from compliance.settings import load_compliance_config
from compliance.verdict import Category
from gateway.config import RouteConfig, RouteTargetConfig
from gateway.engine.plan import (
    Admit,
    Defer,
    Finish,
    PlanContext,
    fit_reference,
    plan_message,
)
from gateway.engine.routing_table import routing_table
from gateway.messages import OutboundMessage, Status
from routing.errors import NoCarrierAvailableError, NoRouteError
from tests.unit.compliance.fake_store import MemoryComplianceStore

CONFIG = load_compliance_config(Path(__file__).resolve().parents[3] / "config")
NOW = datetime(2026, 1, 13, 9, tzinfo=UTC).timestamp()  # a Tuesday morning in Europe
UK = "+447911123456"
PACKED = EncodingProfile(gsm7_packed=True, reference_bits=8)


def context(*, up: tuple[str, ...] = ("a", "b"), gb_only: bool = False) -> PlanContext:
    route = RouteConfig(
        name="r",
        countries=("GB",) if gb_only else (),
        targets=(RouteTargetConfig(carrier="a"), RouteTargetConfig(carrier="b")),
    )
    profiles = {"a": EncodingProfile(), "b": PACKED}
    return PlanContext(
        policy=CompliancePolicy(CONFIG, MemoryComplianceStore()),
        routes=routing_table([route]),
        is_available=lambda name: name in up,
        profile=profiles.__getitem__,
        rng=random.Random(1),
    )


def message(text: str = "hello", **fields: object) -> OutboundMessage:
    base: dict[str, object] = {"id": "m1", "to": UK, "sender": "Acme", "text": text}
    return OutboundMessage(**{**base, **fields})  # type: ignore[arg-type]


def test_a_message_that_may_go_is_routed_and_encoded_once_for_its_first_carrier() -> None:
    plan = plan_message(message(), NOW, context(up=("a",)), reference=7)
    assert isinstance(plan, Admit)
    assert plan.carriers == ("a",)
    assert plan.encoded is not None
    assert plan.encoded.parts[0].short_message == b"hello"
    assert plan.prepared.query.msisdn == "447911123456"
    assert plan.country == "GB"


def test_expired_before_anything_else() -> None:
    expired = message(expires_at=datetime.fromtimestamp(NOW - 1, UTC), to="not a number")
    assert plan_message(expired, NOW, context(), reference=7) == Finish(
        Status.expired, "expired", "expires_at passed before sending"
    )


def test_send_at_in_the_future_defers_to_it() -> None:
    later = datetime.fromtimestamp(NOW, UTC) + timedelta(hours=1)
    plan = plan_message(message(send_at=later), NOW, context(), reference=7)
    assert plan == Defer(later.timestamp(), "scheduled", "send_at is in the future")


def test_a_static_rule_refuses_without_the_store() -> None:
    plan = plan_message(message(to="+44123"), NOW, context(), reference=7)
    assert isinstance(plan, Finish)
    assert (plan.status, plan.code) == (Status.rejected, "invalid_number")


def test_quiet_hours_are_found_in_the_plan_and_caps_not_consumed() -> None:
    """22:00 in Paris is inside France's marketing quiet hours (config/countries/fr.yaml).
    The deferral is known without the store, but the store is still asked (an opt-out wins
    over a deferral), with caps not run, so a deferred message consumes no cap slot."""
    night = datetime(2026, 1, 13, 21, tzinfo=UTC).timestamp()
    promo = message(to="+33612345678", category=Category.marketing,
                    text="Soldes -20% ce week-end. STOP au 36180")  # fmt: skip
    plan = plan_message(promo, night, context(), reference=7)
    assert isinstance(plan, Admit)
    assert plan.prepared.quiet_until is not None
    assert plan.prepared.quiet_until.timestamp() > night
    assert not plan.prepared.query.run_caps


def test_parts_are_counted_with_the_carriers_profile() -> None:
    """161 GSM-7 characters: two parts unpacked (153 per part with a UDH), still two packed;
    the count is the carrier's, not a default estimate's."""
    plan = plan_message(message("x" * 161), NOW, context(up=("b",)), reference=300)
    assert isinstance(plan, Admit)
    assert plan.carriers == ("b",)
    assert plan.encoded is not None
    assert len(plan.encoded.parts) == 2
    assert plan.encoded.reference == fit_reference(300, PACKED) == 46  # 8-bit reference


def test_too_many_parts_for_the_country_is_refused_at_once() -> None:
    plan = plan_message(message("ж" * 700), NOW, context(), reference=7)
    assert isinstance(plan, Finish)
    assert (plan.status, plan.code) == (Status.rejected, "too_many_parts")


def test_route_errors_are_carried_for_the_dispatcher_to_judge() -> None:
    down = plan_message(message(), NOW, context(up=()), reference=7)
    assert isinstance(down, Admit)
    assert isinstance(down.route_error, NoCarrierAvailableError)
    assert (down.carriers, down.encoded) == ((), None)
    no_route = plan_message(message(to="+33612345678"), NOW, context(gb_only=True), reference=7)
    assert isinstance(no_route, Admit)
    assert isinstance(no_route.route_error, NoRouteError)
