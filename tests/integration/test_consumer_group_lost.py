"""A consumer group that disappears (the stream deleted, or a promoted replica that never got
the XGROUP CREATE) is created again from id 0 by the next read, reclaim or touch, on a real
redis-server: nothing on the stream is skipped, and other errors still raise."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from gateway.store.queue import StreamConsumer

STREAM = "t:out"
GROUP = "g"


async def _add(client: aioredis.Redis, count: int) -> list[str]:
    ids = []
    for i in range(count):
        entry_id = await client.xadd(STREAM, {"data": f'{{"id": "m{i}"}}'})
        assert isinstance(entry_id, bytes)
        ids.append(entry_id.decode())
    return ids


async def test_a_read_after_the_group_is_destroyed_recreates_it_from_the_start(
    redis_client: aioredis.Redis,
) -> None:
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me")
    await consumer.ensure_group()
    ids = await _add(redis_client, 3)
    assert [e.entry_id for e in await consumer.read(2, None)] == ids[:2]
    await redis_client.xgroup_destroy(STREAM, GROUP)

    again = await consumer.read(10, None)

    assert [e.entry_id for e in again] == ids  # from id 0: the two read before come back
    groups = await redis_client.xinfo_groups(STREAM)
    assert [(g["name"], g["pending"]) for g in groups] == [(GROUP.encode(), 3)]
    assert await consumer.read(10, None) == []  # each entry handed out once


async def test_reclaim_and_touch_recreate_a_missing_group(redis_client: aioredis.Redis) -> None:
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me")
    await consumer.ensure_group()
    ids = await _add(redis_client, 2)
    await redis_client.xgroup_destroy(STREAM, GROUP)
    assert await consumer.reclaim(0, 10) == []
    assert len(await redis_client.xinfo_groups(STREAM)) == 1

    await redis_client.xgroup_destroy(STREAM, GROUP)
    await consumer.touch(ids)
    assert [e.entry_id for e in await consumer.read(10, None)] == ids


async def test_a_read_of_a_deleted_stream_starts_over_on_new_entries(
    redis_client: aioredis.Redis,
) -> None:
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me")
    await consumer.ensure_group()
    await _add(redis_client, 1)
    assert len(await consumer.read(10, None)) == 1
    await redis_client.delete(STREAM)
    assert await consumer.read(10, None) == []  # the stream and group exist again, empty
    new = await _add(redis_client, 1)
    assert [e.entry_id for e in await consumer.read(10, None)] == new


async def test_entries_older_than_the_horizon_are_not_replayed(
    redis_client: aioredis.Redis,
) -> None:
    """Their records may have expired, so accept.lua could not tell them as duplicates."""
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me", horizon_s=3600)
    await consumer.ensure_group()
    await redis_client.xadd(STREAM, {"data": "{}"}, id="1000-0")  # enqueued in 1970
    recent = await _add(redis_client, 2)
    assert len(await consumer.read(10, None)) == 3
    await redis_client.xgroup_destroy(STREAM, GROUP)
    assert [e.entry_id for e in await consumer.read(10, None)] == recent


async def test_signals_restart_after_the_last_one_read(redis_client: aioredis.Redis) -> None:
    """Replaying an old opt_in after a later STOP would opt the handset back in."""
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me", replay="after_last_read")
    await consumer.ensure_group()
    ids = await _add(redis_client, 3)
    assert [e.entry_id for e in await consumer.read(2, None)] == ids[:2]
    await redis_client.xgroup_destroy(STREAM, GROUP)
    assert [e.entry_id for e in await consumer.read(10, None)] == ids[2:]


async def test_other_response_errors_still_raise(redis_client: aioredis.Redis) -> None:
    await redis_client.set(STREAM, "not a stream")
    consumer = StreamConsumer(redis_client, STREAM, GROUP, "me")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await consumer.read(10, None)
