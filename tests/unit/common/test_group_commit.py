"""GroupCommit: one call per loop iteration's requests, a bounded number of calls in flight.

No sleeps: a test waits for the calls it expects (`Recorder.wait_for_calls`), and checks that a
call did NOT leave after letting the loop run a few turns (`settle`), more than GroupCommit
needs to launch one (call_soon, then the task's first step).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from common.group_commit import GroupCommit


async def settle(turns: int = 10) -> None:
    """Let the loop run `turns` iterations (zero-delay sleeps: no wall-clock time)."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Recorder:
    """A `send` that records each call's items and answers when its gate opens."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.in_flight = 0
        self.peak = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Condition()

    async def wait_for_calls(self, count: int) -> None:
        """Return once `count` calls have been made (fail after 5 s rather than hang)."""
        async with asyncio.timeout(5), self.arrived:
            await self.arrived.wait_for(lambda: len(self.calls) >= count)

    async def send(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        async with self.arrived:
            self.arrived.notify_all()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return [item * 10 for item in items]


async def test_requests_of_one_iteration_share_one_call_and_get_their_own_results() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.send)
    results = await asyncio.gather(*(group.submit(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert recorder.calls == [[0, 1, 2, 3, 4]]


async def test_a_request_does_not_wait_for_the_call_in_flight_when_a_slot_is_free() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(recorder.send, max_calls=2)
    first = asyncio.ensure_future(group.submit(1))
    await recorder.wait_for_calls(1)
    second = asyncio.ensure_future(group.submit(2))
    await recorder.wait_for_calls(2)
    assert recorder.calls == [[1], [2]]  # both out before either is answered
    assert recorder.peak == 2
    recorder.gate.set()
    assert list(await asyncio.gather(first, second)) == [10, 20]


async def test_requests_queue_while_every_slot_is_busy_then_go_in_one_call() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(recorder.send, max_calls=1)
    first = asyncio.ensure_future(group.submit(1))
    await recorder.wait_for_calls(1)
    later = [asyncio.ensure_future(group.submit(n)) for n in (2, 3, 4)]
    await settle()
    assert recorder.calls == [[1]]
    recorder.gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert recorder.calls == [[1], [2, 3, 4]]
    assert recorder.peak == 1


async def test_an_error_reaches_every_caller_of_that_call_and_the_group_carries_on() -> None:
    failing = True

    async def send(items: list[int]) -> list[int]:
        if failing:
            raise ConnectionError("redis went away")
        return items

    group: GroupCommit[int, int] = GroupCommit(send)
    outcomes = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]
    failing = False
    assert await group.submit(3) == 3


async def test_a_wrong_number_of_results_is_an_error_not_a_misattribution() -> None:
    async def send(items: list[int]) -> list[int]:
        return items[:1]

    group: GroupCommit[int, int] = GroupCommit(send)
    outcomes = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(recorder.send)
    quitter = asyncio.ensure_future(group.submit(1))
    stayer = asyncio.ensure_future(group.submit(2))
    await recorder.wait_for_calls(1)
    assert recorder.calls == [[1, 2]]
    quitter.cancel()
    recorder.gate.set()
    assert await stayer == 20
    assert quitter.cancelled()


def test_max_calls_below_one_is_refused() -> None:
    async def send(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="max_calls"):
        GroupCommit(send, max_calls=0)


async def test_with_linger_callers_of_later_iterations_share_the_call() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.send, linger=0.02)
    first = asyncio.ensure_future(group.submit(1))
    await settle()  # several loop iterations later, still inside the linger
    assert recorder.calls == []
    second = asyncio.ensure_future(group.submit(2))
    assert list(await asyncio.gather(first, second)) == [10, 20]  # the recorder answers x10
    assert recorder.calls == [[1, 2]]


async def test_without_linger_a_later_iteration_makes_its_own_call() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.send)
    first = asyncio.ensure_future(group.submit(1))
    await settle()
    second = asyncio.ensure_future(group.submit(2))
    assert list(await asyncio.gather(first, second)) == [10, 20]  # the recorder answers x10
    assert recorder.calls == [[1], [2]]


def test_a_negative_linger_is_refused() -> None:
    with pytest.raises(ValueError, match="linger"):
        GroupCommit(Recorder().send, linger=-1)


async def test_a_carrying_groups_call_takes_the_lingering_groups_items_after_its_own() -> None:
    recorder = Recorder()
    lingering: GroupCommit[int, int] = GroupCommit(recorder.send, linger=10.0)
    busy: GroupCommit[int, int] = GroupCommit(recorder.send, carry=lingering)
    waiting = asyncio.ensure_future(lingering.submit(1))
    await settle()
    assert recorder.calls == []  # lingering: nothing sent on its own yet
    async with asyncio.timeout(5):  # far sooner than the 10 s linger
        assert list(await asyncio.gather(busy.submit(2), waiting)) == [20, 10]
    assert recorder.calls == [[2, 1]]  # one call, the carrier's item first
    lingering._launch()  # its timer, when it fires, finds nothing left to send
    await settle()
    assert recorder.calls == [[2, 1]]


@dataclass
class HeldBack:
    """A carrier with item 1 in a call that has not answered, and a lingering group it carries
    whose item 2 waits: its linger timer has fired (no wall-clock wait) while the carrier was
    busy, so item 2 was held back for the carrier's next call."""

    recorder: Recorder
    lingering: GroupCommit[int, int]
    busy: GroupCommit[int, int]
    first: asyncio.Future[int]
    carried: asyncio.Future[int]


