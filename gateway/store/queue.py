"""The outbound stream as a Redis consumer group: read, re-read our own pending, reclaim.

Entries stay pending (in the group's PEL) until the engine has durably recorded their fate and
acked them inside the same state script. At start we first walk our own pending entries once,
oldest first, with a cursor (XREADGROUP from id 0, then from the last id returned), which
resumes whatever a previous run of this consumer left, each entry exactly once per start; then
we read new entries (`>`). Other instances' entries idle longer than `claim_idle_ms` are taken
over with XAUTOCLAIM.

If the group is gone (NOGROUP: the stream was deleted, or a replica promoted after a failover
never received it), a read, reclaim or touch creates it again and tries once more. Where the new
group starts is the consumer's `replay` policy:
- "horizon" (the outbound stream): from the entries enqueued `horizon_s` ago (the message
  records' lifetime, engine.receipt_ttl). Entries the engine already recorded come back as
  duplicates, which accept.lua acknowledges without sending them again, so nothing is skipped
  and nothing is sent twice; only entries older than their records could be, and they are not
  replayed (an entry that old and never read is left unread, and `consumer_group_recreated`
  logs where the group restarted).
- "after_last_read" (the signals stream, where applying an old opt_in again could undo a later
  STOP): just after the last entry this consumer read, or from the horizon if it read none.

Every command names the one stream, so on Redis Cluster redis-py's cluster client sends it to
the master of the stream's slot (a shard's stream, `{smsgw:3}:outbound`, is in its shard's).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import redis.exceptions
import structlog
from redis.asyncio.cluster import RedisCluster

from common.lean_calls import LeanCalls
from gateway.store.redis_client import RedisClient
from gateway.store.state_store import map_redis_errors

log = structlog.get_logger("smsgw.queue")

# XAUTOCLAIM inside a script, whose reply redis-py hands back unparsed (see StreamConsumer._raw).
# KEYS[1] stream. ARGV: group consumer min_idle_ms cursor count. Returns XAUTOCLAIM's reply.
_RECLAIM_SCRIPT: Final = """
return redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
"""


@dataclass(slots=True)
class Entry:
    """One stream entry: its id and its `data` field (None when the field is missing);
    `data_fields` counts the `data` fields it has (more than one is a malformed entry).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    entry_id: str
    data: bytes | None
    data_fields: int = 1


