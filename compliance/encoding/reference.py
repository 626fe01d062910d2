"""Concatenation reference numbers that do not repeat for one recipient in quick succession.

Owns the allocation rule. A handset joins parts by (originator, reference) (TS 23.040
§9.2.3.24.1), so two long messages to the same recipient must not share a reference while the
first may still be incomplete. Each recipient gets a counter; the reference is the counter plus
a per-recipient offset (CRC-32 of the address, so recipients do not all start at the same
value), modulo 2^8 or 2^16. Consecutive messages to one recipient therefore get distinct
references for 256 (or 65,536) messages in a row.

The counter is a `ReferenceCounter`: `MemoryReferenceCounter` here (injected clock, idle
counters forgotten), a Redis INCR + EXPIRE one in the engine later. Code that gets its count
asynchronously calls `reference_from_count` directly.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, Protocol


class ReferenceCounter(Protocol):
    """Per-key counter: `increment(key)` adds one and returns the new value (1, 2, 3...)."""

    def increment(self, key: str) -> int:
        """Add one to `key`'s counter and return the new value."""
        ...


def reference_from_count(recipient: str, count: int, *, bits: Literal[8, 16] = 8) -> int:
    """The reference for the `count`-th long message to `recipient`."""
    offset = zlib.crc32(recipient.encode("utf-8"))
    return (offset + count) % (1 << bits)


class ReferenceAllocator:
    """Allocates references per recipient from a `ReferenceCounter`.

    Args:
        counter: where the per-recipient counts live.
        bits: 8 or 16, matching the profile's reference_bits.
    """

    def __init__(self, counter: ReferenceCounter, *, bits: Literal[8, 16] = 8) -> None:
        self._counter = counter
        self._bits: Literal[8, 16] = bits

    def allocate(self, recipient: str) -> int:
        """The next reference for a message to `recipient` (the destination address)."""
        return reference_from_count(recipient, self._counter.increment(recipient), bits=self._bits)


class MemoryReferenceCounter:
    """An in-process `ReferenceCounter` with bounded memory.

    A counter idle for `ttl` seconds (on the injected monotonic `clock`) is forgotten and
    restarts at 1; beyond `max_keys` the least recently used counter is forgotten. Forgetting
    is safe because its last reference was used more than `ttl` seconds ago.
    """

    def __init__(
        self, *, clock: Callable[[], float], ttl: float = 3600.0, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max_keys = max_keys
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def increment(self, key: str) -> int:
        """Add one to `key`'s counter and return the new value."""
        now = self._clock()
        self._forget_idle(now)
        count = self._counts.pop(key, (0, now))[0] + 1
        self._counts[key] = (count, now)
        if len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return count

    def _forget_idle(self, now: float) -> None:
        while self._counts:
            last_used = next(iter(self._counts.values()))[1]
            if last_used + self._ttl > now:
                return
            self._counts.popitem(last=False)
