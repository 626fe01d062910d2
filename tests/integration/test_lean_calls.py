"""`LeanCalls` (common/lean_calls.py) on a real redis-server and a real Redis Cluster.

It must answer exactly what redis-py's own script call answers, take redis-py's way for what
is not the common case (a script the server has not seen), raise Lua errors as before, never
hand out a connection with a reply left unread (a caller cancelled mid-call), and reconnect
an idle connection the server closed, as the pool does, instead of failing a call with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from common.lean_calls import LeanCalls
from gateway.store.redis_client import connect_redis
from tests.conftest import RedisServer

ECHO = "return {ARGV[1], tonumber(ARGV[2]), {KEYS[1], false}, redis.call('INCR', KEYS[1])}"
SLOW_ECHO = """
local deadline = tonumber(redis.call('TIME')[1]) * 1e6 + tonumber(redis.call('TIME')[2])
  + tonumber(ARGV[2])
while tonumber(redis.call('TIME')[1]) * 1e6 + tonumber(redis.call('TIME')[2]) < deadline do end
return ARGV[1]
"""


@pytest.fixture
async def engine_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The engine's kind of client: one bounded, blocking pool (gateway/store/redis_client.py)."""
    client = connect_redis(redis_server.url, cluster=False, max_connections=16)
    assert isinstance(client, aioredis.Redis)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_reply_is_redis_pys_and_idle_connections_are_reused(
    engine_client: aioredis.Redis,
) -> None:
    caller = LeanCalls(engine_client)
    script = engine_client.register_script(ECHO)
    expected = await script(keys=["n"], args=["héllo", 7.5])
    got = await caller.script(script, ["n"], ["héllo", 7.5])
    assert got == [*expected[:3], expected[3] + 1]
    assert got == [b"h\xc3\xa9llo", 7, [b"n", None], 2]
    pool = engine_client.connection_pool
    in_use = len(pool._in_use_connections)
    for n in range(20):
        assert (await caller.script(script, ["n"], [str(n), n]))[:2] == [str(n).encode(), n]
    assert len(pool._in_use_connections) == in_use  # one kept
    await caller.close()
    assert len(pool._in_use_connections) == in_use - 1


async def test_a_script_the_server_has_not_seen_is_loaded_the_usual_way(
    engine_client: aioredis.Redis,
) -> None:
    caller = LeanCalls(engine_client)
    script = engine_client.register_script(ECHO)
    await engine_client.script_flush()
    assert (await caller.script(script, ["n"], ["a", 1]))[0] == b"a"
    assert await engine_client.script_exists(script.sha) == [True]
    await caller.close()


async def test_a_lua_error_is_raised_and_the_connection_stays_usable(
    engine_client: aioredis.Redis,
) -> None:
    caller = LeanCalls(engine_client)
    failing = engine_client.register_script("return redis.error_reply('BAD ' .. ARGV[1])")
    echo = engine_client.register_script(ECHO)
    with pytest.raises(redis.exceptions.ResponseError, match="BAD thing"):
        await caller.script(failing, ["k"], ["thing"])
    assert (await caller.script(echo, ["n"], ["after", 2]))[:2] == [b"after", 2]
    await caller.close()


async def test_a_caller_cancelled_mid_call_never_leaves_its_reply_to_the_next(
    engine_client: aioredis.Redis,
) -> None:
    """The slow call's reply arrives after its caller gave up: the next call on the caller
    must read its own reply, not that one."""
    caller = LeanCalls(engine_client, keep_idle=1)
    slow = engine_client.register_script(SLOW_ECHO)
    await slow(keys=["k"], args=["warm", 0])
    await caller.script(slow, ["k"], ["first", 0])  # one idle connection kept from here on
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(caller.script(slow, ["k"], ["late", 150_000]), 0.03)
    for n in range(5):
        assert await caller.script(slow, ["k"], [f"own-{n}", 0]) == f"own-{n}".encode()
    await caller.close()


async def test_an_idle_connection_the_server_closed_is_reconnected_not_failed(
    engine_client: aioredis.Redis, redis_server: RedisServer
) -> None:
    caller = LeanCalls(engine_client)
    echo = engine_client.register_script(ECHO)
    assert (await caller.script(echo, ["n"], ["before", 1]))[0] == b"before"
    other = aioredis.Redis.from_url(redis_server.url)
    try:
        killed = await other.client_kill_filter(_type="normal", skipme=True)
    finally:
        await other.aclose()
    assert killed >= 1
    await asyncio.sleep(0.05)  # the EOF reaches the idle connection's reader
    assert (await caller.script(echo, ["n"], ["after", 2]))[0] == b"after"
    await caller.close()


async def test_on_a_cluster_each_call_goes_to_the_master_of_its_keys(
    redis_cluster_client: RedisCluster,
) -> None:
    caller = LeanCalls(redis_cluster_client)
    script = redis_cluster_client.register_script(ECHO)
    for tag in ("{a}", "{b}", "{c}", "{d}"):
        key = f"{tag}:n"
        assert await caller.script(script, [key], ["x", 3]) == [b"x", 3, [key.encode(), None], 1]
        assert await redis_cluster_client.get(key) == b"1"
    await redis_cluster_client.script_flush()
    assert (await caller.script(script, ["{a}:n"], ["y", 4]))[3] == 2  # loaded the usual way


async def test_a_command_answers_unparsed_and_raises_its_error_reply(
    engine_client: aioredis.Redis,
) -> None:
    calls = LeanCalls(engine_client)
    entry_id = await engine_client.xadd("s", {"data": "x", "data ": "y"})
    await engine_client.xgroup_create("s", "g", id="0")

    async def not_used() -> None:
        raise AssertionError("the usual way was taken")

    words: list[str | int] = ["XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "s", ">"]
    reply = await calls.command(words, key="s", fallback=not_used)
    streams = list(reply.items()) if isinstance(reply, dict) else reply  # RESP3 or RESP2
    assert [list(s) for s in streams] == [[b"s", [[entry_id, [b"data", b"x", b"data ", b"y"]]]]]
    with pytest.raises(redis.exceptions.ResponseError, match="NOGROUP"):
        await calls.command([*words[:2], "other", *words[3:]], key="s", fallback=not_used)
    assert await calls.command(words, key="s", fallback=not_used) is None  # nothing new
    await calls.close()
