"""Durable message state in Redis, written in batches through Lua scripts.

`StateStore` owns the scripts (gateway/store/lua/*.lua) and the op vocabulary of apply.lua; callers
build a list of ops per message (`OpBatch`) and `StateWriter` coalesces every batch handed to
it during one loop iteration into a single EVALSHA, so the state changes of many messages cost
one round trip and a few microseconds each (one script call per tick, never several commands
per message on the hot path). Each caller awaits its own results.

A `StateStore` is one shard's (gateway/store/shards.py): every script call declares a key of
its shard as KEYS[1] (the events stream, the deferred or receipt-due set), so on Redis Cluster
redis-py sends it to the master of the shard's slot. The scripts build the other keys from the
prefix they are given, which must be the same shard's: a call touches one hash tag.

Redis errors that mean "not now" (a connection, a timeout, a cluster slot without a master:
common/redis_errors.py) are translated into QueueUnavailableError at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeAlias

from common.group_commit import GroupCommit
from common.json_text import compact
from common.redis_errors import REDIS_UNAVAILABLE
from gateway.errors import QueueUnavailableError
from gateway.messages import iso_ts
from gateway.store.keys import Keys
from gateway.store.redis_client import RedisClient
from gateway.store.replica_wait import ReplicaWait

_LUA_DIR = Path(__file__).resolve().parent / "lua"


@contextlib.contextmanager
def map_redis_errors() -> Iterator[None]:
    """Translate redis-py's "Redis cannot answer now" errors (a connection, a timeout, a
    cluster slot without a master: common/redis_errors.py) into QueueUnavailableError."""
    try:
        yield
    except REDIS_UNAVAILABLE as error:
        raise QueueUnavailableError(f"redis unavailable: {error}") from error


Word: TypeAlias = str | None
"""One word of an apply.lua op, None for null. Numbers are spelt as redis-py would (`repr`)
where the op is built (`spell`), so the call's JSON is written from the words as they are."""


def spell(value: str | int | float) -> str:
    """A word for `value`: a number as redis-py spells it (`repr`), a string as it is."""
    return value if isinstance(value, str) else repr(value)


@dataclass(frozen=True, slots=True)
class Scope:
    """What the domain ops of a batch write under (apply.lua op `scope`)."""

    prefix: str
    events: str
    maxlen: int
    ttl: int
    outbound: str = ""
    group: str = ""

    def words(self) -> list[Word]:
        return ["scope", self.prefix, self.events, repr(self.maxlen), repr(self.ttl),
                self.outbound, self.group]  # fmt: skip


SCOPE_WORDS: Final = 7


