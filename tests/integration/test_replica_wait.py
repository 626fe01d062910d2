"""`ReplicaWait` (config `redis_wait`): a state script followed by WAIT on its own connection,
on a real primary + replica pair, on a lone redis-server, and on the 3+3 Redis Cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from gateway.cli.child_process import logged_process, redis_server_args, redis_server_process
from gateway.store.replica_wait import ReplicaWait
from tests.cluster_fixture import LocalRedisCluster
from tests.conftest import RedisServer, free_port

# Writes KEYS[1] = ARGV[1] and returns it: a state write, as apply.lua's are.
SET_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1]"


@pytest.fixture(scope="module")
def primary_with_replica(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, int]]:
    """A redis-server and a replica of it (in sync), on free loopback ports."""
    binary = shutil.which("redis-server") or "redis-server"
    primary, replica = free_port(), free_port()
    data_dir = tmp_path_factory.mktemp("replica")  # where its full sync writes an RDB
    replica_args = [*redis_server_args(replica, binary, data_dir=data_dir),
                    "--replicaof", "127.0.0.1", str(primary)]  # fmt: skip
    with (
        redis_server_process(primary, binary=binary),
        logged_process(replica_args, None),
        redis.Redis(port=replica) as client,
    ):
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.info("replication").get("master_link_status") == "up":
                    break
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.02)
        yield primary, replica


@pytest.fixture
async def primary_client(primary_with_replica: tuple[int, int]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=primary_with_replica[0])
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_write_is_on_the_replica_when_the_call_returns(
    primary_client: aioredis.Redis, primary_with_replica: tuple[int, int]
) -> None:
    results: list[bool] = []
    wait = ReplicaWait(primary_client, replicas=1, timeout_ms=2000, on_wait=results.append)
    script = primary_client.register_script(SET_SCRIPT)
    for n in range(20):
        assert await wait.run(script, ["t:w"], [str(n)]) == b"%d" % n
        # WAIT returned 1, so the replica applied it: read there at once, no polling
        with redis.Redis(port=primary_with_replica[1]) as replica:
            assert replica.get("t:w") == b"%d" % n
    assert results == [True] * 20


async def test_a_server_without_replicas_reports_the_wait_short_and_keeps_the_write(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    results: list[bool] = []
    wait = ReplicaWait(redis_client, replicas=1, timeout_ms=10, on_wait=results.append)
    script = redis_client.register_script(SET_SCRIPT)
    assert await wait.run(script, ["t:w"], ["x"]) == b"x"
    assert await redis_client.get("t:w") == b"x"  # written all the same
    assert results == [False]


async def test_no_replicas_asked_sends_the_script_alone(redis_client: aioredis.Redis) -> None:
    results: list[bool] = []
    wait = ReplicaWait(redis_client, replicas=0, on_wait=results.append)
    script = redis_client.register_script(SET_SCRIPT)
    await redis_client.config_resetstat()
    assert await wait.run(script, ["t:w"], ["x"]) == b"x"
    assert "cmdstat_wait" not in await redis_client.info("commandstats")
    assert results == []


async def test_on_the_cluster_the_wait_goes_to_the_scripts_master(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """The WAIT is sent to the master of the script's key, in one pipeline with the script
    (so on its connection: a connection that wrote nothing has nothing to wait for)."""
    results: list[bool] = []
    wait = ReplicaWait(redis_cluster_client, replicas=1, timeout_ms=2000, on_wait=results.append)
    script = redis_cluster_client.register_script(SET_SCRIPT)
    for shard in range(6):
        key = f"{{smsgw:{shard}}}:w"
        assert await wait.run(script, [key], [key]) == key.encode()
    assert results == [True] * 6

    # With the key's replica stopped, the WAIT times out: it waited for this very write.
    master = redis_cluster.master_of_key("{smsgw:0}:w")
    with redis.Redis(port=master) as client:
        replica_port = int(client.info("replication")["slave0"]["port"])
    process = redis_cluster.node(replica_port).process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        wait.timeout_ms = 100
        assert await wait.run(script, ["{smsgw:0}:w"], ["late"]) == b"late"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert results[-1] is False


async def test_a_node_without_the_script_loads_it_and_waits(
    redis_cluster_client: RedisCluster,
) -> None:
    """A replica promoted by a failover has not seen the engine's scripts (SCRIPT LOAD is not
    replicated): the first call there meets NOSCRIPT, loads the script and runs once."""
    results: list[bool] = []
    wait = ReplicaWait(redis_cluster_client, replicas=1, timeout_ms=2000, on_wait=results.append)
    script = redis_cluster_client.register_script(SET_SCRIPT + " -- unseen")
    await redis_cluster_client.script_flush()
    assert await wait.run(script, ["{smsgw:1}:w"], ["once"]) == b"once"
    assert await redis_cluster_client.get("{smsgw:1}:w") == b"once"
    assert results == [True]
