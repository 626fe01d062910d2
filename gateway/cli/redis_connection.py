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

from gateway.config import Settings
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
    )


async def check_redis(settings: Settings) -> None:
    """PING the configured Redis. On a cluster the client first loads the slot map from the
    node in `redis_url` (or any node it names), then PINGs one master: a replica or another
    master being down does not fail a command that may not need it (redis-py's PING would
    ask every node).

    Raises:
        redis.exceptions.ConnectionError: refused, unresolvable, or authentication failed.
        redis.exceptions.TimeoutError: no answer within REDIS_CHECK_TIMEOUT seconds.
        redis.exceptions.RedisClusterUnreachableError: no node of the cluster answered.
        ConfigError: a cluster URL with a database other than 0.
    """
    client = open_redis(settings, timeout=REDIS_CHECK_TIMEOUT, connect_timeout=REDIS_CHECK_TIMEOUT)
    try:
        if isinstance(client, RedisCluster):
            await client.ping(target_nodes=RedisCluster.DEFAULT_NODE)
        else:
            await client.ping()
    finally:
        await client.aclose()
