"""The request window: slots, resolution, expiry, cancellation, failure of everything."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.carrier.backoff import Backoff
from gateway.carrier.window import Window
from gateway.errors import ConnectionLostError, NotBoundError, ResponseTimeoutError


async def test_full_window_blocks_next_acquire_until_a_response() -> None:
    window: Window[str] = Window(2, timeout=10)
    await window.acquire()
    await window.acquire()
    waiter = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    future = window.add(1, now=0.0)
    _ = window.add(2, now=0.0)
    assert window.resolve(1, "resp")
    await asyncio.wait_for(waiter, 1)
    assert await future == "resp"


async def test_late_or_unknown_response_resolves_nothing() -> None:
    window: Window[str] = Window(1, timeout=10)
    await window.acquire()
    _ = window.add(7, now=0.0)
    assert window.resolve(7, "ok")
    assert not window.resolve(7, "again")
    assert not window.resolve(8, "never sent")


async def test_expiry_fails_in_deadline_order_and_frees_slots() -> None:
    window: Window[str] = Window(3, timeout=5)
    futures = []
    for n, now in ((1, 0.0), (2, 1.0), (3, 2.0)):
        await window.acquire()
        futures.append(window.add(n, now=now))
    assert window.expire(5.5) == [1]
    assert window.expire(7.0) == [2, 3]
    for future in futures:
        with pytest.raises(ResponseTimeoutError):
            await future
    assert window.in_flight == 0
    for _ in range(3):
        await asyncio.wait_for(window.acquire(), 1)


async def test_fail_all_fails_every_request_with_the_error() -> None:
    window: Window[str] = Window(2, timeout=5)
    await window.acquire()
    future = window.add(1, now=0.0)
    assert window.fail_all(ConnectionLostError("gone")) == 1
    with pytest.raises(ConnectionLostError):
        await future


async def test_cancelled_acquire_does_not_leak_a_slot() -> None:
    window: Window[str] = Window(1, timeout=5)
    await window.acquire()
    waiter = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    window.release()
    await asyncio.wait_for(window.acquire(), 1)  # the slot came back exactly once
    assert window.is_full


async def test_discard_frees_the_slot_of_a_cancelled_request() -> None:
    window: Window[str] = Window(1, timeout=5)
    await window.acquire()
    _ = window.add(1, now=0.0)
    assert window.discard(1)
    assert not window.resolve(1, "late")
    await asyncio.wait_for(window.acquire(), 1)


async def test_drained_waits_for_outstanding_requests() -> None:
    window: Window[str] = Window(2, timeout=5)
    await window.acquire()
    _ = window.add(1, now=0.0)
    drained = asyncio.ensure_future(window.drained())
    await asyncio.sleep(0)
    assert not drained.done()
    window.resolve(1, "x")
    await asyncio.wait_for(drained, 1)


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Window(0, timeout=1)


def test_backoff_grows_with_jitter_and_never_below_half_the_step() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1.0


async def test_refuse_fails_waiting_and_new_acquires_but_keeps_what_is_on_the_wire() -> None:
    """A drain (SIGTERM) refuses requests waiting for a slot: they were never sent."""
    window: Window[str] = Window(1, timeout=5.0)
    await window.acquire()
    on_wire = window.add(1, now=0.0)
    waiting = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    window.refuse("draining")
    with pytest.raises(NotBoundError, match="draining"):
        await waiting
    with pytest.raises(NotBoundError):
        await window.acquire()
    with pytest.raises(NotBoundError):
        window.check_open()
    assert window.resolve(1, "answer")
    assert on_wire.result() == "answer"
