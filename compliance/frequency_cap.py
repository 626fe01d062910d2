"""Frequency caps: per-recipient rolling-window limits per category and across categories.

The rule semantics live here as a pure function, `check_caps`, which the in-memory test store
uses and which the Redis Lua script in redis_stores.py mirrors (a sorted set per recipient,
checked and recorded in one atomic step). A message is identified by a member id: evaluating the
same message twice never counts it twice.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from compliance.verdict import Category


class CapAction(enum.StrEnum):
    """What happens over the cap: drop the message, or defer it until the window frees up."""

    suppress = "suppress"
    defer = "defer"


@dataclass(frozen=True, slots=True, kw_only=True)
class CapRule:
    """At most `limit` messages of `categories` (empty: every category) per rolling window."""

    name: str
    limit: int
    window_seconds: int
    categories: frozenset[Category] = frozenset()
    on_exceed: CapAction = CapAction.suppress

    def applies_to(self, category: Category) -> bool:
        """True when messages of `category` count towards (and are limited by) this rule."""
        return not self.categories or category in self.categories


@dataclass(frozen=True, slots=True)
class CapEntry:
    """One recorded send: its member id, category and time (ms since the epoch)."""

    member: str
    category: Category
    at_ms: int


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Result of a cap check: the first rule exceeded (by index), and when it frees up."""

    exceeded: int | None  # index into the caps sequence, None when within every cap
    retry_at_ms: int = 0  # when every exceeded rule has room again


WITHIN_CAPS = CapCheck(None)


def check_caps(
    history: Sequence[CapEntry],
    category: Category,
    member: str,
    caps: Sequence[CapRule],
    now_ms: int,
) -> CapCheck:
    """Check a new message against `caps`, given the recipient's recorded sends.

    Entries with the same `member` are the message itself (already recorded) and do not count.
    """
    exceeded: int | None = None
    retry_at_ms = 0
    for index, rule in enumerate(caps):
        if not rule.applies_to(category):
            continue
        window_ms = rule.window_seconds * 1000
        times = sorted(
            e.at_ms
            for e in history
            if e.member != member and e.at_ms > now_ms - window_ms and rule.applies_to(e.category)
        )
        if len(times) >= rule.limit:
            exceeded = index if exceeded is None else exceeded
            retry_at_ms = max(retry_at_ms, times[len(times) - rule.limit] + window_ms)
    return CapCheck(exceeded, retry_at_ms)


class FrequencyCapStore(Protocol):
    """Where sends are recorded; check-and-record must be atomic across instances."""

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
        """Check `caps`; when within them and `consume`, record the send in the same step."""
        ...
