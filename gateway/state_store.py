"""Durable message state in Redis, written in batches through Lua scripts.

`StateStore` owns the scripts (gateway/lua/*.lua) and the op vocabulary of apply.lua; callers
build a list of ops per message (`OpBatch`) and `StateWriter` coalesces every batch handed to
it during one loop iteration into a single EVALSHA, so the state changes of many messages cost
one round trip and a few microseconds each (one script call per tick, never several commands
per message on the hot path). Each caller awaits its own results.

Redis errors are translated into QueueUnavailableError at this boundary.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from gateway.errors import QueueUnavailableError
from gateway.group_commit import GroupCommit
from gateway.keys import Keys
from gateway.messages import iso_ts

_LUA_DIR = Path(__file__).resolve().parent / "lua"


@contextlib.contextmanager
def map_redis_errors() -> Iterator[None]:
    """Translate redis-py connection failures into QueueUnavailableError."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        raise QueueUnavailableError(f"redis unavailable: {error}") from error


@dataclass(slots=True)
class OpBatch:
    """apply.lua operations for one caller; `results` counts the ops that return a result."""

    args: list[str | int | float] = field(default_factory=list)
    results: int = 0

    def hset(self, key: str, mapping: dict[str, str | int | float]) -> None:
        self.args += ["H", key, len(mapping)]
        for name, value in mapping.items():
            self.args += [name, value]

    def xadd(self, stream: str, maxlen: int, data: str) -> None:
        self.args += ["X", stream, maxlen, data]

    def history(self, key: str, data: str, ttl: int) -> None:
        self.args += ["L", key, data, ttl]

    def ack(self, stream: str, group: str, entry_id: str) -> None:
        self.args += ["A", stream, group, entry_id]

    def expire(self, key: str, ttl: int) -> None:
        self.args += ["T", key, ttl]

    def zadd(self, key: str, score: float, member: str) -> None:
        self.args += ["Z", key, score, member]

    def zrem(self, key: str, member: str) -> None:
        self.args += ["R", key, member]

    def sadd(self, key: str, member: str, ttl: int) -> None:
        self.args += ["S", key, member, ttl]

    def srem(self, key: str, member: str) -> None:
        self.args += ["M", key, member]

    @contextlib.contextmanager
    def guarded(self, key: str, mode: str) -> Iterator[None]:
        """Ops added inside the block run only if `key` passes `mode`: "open" (its status is
        not final: a final state is never overwritten) or "absent" (the key does not exist).
        No op inside may return a result."""
        self.args += ["G", key, mode, 0]
        start, results = len(self.args), self.results
        yield
        if self.results != results:
            raise ValueError("an op with a result cannot be guarded")
        self.args[start - 1] = len(self.args) - start

    def settle_indexes(self, prefix: str, message_id: str) -> None:
        """Drop the message from its destination's in-flight and held indexes."""
        self.args += ["Q", prefix, message_id]

    def hold_unknown(
        self, prefix: str, carrier: str, destination: str, message_id: str, ttl: int,
        events: str, maxlen: int,
    ) -> None:  # fmt: skip
        self.args += ["K", prefix, carrier, destination, message_id, ttl, events, maxlen]
        self.results += 1

    def map_carrier_id(
        self,
        prefix: str,
        carrier: str,
        carrier_message_id: str,
        message_id: str,
        part: int,
        ttl: int,
        events: str,
        maxlen: int,
        ts: str,
    ) -> None:
        self.args += ["U", prefix, carrier, carrier_message_id, message_id, part, ttl]
        self.args += [events, maxlen, ts]
        self.results += 1

    def receipt(
        self,
        prefix: str,
        carrier: str,
        candidates: Sequence[str],
        state: str,
        final: bool,
        error_code: str,
        ts: str,
        destination: str,
        events: str,
        maxlen: int,
        ttl: int,
    ) -> None:
        self.args += ["D", prefix, carrier, len(candidates), *candidates]
        self.args += [state, "1" if final else "0", error_code, ts, destination, events]
        self.args += [maxlen, ttl]
        self.results += 1


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """What accept.lua found for one message."""

    kind: str  # new | resume | duplicate
    status: str
    inflight: str
    attempt: str
    outcome: str
    ref: str
    cids: str
    dest: str


