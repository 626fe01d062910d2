"""Conversion suppression: after an upstream "conversion" signal for a recipient, that
recipient's marketing messages are suppressed until a deadline (the store keeps it with a TTL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class SuppressionStore(Protocol):
    """Suppression deadlines per recipient (E.164 digits)."""

    async def suppress(self, msisdn: str, until: datetime) -> None:
        """Suppress marketing to `msisdn` until `until` (an existing later deadline is kept)."""
        ...

    async def suppressed_until(self, msisdn: str, now: datetime) -> datetime | None:
        """The deadline when one is still in force at `now`, else None."""
        ...
