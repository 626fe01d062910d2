"""The Redis client of the `smsgw` commands: the engine's own (gateway/store/redis_client.py).

So every command that talks to Redis (`send`, `status`, `optout`, `inspect`, the demo) uses
one redis-server or, with `redis_cluster: true`, redis-py's RedisCluster, as `smsgw run` does.
What they send stays within a slot per command: `send` one XADD, `optout` one key's script
and HMGET, `inspect` the compliance check (split by slot by the store), and `status` one
HGETALL and LRANGE per shard in a pipeline, which the cluster client splits by node.
Replies are bytes on either kind of client (the engine's factory does not decode).
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from common.redis_errors import REDIS_UNAVAILABLE
from gateway.config import Settings
from gateway.errors import QueueUnavailableError
from gateway.store.redis_client import RedisClient, connect_redis

CLI_CONNECTIONS = 4
"""Connections a command may open (per node on a cluster): each sends a handful of calls."""

REDIS_CHECK_TIMEOUT = 5.0
"""Seconds `check_redis` waits to connect, and then for the answer."""


def open_redis(
    settings: Settings,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
) -> RedisClient:
    """A client of the configured Redis (`redis_url`, `redis_cluster`); nothing is connected
    until its first command. `timeout` bounds each reply, `connect_timeout` each connect."""
    return connect_redis(
        settings.redis_url,
        cluster=settings.redis_cluster,
        max_connections=CLI_CONNECTIONS,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        cluster_nodes=settings.redis_cluster_nodes,
    )


async def check_redis(settings: Settings) -> None:
    """Check that the configured Redis answers: PING on one server; on a cluster, the client
    loads the slot map from the node in `redis_url` (CLUSTER SLOTS, after AUTH), which is all
    a command needs before it goes to its slot's master. No node is asked more: a replica, or
    the master of a slot the command does not touch, may be down (failing over) meanwhile.

    Raises:
        redis.exceptions.ConnectionError: refused, unresolvable, or authentication failed.
        redis.exceptions.TimeoutError: no answer within REDIS_CHECK_TIMEOUT seconds.
        redis.exceptions.RedisClusterUnreachableError: no node of the cluster answered.
        QueueUnavailableError: the cluster answered but cannot serve (its slots are not all
            assigned, e.g. not created yet); the cause is redis-py's error.
        ConfigError: a cluster URL with a database other than 0.
    """
    client = open_redis(settings, timeout=REDIS_CHECK_TIMEOUT, connect_timeout=REDIS_CHECK_TIMEOUT)
    try:
        if isinstance(client, RedisCluster):
            await _load_slot_map(client)
        else:
            await client.ping()
    finally:
        await client.aclose()


async def _load_slot_map(client: RedisCluster) -> None:
    try:
        _ = await client.initialize()  # returns the client itself
    except REDIS_UNAVAILABLE:  # RedisClusterUnreachableError among them
        raise
    except RedisClusterException as error:  # e.g. slots not all assigned: not created yet
        raise QueueUnavailableError("redis cluster not ready") from error
