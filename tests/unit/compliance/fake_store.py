"""In-memory `ComplianceStore` for policy tests: same semantics as the Redis store, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from compliance.frequency_cap import WITHIN_CAPS, CapCheck, CapEntry, CapRule, check_caps
from compliance.store import RecipientQuery, RecipientState, from_ms, to_ms
from compliance.verdict import Category, OptOutScope


class MemoryComplianceStore:
    """Opt-outs, suppression deadlines and cap history in dicts; counts calls."""

    def __init__(self) -> None:
        self.opt_outs: dict[str, set[str]] = {}  # msisdn -> {"*", sender, "+sender"}
        self.deadlines: dict[str, int] = {}
        self.history: dict[str, list[CapEntry]] = {}
        self.check_calls = 0

    async def check_recipient(self, query: RecipientQuery) -> RecipientState:
        self.check_calls += 1
        if query.check_opt_out:
            scope = await self.opted_out(query.msisdn, query.sender)
            if scope is not None:
                return RecipientState(opted_out=scope)
        if query.check_suppression:
            until = await self.suppressed_until(query.msisdn, query.now)
            if until is not None:
                return RecipientState(suppressed_until=until)
        if not query.run_caps or not query.caps:
            return RecipientState()
        caps = self._check(
            query.msisdn, query.category, query.member, query.caps, query.now, query.consume
        )
        return RecipientState(caps=caps)

    async def check_recipients(self, queries: Sequence[RecipientQuery]) -> list[RecipientState]:
        return [await self.check_recipient(query) for query in queries]

    async def check_and_record(
        self,
        msisdn: str,
        category: Category,
        member: str,
        caps: Sequence[CapRule],
        now: datetime,
        *,
        consume: bool,
    ) -> CapCheck:
        return self._check(msisdn, category, member, caps, now, consume)

    def _check(
        self,
        msisdn: str,
        category: Category,
        member: str,
        caps: Sequence[CapRule],
        now: datetime,
        consume: bool,
    ) -> CapCheck:
        now_ms = to_ms(now)
        entries = self.history.setdefault(msisdn, [])
        result = check_caps(entries, category, member, caps, now_ms)
        known = any(e.member == member for e in entries)
        if result == WITHIN_CAPS and consume and not known:
            entries.append(CapEntry(member, category, now_ms))
        return result

    async def add_opt_out(self, msisdn: str, sender: str | None, now: datetime) -> None:
        if sender is None:
            self.opt_outs[msisdn] = {"*"}
        else:
            fields = self.opt_outs.setdefault(msisdn, set())
            fields.add(sender)
            fields.discard("+" + sender)

    async def remove_opt_out(self, msisdn: str, sender: str | None) -> None:
        if sender is None:
            self.opt_outs.pop(msisdn, None)
            return
        fields = self.opt_outs.get(msisdn, set())
        fields.discard(sender)
        if "*" in fields:
            fields.add("+" + sender)

    async def opted_out(self, msisdn: str, sender: str) -> OptOutScope | None:
        fields = self.opt_outs.get(msisdn, set())
        if sender in fields:
            return OptOutScope.sender
        if "*" in fields and "+" + sender not in fields:
            return OptOutScope.global_
        return None

    async def suppress(self, msisdn: str, until: datetime) -> None:
        self.deadlines[msisdn] = max(self.deadlines.get(msisdn, 0), to_ms(until))

    async def suppressed_until(self, msisdn: str, now: datetime) -> datetime | None:
        deadline = self.deadlines.get(msisdn)
        if deadline is None or deadline <= to_ms(now):
            return None
        return from_ms(deadline)