@dataclass(frozen=True, slots=True)
class DueMessage:
    """A deferred message claimed from the deferred set (under a lease)."""

    id: str
    payload: str
    attempt: int
    inflight: str
    status: str
    outcome: str
    ref: str
    cids: str
    dest: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    """A submitted message expire_receipts.lua settled `expired`: no receipt came in time."""

    id: str
    carrier: str
    dest: str


class StateStore:
    """The scripts, registered once on a client."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._apply = client.register_script((_LUA_DIR / "apply.lua").read_text())
        self._accept = client.register_script((_LUA_DIR / "accept.lua").read_text())
        self._claim = client.register_script((_LUA_DIR / "claim_due.lua").read_text())
        self._expire = client.register_script((_LUA_DIR / "expire_receipts.lua").read_text())

    async def apply(self, args: Sequence[str | int | float]) -> list[str]:
        """Run apply.lua on the ops in `args`, sent as one JSON array of strings.

        One argument instead of thousands: redis-py's per-argument packing cost more than
        the rest of a write. Numbers are spelt as redis-py would (`repr`), so the script
        reads exactly the strings it read when each op field was its own argument.
        """
        ops = json.dumps(
            [arg if isinstance(arg, str) else repr(arg) for arg in args],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        with map_redis_errors():
            result = await self._apply(args=[ops])
        return [_text(r) for r in result]

    async def accept(
        self, header: Sequence[str | int | float], rows: Sequence[str]
    ) -> list[AcceptResult]:
        """Run accept.lua; `header` is prefix, events, maxlen, ttl, ts; rows are 5 per message."""
        with map_redis_errors():
            raw = await self._accept(args=[*header, *rows])
        words = [_text(r) for r in raw]
        return [AcceptResult(*words[i : i + 8]) for i in range(0, len(words), 8)]

    async def claim_due(self, now: float, lease: float, limit: int) -> list[DueMessage]:
        with map_redis_errors():
            raw = await self._claim(
                keys=[self.keys.deferred], args=[self.keys.prefix, now, lease, limit]
            )
        words = [_text(r) for r in raw]
        return [
            DueMessage(
                id=words[i],
                payload=words[i + 1],
                attempt=int(words[i + 2] or 0),
                inflight=words[i + 3],
                status=words[i + 4],
                outcome=words[i + 5],
                ref=words[i + 6],
                cids=words[i + 7],
                dest=words[i + 8],
            )
            for i in range(0, len(words), 9)
        ]

    async def expire_receipts(
        self, now: float, limit: int, *, code: str, reason: str, maxlen: int, ttl: int
    ) -> tuple[int, list[TimedOut]]:
        """Take up to `limit` ids of the receipt-due set due by `now`, and settle those still
        `submitted` as `expired` with error {code, reason}, in one atomic call.

        Returns:
            How many ids were taken, and the messages settled.
        """
        args: list[str | int | float] = [self.keys.prefix, now, limit, iso_ts(now)]
        args += [self.keys.events, maxlen, ttl, code, reason]
        with map_redis_errors():
            raw = await self._expire(keys=[self.keys.receipt_due], args=args)
        words = [_text(r) for r in raw[1:]]
        return int(raw[0]), [TimedOut(*words[i : i + 3]) for i in range(0, len(words), 3)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StateWriter:
    """Coalesces the OpBatches handed in during one loop iteration into one apply.lua call
    (a `GroupCommit`: two calls may be in flight at once)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._group: GroupCommit[OpBatch, list[str]] = GroupCommit(self._apply_all)

    async def write(self, batch: OpBatch) -> list[str]:
        """Apply `batch` durably (with others of this tick); returns its results."""
        return await self._group.submit(batch)

    async def _apply_all(self, batches: list[OpBatch]) -> list[list[str]]:
        args: list[str | int | float] = []
        for batch in batches:
            args += batch.args
        results = await self._store.apply(args)
        out: list[list[str]] = []
        offset = 0
        for batch in batches:
            out.append(results[offset : offset + batch.results])
            offset += batch.results
        return out
