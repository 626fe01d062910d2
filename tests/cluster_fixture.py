"""The `redis_cluster` fixture: a real Redis Cluster (3 masters + 3 replicas) on 127.0.0.1.

A pytest plugin (tests/conftest.py lists it in `pytest_plugins`) over
gateway/cli/cluster_process.py, which starts and stops the processes. Once per session it
starts the six cluster-mode `redis-server` processes (AOF on, no RDB, a 2 s node timeout),
joins them with `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, and
hands the `LocalRedisCluster` to the tests once it is healthy and every replica is in sync;
at the end the nodes are stopped and their directory removed. It fails, never skips, without
redis-server and redis-cli.

Connect with redis-py's own cluster client (no home-made slot routing), or take the
`redis_cluster_client` fixture (one on a flushed cluster, per test):

    client = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster.url)

The cluster's helpers (`master_of_slot`, `kill`, `restart`, `wait_until_healthy`,
`wait_for_new_master`) are blocking: an async test calls them through `asyncio.to_thread` so
its event loop runs on. A test that kills a node restarts it (and waits until healthy) before
it ends, so later tests find a whole cluster again, with the roles possibly swapped.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from gateway.cli.cluster_process import (
    HOST,
    ClusterNotReadyError,
    LocalRedisCluster,
    key_slot,
    running_cluster,
)

# Re-exported: tests import the cluster and its helpers from here too.
__all__ = ["HOST", "LocalRedisCluster", "key_slot", "redis_cluster", "redis_cluster_client"]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A healthy 3-master, 3-replica Redis Cluster on loopback for the whole session."""
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(running_cluster())
        except ClusterNotReadyError as error:
            pytest.fail(str(error))
        yield cluster


@pytest.fixture
async def redis_cluster_client(redis_cluster: LocalRedisCluster) -> AsyncIterator[RedisCluster]:
    """redis-py's asyncio cluster client on the freshly flushed cluster (every master)."""
    client = RedisCluster.from_url(redis_cluster.url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()