@dataclass(slots=True)
class OpBatch:
    """apply.lua operations for one caller; `results` counts the results its ops return.

    The domain ops (one per message state change) need a scope: the first one of a batch
    writes it (`lead`), and the StateWriter leaves it out when the batch before it in the
    same call ended in the same scope.
    """

    args: list[Word] = field(default_factory=list)
    results: int = 0
    lead: Scope | None = None
    scope: Scope | None = None

    def _within(self, scope: Scope) -> None:
        if scope is self.scope or scope == self.scope:
            return
        if not self.args:
            self.lead = scope
        self.args += scope.words()
        self.scope = scope

    # --- primitive ops ---------------------------------------------------------------------

    def hset(self, key: str, mapping: dict[str, str | int | float]) -> None:
        self.args += ["H", key, repr(len(mapping))]
        for name, value in mapping.items():
            self.args += [name, spell(value)]

    def xadd(self, stream: str, maxlen: int, data: str) -> None:
        self.args += ["X", stream, repr(maxlen), data]

    def ack(self, stream: str, group: str, entry_id: str) -> None:
        self.args += ["A", stream, group, entry_id]

    def zrem(self, key: str, member: str) -> None:
        self.args += ["R", key, member]

    def sadd(self, key: str, member: str, ttl: int) -> None:
        self.args += ["S", key, member, repr(ttl)]

    # --- domain ops (gateway/store/records.py composes them; see apply.lua for what each does) --

    def inflight(self, scope: Scope, message_id: str, carrier: str, ref: int, parts: int,
                 destination: str) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["inflight", message_id, carrier, repr(ref), repr(parts), destination]

    def not_sent(self, scope: Scope, message_id: str) -> None:
        self._within(scope)
        self.args += ["notsent", message_id]

    def submitted(
        self, scope: Scope, message_id: str, now: float, *, carrier: str, joined: str,
        cids: str, parts: int, attempt: int, event: str, receipt_due: float | None,
        entry_id: str | None, from_deferred: bool, id_keys: Sequence[Sequence[str]],
    ) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["submitted", message_id, repr(now), carrier, joined, cids, repr(parts),
                      repr(attempt), event, None if receipt_due is None else repr(receipt_due),
                      entry_id, "1" if from_deferred else "0"]  # fmt: skip
        self._id_keys(id_keys)

    def partial(self, scope: Scope, message_id: str, carrier: str, cids: str,
                id_keys: Sequence[Sequence[str]]) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["partial", message_id, carrier, cids]
        self._id_keys(id_keys)

    def _id_keys(self, id_keys: Sequence[Sequence[str]]) -> None:
        """The (key, part) pairs to map, each with a result."""
        at = len(self.args)
        self.args.append("0")
        for part, keys in enumerate(id_keys):
            spelt_part = repr(part)
            for key in keys:
                self.args += [key, spelt_part]
        count = (len(self.args) - at - 1) // 2
        self.args[at] = repr(count)
        self.results += count

    def deferred(
        self, scope: Scope, message_id: str, now: float, *, attempt: int, due: float,
        due_iso: str, event: str, entry_id: str | None, extra: dict[str, str | int | float],
    ) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["deferred", message_id, repr(now), repr(attempt), repr(due), due_iso, event,
                      entry_id, repr(len(extra))]  # fmt: skip
        for name, value in extra.items():
            self.args += [name, spell(value)]

    def final(
        self, scope: Scope, message_id: str, status: str, now: float, *, code: str | None,
        reason: str | None, event: str, entry_id: str | None, from_deferred: bool,
    ) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["final", message_id, status, repr(now), code, reason, event, entry_id]
        self.args.append("1" if from_deferred else "0")

    def rejected(self, scope: Scope, message_id: str, entry_id: str, now: float, *, code: str,
                 reason: str, event: str) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["rejected", message_id, entry_id, repr(now), code, reason, event]

    def hold(self, scope: Scope, message_id: str, carrier: str, destination: str) -> None:
        self._within(scope)
        self.args += ["hold", message_id, carrier, destination]
        self.results += 1

    def apply_receipt(
        self, scope: Scope, carrier: str, candidates: Sequence[str], state: str, final: bool,
        error_code: str, ts: str, destination: str, orphan_due: float | None = None,
        alternative: str = "",
    ) -> None:  # fmt: skip
        self._within(scope)
        self.args += ["receipt", carrier, repr(len(candidates)), *candidates]
        self.args += [state, "1" if final else "0", error_code, ts, destination,
                      None if orphan_due is None else repr(orphan_due)]  # fmt: skip
        self.args.append(alternative)
        self.results += 1

    def apply_orphan(self, scope: Scope, orphan: Orphan) -> None:
        """`orphan` (parked in another shard) applied in `scope`'s shard if one of its ids is
        mapped there, or it settles the one message held there for its `alternative` handset
        (by destination); its result word is 'unmatched' otherwise."""
        self._within(scope)
        self.args += ["orphan", orphan.carrier, repr(len(orphan.candidates)), *orphan.candidates]
        self.args += [orphan.state, "1" if orphan.final else "0", orphan.error_code, orphan.ts]
        self.args.append(orphan.alternative)
        self.results += 1

    def unpark(self, scope: Scope, orphan: Orphan) -> None:
        """`orphan`, parked in `scope`'s shard and applied in another, taken off its orphans
        set and its parked copy deleted (no result)."""
        self._within(scope)
        self.args += ["unpark", orphan.member]

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
        """`apply_receipt` with its scope spelt out."""
        scope = Scope(prefix, events, maxlen, ttl)
        self.apply_receipt(scope, carrier, candidates, state, final, error_code, ts, destination)


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """What accept.lua found for one message: for an existing record (resume, duplicate),
    what the record holds; a new one has nothing more to tell (`ACCEPTED_NEW`)."""

    kind: str  # new | resume | duplicate
    status: str
    inflight: str
    attempt: str
    outcome: str
    ref: str
    cids: str
    dest: str


