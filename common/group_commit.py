"""Group commit: requests made during one loop iteration go to Redis in one call.

Callers `await group.submit(item)`; the items handed in before the loop next runs its
callbacks are sent together by one call of `send(items)`, which returns one result per item,
in order. Up to `max_calls` calls are in flight at once: a caller that arrives while a call is
out does not wait for its answer before its own call leaves (one call at a time made every
caller wait up to two round trips). When all `max_calls` are out, items queue and the next
call takes them all, so batches grow with load on their own.

With `linger`, a call leaves `linger` seconds after the first item that starts it, so callers
spread over that time share it: for writes no one waits on closely (delivery receipts at
light load), fewer calls for a few milliseconds more.

A group may `carry` another one that sends the same way (a lingering one): each call it makes
takes the other's waiting items too, after its own, so at moderate load lingering writes ride
with the busy group's calls instead of costing calls of their own, and leave sooner. A carried
group may carry another in turn (a chain; a call takes the items down the chain, each group's
after its carrier's). While a carrier up the chain has a call out or items waiting, a carried
group's items wait for that carrier's next call rather than leave on their own: they are never
sent ahead of what a carrier sent or holds. (The engine's state writes carry the records of
light-load ticks, which carry the receipts: a receipt then finds its message's submit
recorded, unless that submit was answered after the receipt came, and is not parked as early.)

Another call of the same kind may also take a group's waiting items, down its chain
(`take_waiting`: at light load the engine's next read call takes the writes of the tick
before, so they cost no call of their own), under the same rule; until it answers them
(`taken_answered`), the taking counts as a call of that group's.

An exception from `send` is handed to every caller of that call; the group carries on.

`close` ends a group before its client closes: the items no call has taken are dropped (their
callers, if any still wait, see them cancelled), a lingering call's timer starts nothing, and
the calls in flight are waited for. A call started later would use a closed client (redis-py's
cluster client then opens connections nobody closes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Batches concurrent requests into calls of `send`, at most `max_calls` at a time."""

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_calls: int = 2,
        linger: float = 0.0,
        carry: GroupCommit[T, R] | None = None,
    ) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls must be >= 1, got {max_calls}")
        if linger < 0:
            raise ValueError(f"linger must be >= 0, got {linger}")
        self._send = send
        self._max_calls = max_calls
        self._linger = linger
        self._carried = carry
        self._carrier: GroupCommit[T, R] | None = None  # the group that carries this one
        if carry is not None:
            carry._carrier = self
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._calls = 0
        self._scheduled = False
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Send `item` with this iteration's others; returns its result or raises its error."""
        if self._closed:
            raise RuntimeError("group commit: closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._calls < self._max_calls:
            self._scheduled = True
            if self._linger:  # callers of the next `linger` seconds join this call
                loop.call_later(self._linger, self._launch)
            else:
                loop.call_soon(self._launch)  # after this iteration's callers have joined

    def _launch(self) -> None:
        self._scheduled = False
        if self._closed:
            self._release_carried()
            return
        if not (self._pending or self._carried_waiting()) or self._calls >= self._max_calls:
            return  # a call ending will launch the rest
        if self._held_above():
            return  # a carrier's next call takes these, after the items it holds
        batch = self._hand_over()
        self._calls += 1
        task = asyncio.get_running_loop().create_task(self._call(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Take nothing more: drop the items waiting, wait for the calls in flight."""
        self._closed = True
        dropped, self._pending = self._pending, []
        for _, future in dropped:
            future.cancel()
        self._release_carried()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _carried_waiting(self) -> bool:
        """Items wait in a group this one carries, or in one that carries (a chain)."""
        carried = self._carried
        return carried is not None and (bool(carried._pending) or carried._carried_waiting())

    def _held_above(self) -> bool:
        """A carrier (or its carrier, up the chain) has a call out or items waiting: its next
        call takes this group's items after those, so they never leave ahead of them."""
        carrier = self._carrier
        while carrier is not None and not carrier._closed:
            if carrier._calls or carrier._pending:
                return True
            carrier = carrier._carrier
        return False

    def _release_carried(self) -> None:
        """Closed: the carried group's waiting items (and its own carried's) leave on its own
        calls."""
        carried = self._carried
        if carried is not None and (carried._pending or carried._carried_waiting()):
            carried._schedule(asyncio.get_running_loop())

    def take_waiting(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The items waiting for this group's next call (and its carried groups'), for a call
        outside the group to send and answer (every future set, as `_call` sets them, then
        `taken_answered`); none while this group has a call out, or a carrier up the chain a
        call or items of its own (they go first). Until answered, the taking counts as a call
        of this group's: nothing of the chain leaves ahead of it."""
        if self._closed or self._calls or self._held_above():
            return []
        taken = self._hand_over()
        if taken:
            self._calls += 1  # out, as a call of this group's, until `taken_answered`
        return taken

    def taken_answered(self) -> None:
        """The call that took this group's items (`take_waiting`) has answered them all: what
        waited behind it may leave."""
        self._calls -= 1
        if self._pending or self._carried_waiting():
            self._schedule(asyncio.get_running_loop())

    def _hand_over(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The items waiting for this group's next call, then those of the group it carries
        (down the chain), for a carrying group to send (the lingering calls then find nothing
        to send)."""
        taken, self._pending = self._pending, []
        if self._carried is not None:
            taken += self._carried._hand_over()
        return taken

    async def _call(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results: Sequence[R] | BaseException = await self._send([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - handed to every waiting caller
            results = error
        finally:
            self._calls -= 1
            if self._pending or self._carried_waiting():
                self._schedule(asyncio.get_running_loop())
        if not isinstance(results, BaseException) and len(results) != len(batch):
            results = RuntimeError(f"group commit: {len(results)} results for {len(batch)} items")
        for n, (_, future) in enumerate(batch):
            if future.done():
                continue  # the caller gave up
            if isinstance(results, BaseException):
                future.set_exception(results)
            else:
                future.set_result(results[n])
