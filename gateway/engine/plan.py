"""`plan_message`: what a message needs next, decided without I/O.

Given the message, the clock and the engine's static knowledge (compliance rules, routes,
which carriers are up, their encoding profiles), the plan is one of:
- `Finish`: a final status now (expired; rejected by a static rule, or too many parts);
- `Defer`: not before `due` (send_at in the future, quiet hours);
- `Admit`: ready, once the shared-state checks (opt-out, suppression, caps: one store call,
  `CompliancePolicy.admit`) allow it; with the route and the text encoded for its first
  carrier, so the text is encoded once, with the profile it is sent with.

The dispatcher runs it for every message, and `smsgw inspect` shows it. Route errors are
carried in `Admit`, not decided here: whether "no carrier available" means a retry or a final
failure depends on what earlier attempts left (the dispatcher's retry policy).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from compliance.encoding import EncodedMessage, EncodingProfile, TooManyPartsError
from compliance.policy import Prepared
from compliance.segment import encode_message
from compliance.verdict import ComplianceRequest, Outcome, Verdict
from gateway.messages import OutboundMessage, Status
from routing.errors import NoCarrierAvailableError, NoRouteError
from routing.model import RoutingTable
from routing.select import select_carriers

DEFAULT_PROFILE = EncodingProfile()  # the encoding when no carrier is up to encode for


@dataclass(frozen=True, slots=True)
class Finish:
    """A final status, decided now."""

    status: Status
    code: str
    detail: str
    country: str | None = None
    verdict: Verdict | None = None  # the compliance verdict behind it, if any


@dataclass(frozen=True, slots=True)
class Defer:
    """Not before `due` (epoch seconds)."""

    due: float
    code: str
    detail: str
    country: str | None = None
    verdict: Verdict | None = None


@dataclass(slots=True)
class Admit:
    """Ready once the shared-state checks allow it.

    `carriers` is the route in order of preference (empty when `route_error` says why);
    `encoded` is the text as sent on `carriers[0]` (None when there is no carrier).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    prepared: Prepared
    carriers: tuple[str, ...]
    encoded: EncodedMessage | None
    route_error: NoRouteError | NoCarrierAvailableError | None = None

    @property
    def country(self) -> str:
        return self.prepared.rule.country


Plan = Finish | Defer | Admit


class Rules(Protocol):
    """The compliance checks that need no shared state (CompliancePolicy.prepare)."""

    def prepare(
        self, request: ComplianceRequest, now: datetime, *, consume: bool = True
    ) -> Verdict | Prepared: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanContext:
    """What the planner knows besides the message: all of it static for one tick."""

    policy: Rules
    routes: RoutingTable
    is_available: Callable[[str], bool]
    profile: Callable[[str], EncodingProfile]  # a carrier's encoding profile
    rng: random.Random


def due_now(message: OutboundMessage, now: float) -> Finish | Defer | None:
    """Expired, or scheduled for later; None when neither."""
    if message.expires_at is not None and now >= message.expires_at.timestamp():
        return Finish(Status.expired, "expired", "expires_at passed before sending")
    if message.send_at is not None and message.send_at.timestamp() > now:
        return Defer(message.send_at.timestamp(), "scheduled", "send_at is in the future")
    return None


def plan_message(
    message: OutboundMessage,
    now: float,
    ctx: PlanContext,
    *,
    reference: int,
    exclude: frozenset[str] = frozenset(),
    consume: bool = True,
) -> Plan:
    """Decide what `message` needs next (see the module docstring).

    Args:
        message: the validated message.
        now: the engine's wall clock, epoch seconds.
        ctx: rules, routes and carriers.
        reference: the message's concatenation reference seed (fitted to each carrier's
            reference size by `fit_reference`).
        exclude: carriers this message already failed over from.
        consume: whether admitting it records the send against the frequency caps (False
            for a dry run: `smsgw inspect`).
    """
    timing = due_now(message, now)
    if timing is not None:
        return timing
    request = ComplianceRequest(
        to=message.to,
        sender=message.sender,
        category=message.category,
        country_hint=message.country,
        text=message.text,
        parts=0,  # counted below, once encoded for the carrier it goes to
        message_id=message.id,
    )
    prepared = ctx.policy.prepare(request, datetime.fromtimestamp(now, UTC), consume=consume)
    if isinstance(prepared, Verdict):
        return refusal(prepared)
    try:
        carriers = tuple(
            select_carriers(
                ctx.routes,
                destination=prepared.destination.e164,
                country=prepared.rule.country,
                is_available=ctx.is_available,
                rng=ctx.rng,
                exclude=exclude,
            )
        )
    except (NoRouteError, NoCarrierAvailableError) as error:
        parts = _too_many(message.text, DEFAULT_PROFILE, prepared)
        return parts or Admit(prepared, (), None, error)
    profile = ctx.profile(carriers[0])
    try:
        encoded = encode_message(message.text, profile, reference=fit_reference(reference, profile))
    except TooManyPartsError as error:
        return _too_many_parts(str(error), prepared)
    limit = min(prepared.max_parts, profile.max_parts)
    if len(encoded.parts) > limit:
        detail = f"{len(encoded.parts)} parts, the limit for this destination is {limit}"
        return _too_many_parts(detail, prepared)
    return Admit(prepared, carriers, encoded)


def fit_reference(seed: int, profile: EncodingProfile) -> int:
    """A concatenation reference from a 16-bit seed (1..65535) for the profile's size: 8-bit
    references are 1..255."""
    return seed % 0xFF + 1 if profile.reference_bits == 8 else seed


def refusal(verdict: Verdict) -> Finish | Defer:
    """The plan for a verdict that does not allow the message."""
    if verdict.outcome is Outcome.defer and verdict.defer_until is not None:
        due = verdict.defer_until.timestamp()
        return Defer(due, verdict.reason, verdict.detail, verdict.country, verdict)
    status = Status.suppressed if verdict.outcome is Outcome.suppress else Status.rejected
    return Finish(status, verdict.reason, verdict.detail, verdict.country, verdict)


def _too_many(text: str, profile: EncodingProfile, prepared: Prepared) -> Finish | None:
    try:
        parts = len(encode_message(text, profile, reference=1).parts)
    except TooManyPartsError as error:
        return _too_many_parts(str(error), prepared)
    if parts > prepared.max_parts:
        return _too_many_parts(f"{parts} parts, the limit is {prepared.max_parts}", prepared)
    return None


def _too_many_parts(detail: str, prepared: Prepared) -> Finish:
    return Finish(Status.rejected, "too_many_parts", detail, prepared.rule.country)
