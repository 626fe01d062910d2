"""Redis calls on the engine's hot path with redis-py's connections but not its per-command path.

redis-py's `AsyncScript.__call__` -> `Redis.execute_command` costs ~170 us of CPU per call on
this 2-core machine (a pool checkout with its readiness probe, the retry wrapper,
observability hooks, an encode of every argument in Python), where the write and the read of
the same EVALSHA on a connection cost ~70 us. At 1,000 msgs/s the engine makes ~0.7 calls
per message (its Lua scripts, and the stream read of each tick), so the difference was a
fifth of its CPU (benchmarks/e2e, "gateway ms/msg"). Its users: gateway/store/replica_wait.py
(accept, admit and every state write), gateway/store/queue.py (XREADGROUP) and
routing/throttle.py (a carrier bucket's grant: once per tick on a cluster).

`LeanCalls.script` (an EVALSHA) and `LeanCalls.command` (any other command, its reply
unparsed) pack the command with hiredis (one C call; the same bytes redis-py sends) and write
and read it on a connection of the client's own pool, kept checked out while idle (a few per
caller), or on the master of the keys' slot on a cluster (`ClusterNode.acquire_connection`,
as redis-py's cluster client does it). An idle connection is checked as the pool checks one
it hands out (`ensure_connection`: reconnected when the server closed it or it holds unread
data). What is not the common case goes redis-py's usual way (the caller's `fallback`: the
script's own call, or `execute_command`), so nothing else changes:

- no idle connection (more calls at once than it keeps): one is checked out of the pool the
  usual way, with its probe; on a cluster, the node's connections all busy: the fallback;
- NOSCRIPT (a server that has not seen the script: a restart, a promoted replica): the
  script's own call, which loads it and calls again (nothing ran: safe to send again);
- on a cluster, a redirect or a slot not served (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) and a
  connection error or timeout: the fallback, by which the client refreshes its slot map and
  retries, as it would have done with the first try (its retries are the cluster client's,
  not the connection's);
- on one server, a connection error or timeout is raised, as redis-py raises it there (the
  pool's connections retry nothing): the engine leaves the work pending and logs an outage.

A connection whose reply was not read to its end (an error, a timeout, a cancelled caller) is
disconnected and never handed out again with that reply unread: the next caller on it would
read the wrong answer. Other error replies (a Lua error, a missing group) are raised to the
caller as before. A client of neither kind (a test's stand-in) gets the usual call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from hiredis import pack_command
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MaxConnectionsError,
    MovedError,
    NoScriptError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg: TypeAlias = str | int | float | bytes

KEEP_IDLE = 8
"""Connections a caller keeps checked out of a single server's pool while idle (at most a
quarter of the pool): enough for the calls of a tick in flight at once."""

_CLUSTER_MOVES = (MovedError, AskError, TryAgainError, ClusterDownError)
_BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)


Fallback: TypeAlias = Callable[[], Awaitable[Any]]


class LeanCalls:
    """Calls on `client`'s connections (see the module's docstring)."""

    def __init__(self, client: aioredis.Redis | RedisCluster, keep_idle: int = KEEP_IDLE) -> None:
        self._cluster: RedisCluster | None = None
        self._pool: ConnectionPool | None = None
        self._idle: list[AbstractConnection] = []
        self._keep = 0
        self._usual = not isinstance(client, (RedisCluster, aioredis.Redis))  # a stand-in
        if isinstance(client, RedisCluster):
            self._cluster = client
        elif isinstance(client, aioredis.Redis):
            self._pool = client.connection_pool
            limit = getattr(self._pool, "max_connections", None) or keep_idle * 4
            self._keep = min(keep_idle, limit // 4)

    async def script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """`script(keys=keys, args=args)`: Redis's reply unparsed, as redis-py returns it."""
        if self._usual:
            return await script(keys=keys, args=args)
        words: Any = ("EVALSHA", script.sha, len(keys), *keys, *args)  # its stub: a 1-tuple
        return await self._run(pack_command(words), keys[0], lambda: script(keys=keys, args=args))

    async def command(self, words: Sequence[Arg], *, key: str, fallback: Fallback) -> Any:
        """Command `words` (its name split in words: "XREADGROUP", "GROUP", ...), routed by
        `key` on a cluster; Redis's reply unparsed. `fallback` makes the same call redis-py's
        way (`execute_command`)."""
        packed: Any = tuple(words)
        return await self._run(pack_command(packed), key, fallback)

    async def _run(self, command: bytes, key: str, fallback: Fallback) -> Any:
        if self._usual:
            return await fallback()
        if self._pool is None:
            assert self._cluster is not None  # noqa: S101 - one of the two when not `_usual`
            return await self._run_on_node(self._cluster, command, key, fallback)
        pool = self._pool
        if self._idle:  # checked as the pool checks what it hands out (closed, unread data)
            connection = self._idle.pop()
            await pool.ensure_connection(connection)
        else:
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            reply = await _exchange(connection, command)
        except NoScriptError:
            await self._checkin(pool, connection)
            return await fallback()
        except ResponseError:
            await self._checkin(pool, connection)
            raise
        except BaseException:
            await _drop(connection)
            await pool.release(connection)
            raise
        await self._checkin(pool, connection)
        return reply

    async def close(self) -> None:
        """Hand the idle connections back to the pool (before the client is closed)."""
        idle, self._idle = self._idle, []  # only a single server's pool keeps any
        for connection in idle:
            assert self._pool is not None  # noqa: S101
            await self._pool.release(connection)

    async def _checkin(self, pool: ConnectionPool, connection: AbstractConnection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await pool.release(connection)

    async def _run_on_node(
        self, cluster: RedisCluster, command: bytes, key: str, fallback: Fallback
    ) -> Any:
        node: ClusterNode | None = None
        try:
            node = cluster.get_node_from_key(key)
            connection = node.acquire_connection() if node is not None else None
        except (SlotNotCoveredError, MaxConnectionsError):  # not discovered yet, all busy
            connection = None
        if node is None or connection is None:
            return await fallback()
        try:
            reply = await _exchange(connection, command)
        except (NoScriptError, *_CLUSTER_MOVES):
            node.release(connection)
            return await fallback()
        except ResponseError:
            node.release(connection)
            raise
        except _BROKEN:
            await _drop(connection)
            node.release(connection)
            return await fallback()
        except BaseException:
            await _drop(connection)
            node.release(connection)
            raise
        node.release(connection)
        return reply


async def _exchange(connection: AbstractConnection, command: bytes) -> Any:
    """Write `command` and read its reply (an error reply raised as its ResponseError)."""
    await connection.send_packed_command([command], check_health=False)
    return await connection.read_response()


async def _drop(connection: AbstractConnection) -> None:
    """Disconnect a connection whose reply may be unread (it reconnects on its next use)."""
    with contextlib.suppress(Exception):
        await connection.disconnect(nowait=True)
