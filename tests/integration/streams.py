"""Redis streams read back in tests, typed as the tests' clients answer."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

# (entry id, fields) as XRANGE answers on a client with decode_responses=False
StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


async def stream_entries(client: aioredis.Redis | RedisCluster, stream: str) -> StreamEntries:
    """Every entry of `stream`, oldest first (XRANGE - +).

    redis-py types the reply as a list of optional ids and fields, of bytes or str, or None:
    XRANGE answers neither nil nor an entry without its id or fields, and a client with
    decode_responses=False answers bytes.
    """
    return cast(StreamEntries, await client.xrange(stream))
