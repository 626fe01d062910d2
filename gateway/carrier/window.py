"""The request window of one bind: slots, a future per sequence number, response timeouts.

SMPP lets an ESME keep several requests outstanding (the "window", SMPP 3.4 §2.6 calls it
asynchronous operation). This module owns the asyncio side of that: a bounded number of slots,
the future each caller awaits, and expiry. Every request shares one timeout, so insertion order
is deadline order and expiry is a sweep from the front (no timer handle per request).

A slot is freed exactly once: by the response, by expiry, by `fail_all`, or by the caller's
cancellation; a response that arrives after any of those finds nothing and is reported unmatched.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

from gateway.errors import NotBoundError, ResponseTimeoutError

T = TypeVar("T")


class Window(Generic[T]):
    """At most `size` outstanding requests, each resolved, expired or failed exactly once."""

    def __init__(self, size: int, timeout: float) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self.size = size
        self.timeout = timeout
        self._free = size
        self._pending: dict[int, tuple[asyncio.Future[T], float]] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._refusal: str | None = None  # why new requests are refused (a drain), if they are

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    @property
    def is_full(self) -> bool:
        return self._free <= 0

    async def acquire(self) -> None:
        """Wait for a free slot (FIFO among waiters).

        Raises:
            NotBoundError: requests are refused (see `refuse`); nothing was sent.
        """
        self.check_open()
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise

    def try_acquire(self) -> bool:
        """Take a free slot now if one is free and nobody waits for one (no waiting)."""
        if self._refusal is None and self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    def refuse(self, reason: str) -> None:
        """Refuse every request from now on, those waiting for a slot included, so that a
        drain waits only for what is already on the wire."""
        self._refusal = reason
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(NotBoundError(reason))

    def check_open(self) -> None:
        """Raise NotBoundError if requests are refused (see `refuse`)."""
        if self._refusal is not None:
            raise NotBoundError(self._refusal)

    def release(self) -> None:
        """Give back a slot acquired for a request that was never sent."""
        self._release()

    def add(self, sequence_number: int, now: float) -> asyncio.Future[T]:
        """Track a request just sent in an acquired slot; returns the future to await."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[sequence_number] = (future, now + self.timeout)
        return future

    def resolve(self, sequence_number: int, result: T) -> bool:
        """Complete the request's future; False when nothing waits (late or unknown)."""
        entry = self._pending.pop(sequence_number, None)
        if entry is None:
            return False
        future = entry[0]
        if not future.done():
            future.set_result(result)
        self._release()
        return True

    def fail(self, sequence_number: int, error: BaseException) -> bool:
        """Fail one request's future; False when nothing waits."""
        entry = self._pending.pop(sequence_number, None)
        if entry is None:
            return False
        if not entry[0].done():
            entry[0].set_exception(error)
        self._release()
        return True

    def discard(self, sequence_number: int) -> bool:
        """The caller gave up (cancelled): free the slot without completing anything."""
        if self._pending.pop(sequence_number, None) is None:
            return False
        self._release()
        return True

    def expire(self, now: float) -> list[int]:
        """Fail every request past its deadline with ResponseTimeoutError; returns their numbers."""
        expired: list[int] = []
        pending = self._pending
        while pending:
            sequence_number, (_, deadline) = next(iter(pending.items()))
            if deadline > now:
                break
            self.fail(sequence_number, ResponseTimeoutError("no response within the timeout"))
            expired.append(sequence_number)
        return expired

    def fail_all(self, error: BaseException) -> int:
        """Fail every outstanding request (the connection is gone); returns how many."""
        numbers = list(self._pending)
        for sequence_number in numbers:
            self.fail(sequence_number, error)
        return len(numbers)

    async def drained(self) -> None:
        """Wait until nothing is outstanding."""
        while self._pending:
            futures = [future for future, _ in self._pending.values()]
            await asyncio.wait(futures)

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