async def held_back(*, linger: float = 10.0, max_calls: int = 2) -> HeldBack:
    recorder = Recorder()
    recorder.gate.clear()
    lingering: GroupCommit[int, int] = GroupCommit(recorder.send, linger=linger)
    busy: GroupCommit[int, int] = GroupCommit(recorder.send, max_calls=max_calls, carry=lingering)
    first = asyncio.ensure_future(busy.submit(1))
    await recorder.wait_for_calls(1)
    carried = asyncio.ensure_future(lingering.submit(2))
    await settle()
    lingering._launch()
    await settle()
    return HeldBack(recorder, lingering, busy, first, carried)


async def test_a_lingering_groups_items_never_leave_ahead_of_a_busy_carriers() -> None:
    """While the carrier has a call out, the lingering group's timer sends nothing: its items
    go in the carrier's next call, after the items the carrier holds by then (a receipt then
    finds the submit that was answered before it recorded)."""
    held = await held_back(max_calls=1)
    assert held.recorder.calls == [[1]]  # it waits for the carrier
    queued = asyncio.ensure_future(held.busy.submit(3))
    await settle()
    held.recorder.gate.set()
    async with asyncio.timeout(5):
        assert list(await asyncio.gather(held.first, queued, held.carried)) == [10, 30, 20]
    assert held.recorder.calls == [[1], [3, 2]]


async def test_a_carriers_call_ending_sends_the_carried_items_even_with_none_of_its_own() -> None:
    held = await held_back()
    held.recorder.gate.set()
    async with asyncio.timeout(5):
        assert list(await asyncio.gather(held.first, held.carried)) == [10, 20]
    assert held.recorder.calls == [[1], [2]]


async def test_a_closed_carrier_leaves_the_carried_items_to_their_own_calls() -> None:
    """The carrier closes first (the engine stopping): what it held back is not stranded."""
    held = await held_back(linger=0.01)
    closing = asyncio.ensure_future(held.busy.close())
    held.recorder.gate.set()
    async with asyncio.timeout(5):
        assert await held.carried == 20
        await closing
    assert await held.first == 10
    assert held.recorder.calls == [[1], [2]]


@dataclass
class Chain:
    """A group writing at once carries a lingering one (the engine's light-load records),
    which carries another (its receipts); both linger 10 s, so nothing leaves on a timer."""

    recorder: Recorder
    top: GroupCommit[int, int]
    middle: GroupCommit[int, int]
    bottom: GroupCommit[int, int]


def chain() -> Chain:
    recorder = Recorder()
    bottom: GroupCommit[int, int] = GroupCommit(recorder.send, linger=10.0)
    middle: GroupCommit[int, int] = GroupCommit(recorder.send, linger=10.0, carry=bottom)
    top: GroupCommit[int, int] = GroupCommit(recorder.send, carry=middle)
    return Chain(recorder, top, middle, bottom)


