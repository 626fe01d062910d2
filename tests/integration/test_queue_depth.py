"""The outbound stream's gauges read from a real redis-server: length, pending, lag."""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway.store.queue import QueueDepth, StreamConsumer


async def test_depth_reports_length_pending_and_consumer_lag(
    redis_client: aioredis.Redis,
) -> None:
    consumer = StreamConsumer(redis_client, "t:out", "g", "me")
    await consumer.ensure_group()
    for _ in range(5):
        await redis_client.xadd("t:out", {"data": "{}"})
    assert await consumer.depth() == QueueDepth(length=5, pending=0, lag=5)
    read = await consumer.read(2, None)
    assert await consumer.depth() == QueueDepth(length=5, pending=2, lag=3)
    await redis_client.xack("t:out", "g", read[0].entry_id)
    assert await consumer.depth() == QueueDepth(length=5, pending=1, lag=3)
