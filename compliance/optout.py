"""Opt-outs: the store Protocol and the scope rules MO keywords apply.

An opt-out is global (every sender) or per sender. A per-sender opt-in after a global opt-out
re-enables that one sender only; a global opt-out (STOPALL) clears every per-sender entry. The
Redis layout is documented in redis_stores.py so upstream apps can write it directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from compliance.verdict import OptOutScope


class OptOutStore(Protocol):
    """Opt-out records, per recipient (E.164 digits) and sender (None = global)."""

    async def add_opt_out(self, msisdn: str, sender: str | None, now: datetime) -> None:
        """Record an opt-out from `sender`, or from every sender when None."""
        ...

    async def remove_opt_out(self, msisdn: str, sender: str | None) -> None:
        """Opt back in to `sender` (None: remove the global opt-out and every per-sender one)."""
        ...

    async def opted_out(self, msisdn: str, sender: str) -> OptOutScope | None:
        """Whether messages from `sender` are blocked, and by which kind of opt-out."""
        ...