ACCEPTED_NEW: Final = AcceptResult("new", "accepted", "", "0", "", "", "", "")
"""accept.lua's answer for a record it created (the destination is the caller's own)."""


def accept_results(raw: Sequence[Any]) -> list[AcceptResult]:
    """accept.lua's reply, one result per message in order ("new" alone, else 8 words)."""
    results: list[AcceptResult] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind in (b"new", "new"):  # a client may decode replies
            results.append(ACCEPTED_NEW)
            i += 1
        else:
            results.append(AcceptResult(*[_text(word) for word in raw[i : i + 8]]))
            i += 8
    return results


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
    """The scripts, registered once on a client, for the shard whose keys are `keys`."""

    def __init__(self, client: RedisClient, keys: Keys, wait: ReplicaWait | None = None) -> None:
        self.client = client
        self.keys = keys
        # apply.lua and accept.lua are followed by WAIT when config redis_wait asks for it
        self._wait = wait or ReplicaWait(client)
        self._apply = client.register_script((_LUA_DIR / "apply.lua").read_text())
        self._accept = client.register_script((_LUA_DIR / "accept.lua").read_text())
        self._claim = client.register_script((_LUA_DIR / "claim_due.lua").read_text())
        self._expire = client.register_script((_LUA_DIR / "expire_receipts.lua").read_text())
        self._orphans = client.register_script((_LUA_DIR / "claim_orphans.lua").read_text())

    async def apply(self, args: Sequence[Word]) -> list[str]:
        """Run apply.lua on the ops in `args`, sent as one JSON array of strings (and nulls).

        One argument instead of thousands: redis-py's per-argument packing cost more than
        the rest of a write. The ops spelt their numbers as redis-py would (`repr`), so the
        script reads exactly the strings it read when each op field was its own argument.

        The ops' scopes must be this store's shard (its key prefix): KEYS[1] is the shard's
        events stream, which routes the call on a cluster.
        """
        ops = compact(args)
        with map_redis_errors():
            result = await self._wait.run(self._apply, [self.keys.events], [ops])
        return [_text(r) for r in result]

    async def accept(
        self, header: Sequence[str | int | float], rows: Sequence[str]
    ) -> list[AcceptResult]:
        """Run accept.lua; `header` is prefix, events, maxlen, ttl, ts (this store's shard:
        KEYS[1] is its events stream); rows are 5 per message."""
        with map_redis_errors():
            raw = await self._wait.run(self._accept, [self.keys.events], [*header, *rows])
        return accept_results(raw)

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

    async def claim_orphans(self, now: float, limit: int, min_wait: float) -> list[Orphan]:
        """Take up to `limit` receipts parked unmatched in this shard that are due by `now` to
        be tried in the other shards (claim_orphans.lua); those applied here meanwhile are
        dropped. Each taken is due again as long after `now` as it has been parked (at least
        `min_wait` seconds), until `unpark` drops it or its parking runs out."""
        args: list[str | float] = [self.keys.prefix, now, limit, min_wait]
        with map_redis_errors():
            raw = await self._orphans(keys=[self.keys.orphans], args=args)
        return [Orphan.from_json(_text(member)) for member in raw]


@dataclass(frozen=True, slots=True)
class Orphan:
    """A receipt parked in a shard where none of its ids is mapped (apply.lua, "Orphans")."""

    carrier: str
    state: str
    final: bool
    error_code: str
    ts: str
    alternative: str  # the receipt's other address, a number, or ""
    candidates: tuple[str, ...]
    member: str  # as in the orphans set: its JSON

    @classmethod
    def from_json(cls, text: str) -> Orphan:
        carrier, state, final, error_code, ts, alternative, *candidates = json.loads(text)
        return cls(carrier, state, final == "1", error_code, ts, alternative,
                   tuple(candidates), text)  # fmt: skip


