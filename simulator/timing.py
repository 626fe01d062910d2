"""Work due later, batched by tick: the simulator's substitute for one timer per message.

`DueQueue` files items into time slots `tick` seconds wide; the server arms a single
`loop.call_at` for the earliest slot and, when it fires, takes every item due by then. At
20,000 receipts a second with a 0.5 s delay and a 5 ms tick that is 200 timer wake-ups a
second instead of 20,000 handles. Pure: `now` is always a parameter.
"""

from __future__ import annotations

import heapq
import math
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_TICK = 0.005


class DueQueue(Generic[T]):
    """Items with due times, taken in slot order; within a slot, in insertion order."""

    __slots__ = ("_heap", "_size", "_slots", "tick")

    def __init__(self, tick: float = DEFAULT_TICK) -> None:
        if tick <= 0:
            raise ValueError("tick must be positive")
        self.tick = tick
        self._slots: dict[int, list[T]] = {}
        self._heap: list[int] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, due: float, item: T) -> None:
        """File `item` to be taken once `now >= due` (rounded up to the next tick)."""
        slot = math.ceil(due / self.tick)
        items = self._slots.get(slot)
        if items is None:
            self._slots[slot] = [item]
            heapq.heappush(self._heap, slot)
        else:
            items.append(item)
        self._size += 1

    def next_due(self) -> float | None:
        """When the earliest slot falls due, or None when empty."""
        return self._heap[0] * self.tick if self._heap else None

    def pop_due(self, now: float) -> list[T]:
        """Every item whose slot is due at `now`, oldest slot first."""
        heap = self._heap
        limit = math.floor(now / self.tick + 1e-9)
        due: list[T] = []
        while heap and heap[0] <= limit:
            due.extend(self._slots.pop(heapq.heappop(heap)))
        self._size -= len(due)
        return due
