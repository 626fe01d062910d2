import asyncio

import redis.asyncio as aioredis


async def test_loop_is_running() -> None:
    assert asyncio.get_running_loop().is_running()


async def test_redis_round_trip(redis_client: aioredis.Redis) -> None:
    await redis_client.set(b"k", b"v")
    assert await redis_client.get(b"k") == b"v"


async def test_loop_matches_requested_kind() -> None:
    import os

    loop = asyncio.get_running_loop()
    wanted = os.environ.get("SMSGW_TEST_LOOP", "uvloop")
    assert ("uvloop" in type(loop).__module__) == (wanted == "uvloop")
