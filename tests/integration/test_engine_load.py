"""The engine under a backlog: full reads accepted in the background while the next read goes
on, at most `capacity` messages under way (those through with the carrier and waiting only for
their record do not count), and every count back to zero once the work is done. Real
redis-server, real simulator, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from gateway.engine.runner import Engine
from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    message,
    running_engine,
    statuses,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import RunningSimulator

COUNT = 400


async def watch(engine: Engine, peaks: Counter[str]) -> None:
    """Keep the highest counts seen, every millisecond, until cancelled."""
    while True:
        peaks["under_way"] = max(peaks["under_way"], engine._under_way)
        peaks["committing"] = max(peaks["committing"], engine.pipeline.committing)
        peaks["accepting"] = max(peaks["accepting"], engine._accepting)
        await asyncio.sleep(0.001)


async def test_a_backlog_is_sent_once_within_capacity_and_every_count_returns_to_zero(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(
        redis_server.url, [("sim", simulator.host, simulator.port)],
        consumer={"batch": 16}, engine={"max_in_flight": 128},
    )  # fmt: skip
    ids = [f"m{n}" for n in range(COUNT)]
    peaks: Counter[str] = Counter()
    async with running_engine(settings) as engine:
        watcher = asyncio.get_running_loop().create_task(watch(engine, peaks))
        try:
            await enqueue(redis_client, [message(n) for n in range(COUNT)])
            events = await wait_for_statuses(redis_client, ids, within=60)
            for _ in range(200):  # the last records' writes end just after their events
                if not engine._busy:
                    break
                await asyncio.sleep(0.01)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert (engine._busy, engine.pipeline.committing, engine._accepting) == (0, 0, 0)
        capacity = engine.capacity
    for message_id in ids:
        assert statuses(events, message_id) == ["accepted", "submitted", "delivered"]
    sent = Counter(m.text for m in simulator.messages())
    assert all(sent[f"hello {n}"] == 1 for n in range(COUNT))
    assert peaks["accepting"] > 0  # full reads were accepted in the background
    assert peaks["committing"] > 0
    assert 0 < peaks["under_way"] <= capacity


async def test_a_failing_background_accept_makes_ingest_unready_until_one_succeeds(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    """Accepts fail with our bug (not Redis), in the background (full reads) or in line:
    /readyz names ingest, however many empty reads succeed meanwhile; once an accept succeeds
    it is ready again, and the entries of the failed reads, left pending, are reclaimed and
    sent once."""
    settings = engine_settings(
        redis_server.url, [("sim", simulator.host, simulator.port)],
        consumer={"batch": 16}, engine={"max_in_flight": 128},
    )  # fmt: skip
    async with running_engine(settings) as engine:
        accept = engine._accept
        failing = True

        async def flaky(*args: Any) -> set[str]:
            if failing:
                raise RuntimeError("a bug")
            return await accept(*args)

        engine._accept = flaky  # type: ignore[method-assign,assignment]
        engine._may_fuse = lambda *_: False  # type: ignore[method-assign]  # every read accepts
        await enqueue_at_once(redis_client, range(64))  # full reads: accepted behind
        await until(lambda: "ingest" in engine._failing)
        failing = False
        await enqueue_at_once(redis_client, range(64, 128))
        await until(lambda: "ingest" not in engine._failing)
        events = await wait_for_statuses(redis_client, [f"m{n}" for n in range(128)], within=30)
    assert all(statuses(events, f"m{n}")[-1] == "delivered" for n in range(128))
    sent = Counter(m.text for m in simulator.messages())
    assert all(sent[f"hello {n}"] == 1 for n in range(128))


async def enqueue_at_once(client: aioredis.Redis, numbers: Iterable[int]) -> None:
    """XADD the messages in one pipeline, so the engine finds them all at its next read."""
    pipe = client.pipeline(transaction=False)
    for n in numbers:
        _ = pipe.xadd("smsgw:outbound", {"data": json.dumps(message(n))})  # sent by execute
    await pipe.execute()


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)
