"""The compliance evaluator: every outbound message passes `CompliancePolicy.evaluate`.

Order of checks (the first that fails decides; each is a `Verdict` with a reason code):

1. number: parse to E.164, valid, a country rule exists, an accepted type (mobile by default);
2. parts within the country's maximum;
3. sender: allowed for the country (or its fallback), with TON/NPI derived from its type, and
   registered on every carrier of the route where the country's rule asks (US 10DLC,
   toll-free, short codes: compliance/registration.py);
4. required wording (e.g. France's "STOP au 36xxx" on marketing);
5. shared state, in ONE store call (one Redis round trip): opt-out, conversion suppression
   (marketing), then frequency caps; quiet hours (marketing) are computed before that call, so a
   message deferred for quiet hours never consumes a cap slot, but an opt-out still wins over
   a deferral. Quiet hours defer, never refuse: when the windows of a number's zones never
   open together, the country's primary zone decides and the verdict says so
   (`quiet_fallbacks`, a flag and the detail; compliance/quiet_hours.py `plan_quiet_hours`).

Caps are check-and-record in that same call (`consume=True`, the default) and idempotent per
`message_id`, so the engine may evaluate again just before submitting a queued or deferred
message (to honour opt-outs and conversions that arrived meanwhile) without double counting.
A slot stays taken when the message is finally not sent (nothing gives it back).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from compliance.country_rules import CountryRule, TextAction
from compliance.frequency_cap import CapAction, CapRule
from compliance.holiday_calendar import HolidayCalendars, calendar_for
from compliance.keywords import KeywordTable
from compliance.numbers import UNKNOWN_TIME_ZONE, Destination, InvalidNumber, NumberParser
from compliance.quiet_hours import QuietFallback, QuietHours, QuietPlan, plan_quiet_hours
from compliance.registration import SenderRegistry, registration_problem
from compliance.sender_id import SenderAddress, SenderChoice, choose_sender
from compliance.settings import ComplianceConfig
from compliance.store import ComplianceStore, RecipientQuery, RecipientState
from compliance.verdict import (
    Category,
    ComplianceRequest,
    MoAction,
    MoOutcome,
    OptOutScope,
    Outcome,
    Reason,
    Verdict,
)
from gateway.smpp.constants import Npi, Ton

SENDER_CACHE_SIZE = 4096  # (sender, category, region, country code) choices kept per policy


@dataclass(slots=True)
class Prepared:
    """A message past every check that needs no shared state: what `admit` asks the store,
    and what the verdict is built from.

    Slotted but not frozen, like its `query`: one is built for every message planned, and
    frozen construction measured about 1 us of the ~16 us a plan took (style guide §3).
    Nothing mutates it after `prepare` returns; treat it as read-only.
    """

    query: RecipientQuery
    destination: Destination
    rule: CountryRule
    sender: SenderAddress
    flags: tuple[str, ...]
    quiet: QuietPlan | None  # the quiet-hours plan of a marketing message under a window
    max_parts: int  # the destination country's limit

    @property
    def quiet_until(self) -> datetime | None:
        """When the quiet window lets the message go, if it holds it now."""
        return self.quiet.until if self.quiet is not None else None


class CompliancePolicy:
    """Evaluates messages against country rules and shared opt-out / suppression / cap state."""

    def __init__(
        self,
        config: ComplianceConfig,
        store: ComplianceStore,
        *,
        registry: SenderRegistry | None = None,
    ) -> None:
        """Args: loaded settings and country rules; the shared-state store (Redis or a fake);
        the carriers' sender registrations and route look-up (default: none registered)."""
        self._registry = registry or SenderRegistry()
        self._settings = config.settings
        self._countries = config.countries
        self._store = store
        self._numbers = NumberParser(
            default_region=config.settings.default_region,
            cache_size=config.settings.number_cache_size,
        )
        self._keywords = KeywordTable(config.settings.keywords)
        self._zones: dict[str, ZoneInfo] = {}
        self._calendars = HolidayCalendars()
        # choose_sender's answers (see _sender_choice): the rules never change for a policy's
        # lifetime (compliance config is read at start; a change builds a new policy).
        self._sender_choices: dict[tuple[str, Category, str, int], SenderChoice] = {}

    @property
    def countries(self) -> tuple[str, ...]:
        """ISO codes with their own rules (a bounded set: the metrics' country labels)."""
        return self._countries.countries()

    @property
    def numbers(self) -> NumberParser:
        """The policy's cached number parser (for cache statistics)."""
        return self._numbers

    async def evaluate(
        self, request: ComplianceRequest, now: datetime, *, consume: bool = True
    ) -> Verdict:
        """Decide whether `request` may be sent at `now` (aware).

        Args:
            request: the message.
            now: the current instant (aware; the engine's wall clock).
            consume: record the send against the frequency caps when allowed (atomic with
                the check). Pass False for a dry run.

        Raises:
            ComplianceStoreError: the shared-state store is unreachable.
        """
        prepared = self.prepare(request, now, consume=consume)
        if isinstance(prepared, Verdict):
            return prepared
        return await self.admit(prepared)

    def prepare(
        self, request: ComplianceRequest, now: datetime, *, consume: bool = True
    ) -> Verdict | Prepared:
        """Every check that needs no shared state (number, country, parts, sender, wording,
        quiet hours), with no I/O: a refusal or deferral, or what `admit` has left to ask.

        Args: as for `evaluate`.
        """
        checked = self._check_static(request)
        if isinstance(checked, Verdict):
            return checked
        dest, rule, sender, flags = checked
        quiet = self._quiet_until(request, dest, rule, now)
        quiet_until = quiet.until if quiet is not None else None
        query = self._recipient_query(
            request, dest, now, run_caps=quiet_until is None, consume=consume
        )
        return Prepared(query, dest, rule, sender, flags, quiet, self._max_parts(rule))

    async def admit(self, prepared: Prepared) -> Verdict:
        """The shared-state checks of a prepared message (one store call), and the verdict.

        Raises:
            ComplianceStoreError: the shared-state store is unreachable.
        """
        return self.conclude(prepared, await self._store.check_recipient(prepared.query))

    async def admit_many(self, prepared: Sequence[Prepared]) -> list[Verdict]:
        """`admit` for a batch: one store call for all of them, in order.

        Raises:
            ComplianceStoreError: the shared-state store is unreachable.
        """
        states = await self._store.check_recipients([p.query for p in prepared])
        return [self.conclude(p, state) for p, state in zip(prepared, states, strict=True)]

    def conclude(self, prepared: Prepared, state: RecipientState) -> Verdict:
        """The verdict of a prepared message, given its shared state (no I/O)."""
        p = prepared
        verdict = self._finish(p.destination, p.rule, p.sender, state, p.quiet_until)
        if p.quiet is not None:
            verdict = _with_quiet_plan(verdict, p.quiet, p.rule)
        return replace(verdict, flags=p.flags + verdict.flags) if p.flags else verdict

    async def record_conversion(
        self, to: str, now: datetime, *, window: timedelta | None = None, hint: str | None = None
    ) -> datetime | None:
        """Suppress marketing to `to` after a conversion; the deadline, or None for a bad number."""
        msisdn = self.msisdn(to, hint)
        if msisdn is None:
            return None
        span = window or timedelta(seconds=self._settings.conversion_suppression_seconds)
        until = now + span
        await self._store.suppress(msisdn, until)
        return until

    async def opt_out(
        self, to: str, sender: str | None, now: datetime, *, hint: str | None = None
    ) -> str | None:
        """Opt `to` out (of `sender`, or of everything); its E.164 digits, None if invalid."""
        msisdn = self.msisdn(to, hint)
        if msisdn is not None:
            scope = None if sender is None else self.sender_scope(sender)
            await self._store.add_opt_out(msisdn, scope, now)
        return msisdn

    async def opt_in(self, to: str, sender: str | None, *, hint: str | None = None) -> str | None:
        """Remove `to`'s opt-out (of `sender`, or the global one); None for an invalid number."""
        msisdn = self.msisdn(to, hint)
        if msisdn is not None:
            scope = None if sender is None else self.sender_scope(sender)
            await self._store.remove_opt_out(msisdn, scope)
        return msisdn

    async def handle_mo(
        self, sender_number: str, our_number: str, text: str, now: datetime
    ) -> MoOutcome:
        """Apply an inbound message's keyword (STOP, STOPALL, START, HELP, ...) to the store.

        Args:
            sender_number: the mobile user's number (the MO source_addr).
            our_number: the number the MO was sent to (the opt-out scope for per-sender mode).
            text: the MO text; only its first word counts.
            now: the current instant (aware).
        """
        action, word = self._keywords.classify(text)
        msisdn = self.msisdn(sender_number, None)
        scope = self._mo_scope(action)
        if msisdn is None or action is MoAction.none:
            return MoOutcome(
                action=action, msisdn=msisdn, scope=None, keyword=word, reply_text=None
            )
        target = None if scope is OptOutScope.global_ else self.sender_scope(our_number)
        if action in (MoAction.opt_out, MoAction.opt_out_all):
            await self._store.add_opt_out(msisdn, target, now)
        elif action is MoAction.opt_in:
            await self._store.remove_opt_out(msisdn, target)
        return MoOutcome(
            action=action, msisdn=msisdn, scope=scope, keyword=word, reply_text=self._reply(action)
        )

    def sender_scope(self, sender: str) -> str:
        """The opt-out scope key of a sender: its configured alias, numbers without '+'."""
        scoped = self._settings.sender_scope_aliases.get(sender, sender)
        return scoped[1:] if scoped.startswith("+") else scoped

    def msisdn(self, raw: str, hint: str | None = None) -> str | None:
        """E.164 digits (no '+') of `raw`, a national number read in `hint`'s country or else
        `default_region`'s; None when it is no valid number."""
        parsed = self._numbers.parse(raw, hint)
        return parsed.e164 if isinstance(parsed, Destination) else None

    def _mo_scope(self, action: MoAction) -> OptOutScope | None:
        if action is MoAction.opt_out_all:
            return OptOutScope.global_
        if action in (MoAction.opt_out, MoAction.opt_in):
            global_mode = self._settings.opt_out_scope == "global"
            return OptOutScope.global_ if global_mode else OptOutScope.sender
        return None

    def _reply(self, action: MoAction) -> str | None:
        texts = self._settings.confirmations
        replies = {
            MoAction.opt_out: texts.opt_out,
            MoAction.opt_out_all: texts.opt_out_all,
            MoAction.opt_in: texts.opt_in,
            MoAction.help: texts.help,
        }
        return replies.get(action)

    def _check_static(
        self, request: ComplianceRequest
    ) -> Verdict | tuple[Destination, CountryRule, SenderAddress, tuple[str, ...]]:
        """Number, country, parts, sender and wording: everything that needs no shared state."""
        dest = self._numbers.parse(request.to, request.country_hint)
        if isinstance(dest, InvalidNumber):
            return _refuse(Outcome.reject, Reason.invalid_number, dest.detail)
        rule = self._countries.for_region(dest.region)
        if rule is None:
            detail = f"no compliance rules for destination country {dest.region}"
            return _refuse(Outcome.reject, Reason.unsupported_country, detail, dest)
        kinds = rule.number_kinds or self._settings.number_kinds
        if dest.kind not in kinds:
            accepted = ", ".join(sorted(kinds))
            detail = f"destination is a {dest.kind} number; {rule.country} accepts {accepted}"
            return _refuse(Outcome.reject, Reason.not_mobile, detail, dest, rule)
        max_parts = self._max_parts(rule)
        if request.parts > max_parts:
            detail = f"{request.parts} parts exceed the maximum of {max_parts} for {rule.country}"
            return _refuse(Outcome.reject, Reason.too_many_parts, detail, dest, rule)
        choice = self._sender_choice(request.sender, request.category, dest, rule)
        if choice.address is None:
            detail = f"sender not allowed in {rule.country}: {choice.problem}"
            return _refuse(Outcome.reject, Reason.sender_not_allowed, detail, dest, rule)
        unregistered = self._registration_problem(choice.address, dest, rule)
        if unregistered is not None:
            detail = f"sender not registered for {rule.country}: {unregistered}"
            return _refuse(Outcome.reject, Reason.sender_not_registered, detail, dest, rule)
        flags = self._missing_text(request, dest, rule) if rule.required_text else ()
        if isinstance(flags, Verdict):
            return flags
        return dest, rule, choice.address, flags

    def _registration_problem(
        self, address: SenderAddress, dest: Destination, rule: CountryRule
    ) -> str | None:
        """`registration_problem` where the country asks for registration (most do not)."""
        programs = rule.sender.carrier_registration
        if not programs:
            return None
        return registration_problem(
            self._registry, programs, address,
            destination=dest.e164, country=rule.country, country_code=dest.country_code,
        )  # fmt: skip

    def _sender_choice(
        self, sender: str, category: Category, dest: Destination, rule: CountryRule
    ) -> SenderChoice:
        """`choose_sender` for `rule`, memoised: the choice depends on the sender, the
        category, and the destination's region (which picks `rule`) and country code, never on
        the number itself, and a bulk send repeats the same few senders."""
        key = (sender, category, dest.region, dest.country_code)
        choice = self._sender_choices.get(key)
        if choice is None:
            if len(self._sender_choices) >= SENDER_CACHE_SIZE:
                self._sender_choices.clear()  # senders come from upstream apps: stay bounded
            choice = choose_sender(sender, category, rule.sender, dest.country_code, dest.region)
            self._sender_choices[key] = choice
        return choice

    def _max_parts(self, rule: CountryRule) -> int:
        return rule.max_parts if rule.max_parts is not None else self._settings.max_parts

    def _missing_text(
        self, request: ComplianceRequest, dest: Destination, rule: CountryRule
    ) -> Verdict | tuple[str, ...]:
        """A rejection for missing required wording, or the flags of non-blocking misses."""
        flags: list[str] = []
        for required in rule.required_text:
            if request.category not in required.categories:
                continue
            if required.pattern.search(request.text) is not None:
                continue
            if required.action is TextAction.flag:
                flags.append(required.reason)
                continue
            detail = f"{rule.country} {request.category} messages need {required.description}"
            return _refuse(Outcome.reject, Reason(required.reason), detail, dest, rule)
        return tuple(flags)

    def _quiet_until(
        self, request: ComplianceRequest, dest: Destination, rule: CountryRule, now: datetime
    ) -> QuietPlan | None:
        """The quiet-hours plan for a marketing message (None: no window applies)."""
        if request.category is not Category.marketing:
            return None
        windows = self._windows(request, rule)
        if not windows:
            return None
        zones = self._recipient_zones(dest, rule)
        primary = rule.time_zone if rule.time_zone is not None else zones[0]
        return plan_quiet_hours(now, zones, windows, self._holidays(dest, rule, now), primary)

    def _holidays(self, dest: Destination, rule: CountryRule, now: datetime) -> frozenset[date]:
        calendar = calendar_for(dest.region, rule.country, rule.holiday_calendar)
        if calendar is None:
            return rule.holidays
        return self._calendars.around(calendar, now.year) | rule.holidays

    def _windows(self, request: ComplianceRequest, rule: CountryRule) -> list[QuietHours]:
        windows = [rule.quiet_hours] if rule.quiet_hours is not None else []
        tenant = self._settings.tenants.get(request.tenant) if request.tenant else None
        if tenant is not None and tenant.quiet_hours is not None:
            windows.append(tenant.quiet_hours)
        return windows

    def _recipient_zones(self, dest: Destination, rule: CountryRule) -> Sequence[ZoneInfo]:
        territory = rule.region_time_zones.get(dest.region)
        if territory is not None:
            return [territory]
        zones = [self._zone(name) for name in dest.time_zones if name != UNKNOWN_TIME_ZONE]
        if zones:
            return zones
        return [rule.time_zone] if rule.time_zone is not None else [self._zone("UTC")]

    def _zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name)
        return zone

    def _recipient_query(
        self,
        request: ComplianceRequest,
        dest: Destination,
        now: datetime,
        *,
        run_caps: bool,
        consume: bool,
    ) -> RecipientQuery:
        return RecipientQuery(
            msisdn=dest.e164,
            sender=self.sender_scope(request.sender),
            category=request.category,
            now=now,
            check_opt_out=request.category in self._settings.opt_out_categories,
            check_suppression=request.category is Category.marketing,
            run_caps=run_caps,
            consume=consume,
            member=request.message_id or uuid.uuid4().hex,
            caps=self._settings.caps,
        )

    def _finish(
        self,
        dest: Destination,
        rule: CountryRule,
        sender: SenderAddress,
        state: RecipientState,
        quiet_until: datetime | None,
    ) -> Verdict:
        if state.opted_out is not None:
            detail = f"recipient opted out ({state.opted_out.value.rstrip('_')} scope)"
            return _refuse(Outcome.suppress, Reason.opted_out, detail, dest, rule)
        if state.suppressed_until is not None:
            detail = f"marketing suppressed after a conversion until {_iso(state.suppressed_until)}"
            return _refuse(Outcome.suppress, Reason.conversion_suppressed, detail, dest, rule)
        if quiet_until is not None:
            detail = f"inside {rule.country} marketing quiet hours until {_iso(quiet_until)}"
            return _refuse(Outcome.defer, Reason.quiet_hours, detail, dest, rule, quiet_until)
        exceeded = state.caps.exceeded
        if exceeded is not None:
            return _cap_verdict(self._settings.caps[exceeded], state, dest, rule)
        return Verdict(
            outcome=Outcome.allow,
            reason=Reason.allowed,
            detail=f"allowed to {rule.country} from {sender.source_addr}",
            destination_addr=dest.e164,
            dest_addr_ton=Ton.international,
            dest_addr_npi=Npi.isdn,
            source_addr=sender.source_addr,
            source_addr_ton=sender.ton,
            source_addr_npi=sender.npi,
            country=rule.country,
            max_parts=self._max_parts(rule),
        )