async def test_a_chain_of_carried_groups_goes_in_one_call_each_after_its_carrier() -> None:
    c = chain()
    receipt = asyncio.ensure_future(c.bottom.submit(3))  # handed in first, leaves last
    record = asyncio.ensure_future(c.middle.submit(2))
    await settle()
    assert c.recorder.calls == []
    async with asyncio.timeout(5):
        assert list(await asyncio.gather(c.top.submit(1), record, receipt)) == [10, 20, 30]
    assert c.recorder.calls == [[1, 2, 3]]


async def test_a_carried_group_waits_while_its_carrier_holds_items_of_its_own() -> None:
    """The receipts' timer fires while a record waits in the group carrying them: the receipt
    does not leave ahead of it (it would find no record), but in the record's call, after it."""
    c = chain()
    receipt = asyncio.ensure_future(c.bottom.submit(3))
    record = asyncio.ensure_future(c.middle.submit(2))
    await settle()
    c.bottom._launch()  # its timer fires first
    await settle()
    assert c.recorder.calls == []
    c.middle._launch()
    async with asyncio.timeout(5):
        assert list(await asyncio.gather(record, receipt)) == [20, 30]
    assert c.recorder.calls == [[2, 3]]


async def test_another_call_takes_the_waiting_items_of_the_chain_and_answers_them() -> None:
    c = chain()
    receipt = asyncio.ensure_future(c.bottom.submit(3))
    record = asyncio.ensure_future(c.middle.submit(2))
    await settle()
    taken = c.middle.take_waiting()
    assert [item for item, _ in taken] == [2, 3]  # the carrier's first
    # until answered, the taking is out as a call of the group's: a later receipt waits
    late = asyncio.ensure_future(c.bottom.submit(4))
    await settle()
    c.bottom._launch()  # its timer fires
    await settle()
    assert c.recorder.calls == []
    assert c.middle.take_waiting() == []
    for item, future in taken:
        future.set_result(item * 100)
    c.middle.taken_answered()
    assert list(await asyncio.gather(record, receipt)) == [200, 300]
    c.middle._launch()  # the middle's timer: it takes what waits below it
    async with asyncio.timeout(5):
        assert await late == 40
    assert c.recorder.calls == [[4]]


async def test_nothing_is_taken_while_a_carrier_up_the_chain_has_a_call_out() -> None:
    c = chain()
    c.recorder.gate.clear()
    first = asyncio.ensure_future(c.top.submit(1))
    await c.recorder.wait_for_calls(1)
    record = asyncio.ensure_future(c.middle.submit(2))
    await settle()
    assert c.middle.take_waiting() == []  # it must not overtake item 1
    c.recorder.gate.set()
    async with asyncio.timeout(5):
        assert list(await asyncio.gather(first, record)) == [10, 20]
    assert c.recorder.calls == [[1], [2]]  # the carrier's next call took it


async def test_a_lingering_group_still_sends_on_its_own_when_nothing_carries_it() -> None:
    recorder = Recorder()
    lingering: GroupCommit[int, int] = GroupCommit(recorder.send, linger=0.01)
    GroupCommit(recorder.send, carry=lingering)  # a carrier that makes no call
    async with asyncio.timeout(5):
        assert await lingering.submit(3) == 30
    assert recorder.calls == [[3]]


async def test_close_waits_for_the_call_in_flight_and_drops_the_waiting_items() -> None:
    """Closing (before the client closes) waits for the call out; a caller still waiting for
    a free call sees its item cancelled; a submit after is refused."""
    recorder = Recorder()
    recorder.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(recorder.send, max_calls=1)
    first = asyncio.ensure_future(group.submit(1))
    await recorder.wait_for_calls(1)
    waiting = asyncio.ensure_future(group.submit(2))  # no free call: it waits
    await settle()
    closing = asyncio.ensure_future(group.close())
    await settle()
    assert not closing.done()  # the call in flight is waited for
    recorder.gate.set()
    await closing
    assert await first == 10
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await settle()
    assert recorder.calls == [[1]]
    with pytest.raises(RuntimeError, match="closed"):
        await group.submit(3)


async def test_a_lingering_call_due_after_close_starts_nothing() -> None:
    """Its timer fires once the client is closed: a call then would open connections that
    nobody closes."""
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.send, linger=10.0)
    caller = asyncio.ensure_future(group.submit(1))
    await settle()
    caller.cancel()  # as a task cancelled at shutdown leaves its item behind
    await group.close()
    group._launch()  # the linger timer firing (no wall-clock wait)
    await settle()
    assert recorder.calls == []
