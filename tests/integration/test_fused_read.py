"""A read at light load skips the queue: accepted and admitted in one Redis call, then sent as
any tick's messages are; and when that call fails, the usual way (accept, queue, tick) takes
the same messages. Real redis-server, real simulator, real sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from gateway.engine.runner import Engine
from gateway.store.state_store import AcceptResult
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

Calls = list[str]


def count_accepts(engine: Engine, calls: Calls) -> None:
    """Note each accept.lua call of its own (the usual way) in `calls`."""
    store = engine.shards[0].store
    accept = store.accept

    async def counted(header: Sequence[Any], rows: Sequence[str]) -> list[AcceptResult]:
        calls.append("accept")
        return await accept(header, rows)

    store.accept = counted  # type: ignore[method-assign]


def count_fused(engine: Engine, calls: Calls, *, fail_first: bool = False) -> None:
    """Note each accept-and-admit call in `calls`; the first fails as a script error would,
    when `fail_first`."""
    admission = engine.shards[0].admission
    assert admission is not None
    fused: Callable[..., Awaitable[Any]] = admission.accept_and_admit

    async def counted(*args: Any) -> Any:
        calls.append("fused")
        if fail_first and calls.count("fused") == 1:
            raise redis.exceptions.ResponseError("ERR a script error")
        return await fused(*args)

    admission.accept_and_admit = counted  # type: ignore[method-assign,assignment]


async def test_a_light_load_read_is_accepted_and_admitted_in_one_call(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    calls: Calls = []
    ids = [f"m{n}" for n in range(4)]
    async with running_engine(settings) as engine:
        count_accepts(engine, calls)
        count_fused(engine, calls)
        for n in range(4):  # one at a time: each read finds the queue empty
            await enqueue(redis_client, [message(n)])
            await wait_for_statuses(redis_client, [f"m{n}"], {"submitted"})
        events = await wait_for_statuses(redis_client, ids)
    assert calls == ["fused"] * 4  # never accept.lua alone
    for message_id in ids:
        assert statuses(events, message_id) == ["accepted", "submitted", "delivered"]
    assert await redis_client.xpending("smsgw:outbound", "smsgw") == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip


async def test_a_duplicate_in_a_fused_read_is_acknowledged_and_never_sent(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    calls: Calls = []
    async with running_engine(settings) as engine:
        count_fused(engine, calls)
        await enqueue(redis_client, [message(1)])
        await wait_for_statuses(redis_client, ["m1"])
        await enqueue(redis_client, [message(1, text="again"), message(2)])
        events = await wait_for_statuses(redis_client, ["m2"])
    assert "fused" in calls
    assert statuses(events, "m1") == ["accepted", "submitted", "delivered"]
    assert [m.text for m in simulator.messages()].count("hello 1") == 1
    assert "again" not in [m.text for m in simulator.messages()]
    pending = await redis_client.xpending("smsgw:outbound", "smsgw")
    assert pending["pending"] == 0  # the duplicate's entry acknowledged


async def test_when_the_fused_call_fails_the_usual_way_sends_each_message_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    calls: Calls = []
    ids = ["m1", "m2", "m3"]
    async with running_engine(settings) as engine:
        count_accepts(engine, calls)
        count_fused(engine, calls, fail_first=True)
        await enqueue(redis_client, [message(n) for n in (1, 2, 3)])
        events = await wait_for_statuses(redis_client, ids)
    assert calls[:2] == ["fused", "accept"]  # the failed call, then the usual way
    for message_id in ids:
        assert statuses(events, message_id) == ["accepted", "submitted", "delivered"]
    sent = [m.text for m in simulator.messages()]
    assert sorted(t for t in sent if t.startswith("hello")) == ["hello 1", "hello 2", "hello 3"]
