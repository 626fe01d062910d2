"""The engine's Redis client: one redis-server, or redis-py's own Redis Cluster client.

`connect_redis` builds either from `redis_url` and `redis_cluster` (gateway/config.py). On a
single server the engine's tasks share one bounded pool and wait for a free connection
instead of failing with "Too many connections" (redis-py's default pool caps and raises).

On a cluster, `redis.asyncio.cluster.RedisCluster` discovers the nodes from the one in the
URL, routes each command by its keys' slot, follows MOVED and ASK, and after a master dies
refreshes its slot map and retries (with backoff) until the replica that took over answers:
smsgw does no slot routing of its own. What it cannot do is wait for a connection: its pools
are per node, `max_connections` each, and a command finding a node's pool empty fails at once
with `MaxConnectionsError` (a `ConnectionError`, so "unavailable": the engine retries later).
So the cap is per node there; with the engine's calls spread over the masters' slots, each
node sees a share of them.

Every Redis caller of the engine takes a `RedisClient`, either kind; a caller that must
behave differently on a cluster (one Lua script may only touch one slot) tells them apart
with `isinstance(client, RedisCluster)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from gateway.config import cluster_node_address, redacted_url
from gateway.errors import ConfigError

RedisClient: TypeAlias = aioredis.Redis | RedisCluster
"""A redis.asyncio client of one server or of a Redis Cluster (bytes replies either way)."""

POOL_WAIT = 10.0
"""Seconds a command waits for a free connection of the single server's pool."""


def connect_redis(
    url: str,
    *,
    cluster: bool,
    max_connections: int,
    pool_wait: float = POOL_WAIT,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    cluster_nodes: Sequence[str] = (),
) -> RedisClient:
    """A client for `url` (no connection is made until the first command).

    Args:
        url: `redis://` or `rediss://` URL; on a cluster, any one node (the client finds the
            others), and no database number other than 0.
        cluster: `redis_cluster` from the config: redis-py's RedisCluster client.
        max_connections: the engine's pool (`engine.redis_connections`); per node on a cluster.
        pool_wait: how long a command waits for a free pooled connection (single server).
        socket_timeout: seconds to wait for a reply (None: no limit, redis-py's default).
        socket_connect_timeout: seconds to wait for a connection (None: redis-py's default).
        cluster_nodes: more nodes of the cluster, "host:port" (`redis_cluster_nodes`), which
            the client tries too when it first discovers the cluster: the one in `url` may be
            down when a gateway starts. They share the URL's credentials and TLS.

    Returns:
        A `redis.asyncio.Redis` on one bounded, blocking pool (closing the client closes the
        pool), or a `redis.asyncio.cluster.RedisCluster`.

    Raises:
        ConfigError: a cluster URL redis-py's cluster client refuses (a database other than 0).
        ValueError: a malformed URL (redis-py's own error; config.py checks `redis_url` first).
    """
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    if cluster:
        try:
            seeds = [ClusterNode(*cluster_node_address(node)) for node in cluster_nodes]
            return RedisCluster.from_url(
                url, max_connections=max_connections, startup_nodes=seeds or None, **timeouts
            )
        except RedisClusterException as error:
            raise ConfigError(f"redis_url: {error}; got {redacted_url(url)!r}") from None
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=pool_wait, **timeouts
    )
    return aioredis.Redis.from_pool(pool)
