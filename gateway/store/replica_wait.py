"""Run a state script and `WAIT` for replicas on the same connection (config `redis_wait`).

Redis replicates asynchronously: a write the master acknowledged can be missing on the replica
promoted when that master dies. For the engine that means (README, "Scaling out"): an
accepted record or an in-flight mark lost makes a message look new again, so it is sent a
second time; a lost commit of `submitted` + XACK hands the entry out again (sent twice); a
lost receipt record leaves the message `submitted` until its receipt timeout. On loopback or a
LAN the window is the replication lag, well under a millisecond, but it is there.

`WAIT n timeout` blocks until `n` replicas have every write this connection made, so the
script call and its WAIT must share a connection: they go out as one pipeline (on a cluster,
the WAIT is sent to the node of the script's first key, which the cluster pipeline puts on the
script's connection). With `replicas: 0` (the default) nothing changes: one EVALSHA per call,
made by a `LeanCalls` (common/lean_calls.py: redis-py's connections without its
per-command path).

WAIT does not make a write atomic across nodes: if the replicas do not answer in time, the
write has happened on the master all the same. The caller goes on (it cannot take the write
back), and `replica_wait_short` is logged once until waits succeed again; every WAIT is
counted by `on_wait(ok)` (the engine's `smsgw_redis_replica_waits_total{outcome}`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from common.lean_calls import LeanCalls
from gateway.store.redis_client import RedisClient

log = structlog.get_logger("smsgw.redis")

Arg = str | int | float | bytes


class ReplicaWait:
    """Calls scripts followed by `WAIT replicas timeout_ms` (plain calls when replicas is 0)."""

    def __init__(
        self,
        client: RedisClient,
        replicas: int = 0,
        timeout_ms: int = 50,
        on_wait: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._on_wait = on_wait
        self._short_logged = False
        self._calls = LeanCalls(client)

    async def close(self) -> None:
        """Hand back the connections kept for calls (before the client is closed)."""
        await self._calls.close()

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """`script(keys, args)`, then WAIT on its connection; returns the script's reply."""
        if self.replicas <= 0:
            return await self._calls.script(script, keys, args)
        try:
            return await self._run_waiting(script, keys, args)
        except NoScriptError:
            # A node that never saw the script (a replica just promoted): the pipeline
            # failed before running it. Load it, and send the pair again.
            await self.client.script_load(script.script)
            return await self._run_waiting(script, keys, args)

    async def _run_waiting(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        client = self.client
        if isinstance(client, RedisCluster):
            cluster_pipe = client.pipeline()
            # the script queues itself on a cluster pipeline (redis-py's AsyncScript)
            await script(keys=keys, args=args, client=cast(Any, cluster_pipe))
            node = client.get_node_from_key(keys[0])
            _ = cluster_pipe.execute_command(
                "WAIT", self.replicas, self.timeout_ms, target_nodes=node
            )
            reply, acked = await cluster_pipe.execute()
        else:
            pipe = client.pipeline(transaction=False)
            await script(keys=keys, args=args, client=pipe)  # loaded by execute() if need be
            _ = pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            reply, acked = await pipe.execute()
        self._count(int(acked))
        return reply

    def _count(self, acked: int) -> None:
        if self._on_wait is not None:
            self._on_wait(acked >= self.replicas)
        if acked >= self.replicas:
            if self._short_logged:
                log.info("replica_wait_ok", replicas=self.replicas)
                self._short_logged = False
            return
        if not self._short_logged:
            log.warning(
                "replica_wait_short",
                replicas=self.replicas,
                acked=acked,
                timeout_ms=self.timeout_ms,
            )
            self._short_logged = True