def _with_quiet_plan(verdict: Verdict, plan: QuietPlan, rule: CountryRule) -> Verdict:
    """The verdict with the zones quiet hours were judged in, and any fallback said aloud."""
    if not plan.fallbacks:
        return replace(verdict, quiet_zones=plan.zones)
    why = []
    if QuietFallback.primary_zone in plan.fallbacks:
        why.append(f"the number's zones never open together, so {rule.country}'s primary zone")
    if QuietFallback.country_window in plan.fallbacks:
        why.append("the tenant window never opens with the country's, so the country's window")
    return replace(
        verdict,
        detail=f"{verdict.detail} (quiet hours: {'; '.join(why)} decided, in {plan.zones[0]})",
        quiet_zones=plan.zones,
        quiet_fallbacks=plan.fallbacks,
        flags=(*verdict.flags, *(f"quiet_hours_{f.value}" for f in plan.fallbacks)),
    )


def _cap_verdict(
    cap: CapRule, state: RecipientState, dest: Destination, rule: CountryRule
) -> Verdict:
    detail = f"frequency cap {cap.name!r} reached ({cap.limit} per {cap.window_seconds}s)"
    if cap.on_exceed is CapAction.defer:
        until = datetime.fromtimestamp(state.caps.retry_at_ms / 1000, tz=UTC)
        return _refuse(Outcome.defer, Reason.frequency_cap, detail, dest, rule, until)
    return _refuse(Outcome.suppress, Reason.frequency_cap, detail, dest, rule)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse(
    outcome: Outcome,
    reason: Reason,
    detail: str,
    dest: Destination | None = None,
    rule: CountryRule | None = None,
    defer_until: datetime | None = None,
) -> Verdict:
    return Verdict(
        outcome=outcome,
        reason=reason,
        detail=detail,
        defer_until=defer_until,
        destination_addr=dest.e164 if dest is not None else None,
        country=rule.country if rule is not None else None,
    )
