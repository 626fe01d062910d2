"""The `backend` fixture: each test that takes it runs twice, on one redis-server and on the
session's real Redis Cluster (3 masters, 3 replicas; tests/cluster_fixture.py).

A pytest plugin (tests/conftest.py lists it in `pytest_plugins`). `backend.url` and
`backend.cluster` are what a config's `redis_url` and `redis_cluster` say; `backend.client`
is a client of the flushed backend (redis-py's cluster client on the cluster), bytes replies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster


@dataclass
class Backend:
    url: str
    cluster: bool
    client: Any  # aioredis.Redis | RedisCluster, on the flushed backend


@pytest.fixture(params=["single", "cluster"])
def backend_url(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """One redis-server, or the session's Redis Cluster."""
    if request.param == "single":
        return request.getfixturevalue("redis_server").url, False
    return request.getfixturevalue("redis_cluster").url, True


@pytest.fixture
async def backend(backend_url: tuple[str, bool]) -> AsyncIterator[Backend]:
    url, cluster = backend_url
    client = RedisCluster.from_url(url) if cluster else aioredis.Redis.from_url(url)
    await client.flushall()
    try:
        yield Backend(url, cluster, client)
    finally:
        await client.aclose()