def lua_script(name: str) -> str:
    """The text of gateway/store/lua/<name>.lua."""
    return (_LUA_DIR / f"{name}.lua").read_text()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StateWriter:
    """Coalesces the OpBatches handed in during one loop iteration into one apply.lua call
    (a `GroupCommit`: two calls may be in flight at once). A writer may `carry` another of the
    same store (a lingering one): its calls take that one's waiting batches too, and so may a
    call of another script that runs apply.lua's ops (`take_waiting`)."""

    _store: StateStore

    def __init__(
        self, store: StateStore, *, linger: float = 0.0, carry: StateWriter | None = None
    ) -> None:
        if carry is not None and carry._store is not store:
            raise ValueError("a writer carries only writes to its own store")
        self._store = store
        self._group: GroupCommit[OpBatch, list[str]] = GroupCommit(
            self._apply_all, linger=linger, carry=carry._group if carry is not None else None
        )

    async def write(self, batch: OpBatch) -> list[str]:
        """Apply `batch` durably (with others of this tick); returns its results."""
        return await self._group.submit(batch)

    async def close(self) -> None:
        """Before the client closes: write nothing more, wait for the calls in flight."""
        await self._group.close()

    def take_waiting(self) -> CarriedWrites | None:
        """The batches waiting for this writer's next call, for a call of another script
        (gateway/engine/admission.py) to run first and answer: None when there are none, or
        when they must wait (see `GroupCommit.take_waiting`)."""
        taken = self._group.take_waiting()
        if not taken:
            return None
        return CarriedWrites(_joined([batch for batch, _ in taken]), taken,
                             self._group.taken_answered)  # fmt: skip

    async def _apply_all(self, batches: list[OpBatch]) -> list[list[str]]:
        return _split(await self._store.apply(_joined(batches)), batches)


@dataclass(slots=True)
class CarriedWrites:
    """A writer's waiting batches taken by another script's call (`StateWriter.take_waiting`):
    `args` are their ops, to run as apply.lua runs them; the call then hands their results,
    or its error, to the callers waiting on them (`answer` or `fail`, once)."""

    args: list[Word]
    _taken: list[tuple[OpBatch, asyncio.Future[list[str]]]]
    _answered: Callable[[], None]  # the writer's: its next writes may leave
    _done: bool = False

    def answer(self, reply: Sequence[Any]) -> None:
        """The ops' results, in order (apply.lua's reply), to their batches' callers."""
        batches = [batch for batch, _ in self._taken]
        results = [_text(word) for word in reply]
        expected = sum(batch.results for batch in batches)
        if expected != len(results):
            self.fail(RuntimeError(f"carried writes: {len(results)} results for {expected}"))
            return
        for (_, future), mine in zip(self._taken, _split(results, batches), strict=True):
            if not future.done():  # the caller gave up
                future.set_result(mine)
        self._release()

    def fail(self, error: BaseException) -> None:
        """The call failed (or was cancelled): each caller sees it, as a write's own."""
        for _, future in self._taken:
            if future.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
        self._release()

    def _release(self) -> None:
        if not self._done:
            self._done = True
            self._answered()


def _joined(batches: Sequence[OpBatch]) -> list[Word]:
    """The ops of `batches` as one call's, each scope written once where batches share it."""
    args: list[Word] = []
    scope: Scope | None = None  # in effect in the script so far
    for batch in batches:
        if batch.lead is not None and (batch.lead is scope or batch.lead == scope):
            args += batch.args[SCOPE_WORDS:]
        else:
            args += batch.args
        if batch.scope is not None:
            scope = batch.scope
    return args


def _split(results: Sequence[str], batches: Sequence[OpBatch]) -> list[list[str]]:
    """A call's results, per batch (each takes `batch.results` of them, in order)."""
    out: list[list[str]] = []
    offset = 0
    for batch in batches:
        out.append(list(results[offset : offset + batch.results]))
        offset += batch.results
    return out
