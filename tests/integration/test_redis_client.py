"""The engine's Redis client factory (gateway/store/redis_client.py): a bounded, waiting pool
on one redis-server, redis-py's cluster client on a Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from gateway.config import settings_from_mapping
from gateway.errors import ConfigError
from gateway.store.redis_client import connect_redis
from tests.cluster_fixture import LocalRedisCluster
from tests.conftest import RedisServer, free_port


async def blocked_clients(client: aioredis.Redis) -> int:
    return int((await client.info("clients"))["blocked_clients"])


async def test_single_server_commands_wait_for_a_free_connection(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Both pooled connections held by BLPOPs: a third command waits for one, and does not
    fail with "Too many connections"."""
    client = connect_redis(redis_server.url, cluster=False, max_connections=2)
    try:
        assert isinstance(client, aioredis.Redis)
        holders = [asyncio.ensure_future(client.blpop(["q"], timeout=10)) for _ in range(2)]
        for _ in range(500):  # until both BLPOPs block on the server (a bound, not a wait)
            if await blocked_clients(redis_client) == 2:
                break
        assert await blocked_clients(redis_client) == 2
        waiting = asyncio.ensure_future(client.ping())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # no connection free, and no error either
        await redis_client.rpush("q", "a", "b")
        assert await waiting is True
        popped = []
        for reply in await asyncio.gather(*holders):
            assert reply is not None  # None only when the BLPOP timed out
            popped.append(tuple(reply))
        assert sorted(popped) == [(b"q", b"a"), (b"q", b"b")]
    finally:
        await client.aclose()


async def test_cluster_client_reaches_every_shard(redis_cluster: LocalRedisCluster) -> None:
    """redis_cluster: redis-py's cluster client, from one node's URL; keys of shards on every
    master are written and read back through it, with `max_connections` per node."""
    client = connect_redis(redis_cluster.url, cluster=True, max_connections=4)
    try:
        assert isinstance(client, RedisCluster)
        await client.flushall()
        keys = [f"{{smsgw:{k}}}:msg:m{k}" for k in range(12)]
        masters = {redis_cluster.master_of_key(key) for key in keys}
        assert len(masters) == 3  # the twelve shards' slots are spread over every master
        for key in keys:
            await client.hset(key, "status", "accepted")
        assert [await client.hget(key, "status") for key in keys] == [b"accepted"] * 12
        limits = set()
        for key in keys:
            node = client.get_node_from_key(key)
            assert node is not None
            limits.add(node.max_connections)
        assert limits == {4}
    finally:
        await client.aclose()


def test_cluster_url_with_a_database_is_a_config_error(redis_cluster: LocalRedisCluster) -> None:
    url = redis_cluster.url.rsplit("/", 1)[0] + "/1"
    with pytest.raises(ConfigError, match="redis_url"):
        connect_redis(url, cluster=True, max_connections=4)


async def test_cluster_nodes_let_the_client_start_while_the_url_node_is_down(
    redis_cluster: LocalRedisCluster,
) -> None:
    """redis_cluster_nodes: the node in redis_url is down (a free port here) when the client
    first discovers the cluster; a listed node answers in its place."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    alone = connect_redis(dead, cluster=True, max_connections=2, socket_connect_timeout=1)
    try:
        with pytest.raises(redis.exceptions.RedisClusterException):
            await alone.initialize()
    finally:
        await alone.aclose()
    seeded = connect_redis(
        dead,
        cluster=True,
        max_connections=2,
        socket_connect_timeout=1,
        cluster_nodes=[f"127.0.0.1:{redis_cluster.ports[3]}"],
    )
    try:
        await seeded.set("{smsgw:1}:seeded", "yes")
        assert await seeded.get("{smsgw:1}:seeded") == b"yes"
    finally:
        await seeded.aclose()


@pytest.mark.parametrize("node", ["nohost", ":6379", "host:0", "host:http", "host:70000"])
def test_a_malformed_cluster_node_is_a_config_error_naming_it(node: str) -> None:
    with pytest.raises(ConfigError, match=r"redis_cluster_nodes\[1\]: expected host:port"):
        settings_from_mapping({"redis_cluster_nodes": ["a:1", node]})
