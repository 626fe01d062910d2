"""The outbound stream as a Redis consumer group: read, re-read our own pending, reclaim.

Entries stay pending (in the group's PEL) until the engine has durably recorded their fate and
acked them inside the same state script. At start we first re-read our own pending entries
(id 0), which resumes whatever a previous run of this consumer left; other instances' entries
idle longer than `claim_idle_ms` are taken over with XAUTOCLAIM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from gateway.state_store import map_redis_errors


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id and its `data` field (None when the field is missing)."""

    entry_id: str
    data: bytes | None


class StreamConsumer:
    """One consumer of one group on the outbound stream."""

    def __init__(self, client: aioredis.Redis, stream: str, group: str, consumer: str) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._own_pending_done = False
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; from id 0 so nothing is skipped."""
        with map_redis_errors():
            try:
                await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        """Our own pending entries first (after a restart), then new ones."""
        if not self._own_pending_done:
            entries = await self._read("0", count, None)
            if entries:
                return entries
            self._own_pending_done = True
        return await self._read(">", count, block_ms)

    async def _read(self, last_id: str, count: int, block_ms: int | None) -> list[Entry]:
        with map_redis_errors():
            response: Any = await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: last_id}, count=count, block=block_ms
            )
        if not response:
            return []
        return [_entry(entry_id, fields) for entry_id, fields in response[0][1]]

    async def reclaim(self, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries other consumers left pending for longer than `min_idle_ms`."""
        with map_redis_errors():
            result: Any = await self.client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
        cursor, claimed = result[0], result[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        return [_entry(entry_id, fields) for entry_id, fields in claimed if fields is not None]

    async def touch(self, entry_ids: Iterable[str]) -> None:
        """Reset the idle time of entries we are still working on (XCLAIM ... JUSTID), so
        no other instance reclaims them while, say, they wait for the carrier's TPS."""
        ids: list[int | bytes | str | memoryview[int]] = list(entry_ids)
        with map_redis_errors():
            await self.client.xclaim(self.stream, self.group, self.consumer, 0, ids, justid=True)

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
    text_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    data = (fields.get(b"data") or fields.get("data")) if fields else None
    if data is None or isinstance(data, bytes):
        return Entry(text_id, data)
    return Entry(text_id, str(data).encode())