class StreamConsumer:
    """One consumer of one group on a stream (a shard's outbound or signals stream)."""

    def __init__(
        self,
        client: RedisClient,
        stream: str,
        group: str,
        consumer: str,
        *,
        replay: Literal["horizon", "after_last_read"] = "horizon",
        horizon_s: float = 3 * 86400.0,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.replay = replay
        self.horizon_s = horizon_s
        self._last_read = ""  # the newest entry id this consumer was handed
        self._reclaim = client.register_script(_RECLAIM_SCRIPT)
        self._calls = LeanCalls(client, keep_idle=1)  # one read at a time
        self._own_pending_done = False
        self._pending_cursor = "0"  # the last of our own pending entries handed out
        self._claim_cursor = "0-0"

    async def ensure_group(self, start_id: str = "0") -> None:
        """Create the group (and the stream) if missing; from id 0 so nothing is skipped."""
        with map_redis_errors():
            try:
                await self.client.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def read(self, count: int, block_ms: int | None) -> list[Entry]:
        """Our own pending entries first (after a restart), each once, then new ones (waiting
        up to `block_ms` for one; None: not at all).

        Reading the PEL always from id 0 would hand out the same pending entries again on
        every call while they are still being worked on: the cursor walks it once.
        """
        if not self._own_pending_done:
            entries = await self._read(self._pending_cursor, count, None)
            if entries:
                self._pending_cursor = entries[-1].entry_id
                return entries
            self._own_pending_done = True
        return await self._read(">", count, block_ms)

    async def _read(self, last_id: str, count: int, block_ms: int | None) -> list[Entry]:
        try:
            entries = await self._read_once(last_id, count, block_ms)
        except redis.exceptions.ResponseError as error:
            await self._recreate_group_after(error)
            entries = await self._read_once(last_id, count, block_ms)
        if entries and last_id == ">":
            self._last_read = entries[-1].entry_id
        return entries

    async def _read_once(self, last_id: str, count: int, block_ms: int | None) -> list[Entry]:
        args: list[str | int] = [self.group, self.consumer, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", self.stream, last_id]
        with map_redis_errors():
            response = await self._calls.command(
                ["XREADGROUP", "GROUP", *args],
                key=self.stream,
                fallback=lambda: self._raw("XREADGROUP GROUP", *args, **self._route()),
            )
        if not response:
            return []
        # one stream: [[name, entries]] as RESP2 spells it, {name: entries} as RESP3 does
        streams = response.values() if isinstance(response, dict) else (s[1] for s in response)
        return [_entry(entry_id, fields) for entry_id, fields in next(iter(streams))]

    async def reclaim(self, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries other consumers left pending for longer than `min_idle_ms`."""
        args: list[str | int] = [self.group, self.consumer, min_idle_ms, self._claim_cursor, count]
        try:
            with map_redis_errors():
                result = await self._reclaim(keys=[self.stream], args=args)
        except redis.exceptions.ResponseError as error:
            await self._recreate_group_after(error)
            return []
        cursor, claimed = result[0], result[1]
        self._claim_cursor = _text(cursor)
        return [_entry(item[0], item[1]) for item in claimed if item is not None and item[1]]

    def _route(self) -> dict[str, Any]:
        """On a cluster, the node of the stream's slot, named for the command: redis-py cannot
        read XREADGROUP's keys from its key specs and would ask the server (COMMAND GETKEYS,
        one more round trip per read). After a failover the first read may fail (the engine
        retries it as "unavailable"); the next one asks the refreshed slot map."""
        if isinstance(self.client, RedisCluster):
            return {"target_nodes": self.client.get_node_from_key(self.stream)}
        return {}

    async def _raw(self, command: str, *args: str | int, **options: Any) -> Any:
        """Run `command` and return Redis's reply unparsed, so entries keep the flat field
        list Redis sent (redis-py's XREADGROUP/XAUTOCLAIM callbacks fold fields into a dict,
        hiding a second `data` field; tests/integration/test_cluster_store.py checks a duplicate
        field is seen, on one redis-server and on a cluster).

        The command is named with its first word ("XREADGROUP GROUP"), the way redis-py
        names its own container commands ("CLIENT LIST"): it sends the words apart, and has
        no response callback for that name. A script's reply is never parsed either, hence
        XAUTOCLAIM inside one (`_RECLAIM_SCRIPT`): its first argument is the stream, which
        cannot go in the name. Both route by the stream's slot on a cluster.
        """
        with map_redis_errors():
            return await self.client.execute_command(command, *args, **options)

    async def touch(self, entry_ids: Iterable[str]) -> None:
        """Reset the idle time of entries we are still working on (XCLAIM ... JUSTID), so
        no other instance reclaims them while, say, they wait for the carrier's TPS."""
        ids: list[int | bytes | str | memoryview[int]] = list(entry_ids)
        try:
            with map_redis_errors():
                await self.client.xclaim(
                    self.stream, self.group, self.consumer, 0, ids, justid=True
                )
        except redis.exceptions.ResponseError as error:
            await self._recreate_group_after(error)

    async def _recreate_group_after(self, error: redis.exceptions.ResponseError) -> None:
        """Create the group again if `error` says it is missing; raise any other error."""
        if "NOGROUP" not in str(error):
            raise error
        horizon = f"{max(0, int((time.time() - self.horizon_s) * 1000))}-0"
        start = (self._last_read or horizon) if self.replay == "after_last_read" else horizon
        log.warning(
            "consumer_group_recreated", stream=self.stream, group=self.group, start_after=start
        )
        await self.ensure_group(start)
        self._own_pending_done = True  # the new group's pending list starts empty
        self._claim_cursor = "0-0"

    async def depth(self) -> QueueDepth:
        """Stream length, the group's pending entries and its lag, for the queue gauges."""
        with map_redis_errors():
            length = await self.client.xlen(self.stream)
            groups: Any = await self.client.xinfo_groups(self.stream)
        group: dict[str, Any] = next((g for g in groups if _text(g.get("name")) == self.group), {})
        lag = group.get("lag")  # Redis >= 7.0; None when Redis cannot tell
        return QueueDepth(
            length=int(length),
            pending=int(group.get("pending") or 0),
            lag=int(lag) if lag is not None else None,
        )


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """The outbound stream's gauges: entries in it, pending in the group, not yet read by it."""

    length: int
    pending: int
    lag: int | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: Any) -> Entry:
    """An entry from Redis's flat field list (`[name, value, name, value, ...]`, or nil for
    an entry trimmed from the stream while pending)."""
    values = [
        _bytes(fields[i + 1])
        for i in range(0, len(fields or ()) - 1, 2)
        if _text(fields[i]) == "data"
    ]
    return Entry(_text(entry_id), values[0] if values else None, len(values))


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
