"""apply.lua's domain ops against a real redis-server: one op per state change, the event sent
once and written to the stream and the history alike, the guard, the indexes, the TTLs, the
scope sent once per call, and what a message's life costs Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from gateway.config import StreamsConfig
from gateway.messages import Status, event_json
from gateway.store.keys import Keys
from gateway.store.records import (
    Origin,
    RecordContext,
    record_deferred,
    record_final,
    record_inflight,
    record_not_sent,
    record_partial,
    record_receipt,
    record_rejected_entry,
    record_submitted,
    record_unknown_outcome,
)
from gateway.store.state_store import OpBatch, StateStore, StateWriter, Word
from tests.integration.streams import stream_entries
from tests.integration.test_state_store import CTX, KEYS, accept, events, submit

DEST = "447700900123"


async def setup(client: aioredis.Redis) -> tuple[StateStore, StateWriter]:
    store = StateStore(client, KEYS)
    return store, StateWriter(store)


def origin(message_id: str, entry_id: str | None = None, *, deferred: bool = False) -> Origin:
    return Origin(message_id=message_id, entry_id=entry_id, from_deferred=deferred)


async def write(
    writer: StateWriter, build: Callable[..., None], *args: object, **kwargs: object
) -> list[str]:
    batch = OpBatch()
    build(batch, CTX, *args, **kwargs)
    return await writer.write(batch)


async def receipt(writer: StateWriter, cid: str, state: str = "delivered", *,
                  final: bool = True, dest: str = "") -> str:  # fmt: skip
    [result] = await write(writer, record_receipt, "c", [cid], state, final=final,
                           error_code="000", ts="TS", destination=dest)  # fmt: skip
    return result


async def raw_events(client: aioredis.Redis) -> list[bytes]:
    return [f[b"data"] for _, f in await stream_entries(client, KEYS.events)]


async def test_submitted_sends_its_event_once_and_writes_it_to_stream_and_history(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await submit(writer, "m1", ["a1", "a2"])
    expected = event_json("m1", Status.submitted, 2.0, carrier="c", carrier_message_id="a1,a2",
                          parts=2, attempt=1)  # fmt: skip
    assert (await raw_events(redis_client))[-1] == expected.encode()  # byte for byte
    assert (await redis_client.lrange(KEYS.history("m1"), -1, -1)) == [expected.encode()]
    record = cast(dict[bytes, bytes], await redis_client.hgetall(KEYS.message("m1")))
    assert {k.decode(): v.decode() for k, v in record.items() if k != b"kept"} == {
        "status": "submitted", "ts": "1970-01-01T00:00:02.000Z", "submitted_at": "2.0",
        "carrier": "c",
        "carrier_message_id": "a1,a2", "cids": '["a1","a2"]', "parts": "2", "attempt": "1",
        "inflight": "", "outcome": "", "entry": "1-0", "payload": "{}", "dest": DEST,
        "delivered_parts": "0",
    }  # fmt: skip


async def redis_now(client: aioredis.Redis) -> int:
    seconds, _ = await client.time()
    return int(seconds)


async def lifetimes(client: aioredis.Redis, message_id: str) -> tuple[int, int, int]:
    """TTLs of the hash and the history, and `kept` as seconds from now."""
    kept = int(await client.hget(KEYS.message(message_id), "kept") or 0)
    return (await client.ttl(KEYS.message(message_id)), await client.ttl(KEYS.history(message_id)),
            kept - await redis_now(client))  # fmt: skip


async def test_accept_gives_hash_and_history_the_ttl_and_one_percent(
    redis_client: aioredis.Redis,
) -> None:
    """The TTL (3600 here) and 1% (36 s), and `kept` says until when both live."""
    store, _ = await setup(redis_client)
    await accept(store, "m1", "1-0")
    hash_ttl, history_ttl, kept = await lifetimes(redis_client, "m1")
    assert 3630 < hash_ttl <= 3636
    assert 3630 < history_ttl <= 3636
    assert 3635 <= kept <= 3636


async def write_event(
    client: aioredis.Redis, store: StateStore, writer: StateWriter, record: str
) -> None:
    """Record one event of kind `record` for m1 (submitted first where it needs to be)."""
    if record in {"submitted", "receipt", "intermediate", "expired"}:
        await submit(writer, "m1", ["a1"])
    if record == "deferred":
        await write(writer, record_deferred, origin("m1"), 3.0, 9.0, code="scheduled",
                    reason="later", attempt=0)  # fmt: skip
    elif record == "final":
        await write(writer, record_final, origin("m1"), Status.failed, 3.0, code="x", reason="y")
    elif record in {"receipt", "intermediate"}:
        await receipt(writer, "a1", "delivered" if record == "receipt" else "enroute",
                      final=record == "receipt")  # fmt: skip
    elif record == "expired":
        await client.zadd(KEYS.receipt_due, {"m1": 0})
        await store.expire_receipts(4.0, 10, code="receipt_timeout", reason="no receipt",
                                    maxlen=10000, ttl=3600)  # fmt: skip


EVENTS = ["submitted", "deferred", "final", "receipt", "intermediate", "expired"]


@pytest.mark.parametrize("record", EVENTS)
async def test_an_event_renews_ttls_that_would_not_outlive_it(
    redis_client: aioredis.Redis, record: str
) -> None:
    """Both live at least `ttl` after the message's last event (a message accepted long before
    it is submitted keeps its record for the whole receipt wait), and at most 1% longer."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    for key in (KEYS.message("m1"), KEYS.history("m1")):
        await redis_client.expire(key, 5)  # as if accepted long ago
    await redis_client.hset(KEYS.message("m1"), "kept", await redis_now(redis_client) + 5)
    await write_event(redis_client, store, writer, record)
    hash_ttl, history_ttl, kept = await lifetimes(redis_client, "m1")
    assert 3630 < hash_ttl <= 3636
    assert 3630 < history_ttl <= 3636
    assert 3635 <= kept <= 3636


@pytest.mark.parametrize("record", EVENTS)
async def test_an_event_within_the_ttls_renews_nothing(
    redis_client: aioredis.Redis, record: str
) -> None:
    """The usual life: every event soon after the accept, whose TTLs outlive them all."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    before = await redis_client.hget(KEYS.message("m1"), "kept")
    await redis_client.config_resetstat()
    await write_event(redis_client, store, writer, record)
    assert "expire" not in await commands(redis_client)
    assert await redis_client.hget(KEYS.message("m1"), "kept") == before


async def test_a_record_without_kept_is_renewed_by_its_next_event(
    redis_client: aioredis.Redis,
) -> None:
    """A record an older smsgw wrote (TTL exactly `ttl`, no `kept`)."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await redis_client.hdel(KEYS.message("m1"), "kept")
    for key in (KEYS.message("m1"), KEYS.history("m1")):
        await redis_client.expire(key, 3600)
    await submit(writer, "m1", ["a1"])
    hash_ttl, history_ttl, kept = await lifetimes(redis_client, "m1")
    assert 3630 < hash_ttl <= 3636
    assert 3630 < history_ttl <= 3636
    assert 3635 <= kept <= 3636


async def test_a_final_state_is_never_overwritten_by_any_op(redis_client: aioredis.Redis) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await write(writer, record_final, origin("m1"), Status.failed, 3.0, code="x", reason="y")
    before = await redis_client.hgetall(KEYS.message("m1"))
    # a late submit_sm_resp: not recorded, but its ids are mapped and its entry acked
    assert await submit(writer, "m1", ["a1"]) == ["mapped"]
    await write(writer, record_deferred, origin("m1"), 4.0, 9.0, code="scheduled",
                reason="later", attempt=2)  # fmt: skip
    await write(writer, record_final, origin("m1"), Status.expired, 5.0, code="z", reason="z")
    await write(writer, record_not_sent, "m1")
    assert await write(writer, record_unknown_outcome, "m1", "c", DEST) == ["held"]
    assert await receipt(writer, "a1") == "duplicate"
    assert await redis_client.hgetall(KEYS.message("m1")) == before
    assert [e["status"] for e in await events(redis_client)] == ["accepted", "failed"]
    assert await redis_client.zcard(KEYS.deferred) == 0
    assert not await redis_client.exists(KEYS.unknown_outcome("c", DEST))


async def test_the_destination_indexes_follow_the_message(redis_client: aioredis.Redis) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await write(writer, record_inflight, "m1", "c", 7, 2, DEST)
    assert await redis_client.smembers(KEYS.inflight(DEST)) == {b"m1"}
    assert 3590 < await redis_client.ttl(KEYS.inflight(DEST)) <= 3600
    # a part accepted, then the submit cut off: held, the accepted part's id mapped
    await write(writer, record_partial, "m1", 2.5, carrier="c", carrier_ids=["a1", None],
                id_keys=[["a1"], []])  # fmt: skip
    await write(writer, record_deferred, origin("m1"), 3.0, 60.0, code="outcome_unknown",
                reason="held", attempt=1, extra={"outcome": "unknown"})  # fmt: skip
    assert await write(writer, record_unknown_outcome, "m1", "c", DEST) == ["held"]
    assert not await redis_client.exists(KEYS.inflight(DEST))
    assert await redis_client.smembers(KEYS.unknown_outcome("c", DEST)) == {b"m1"}
    # its receipt matched by id settles it and drops it from the held index and the deferred set
    assert await receipt(writer, "a1", "undelivered") == "undelivered  m1"
    assert not await redis_client.exists(KEYS.unknown_outcome("c", DEST))
    assert await redis_client.zcard(KEYS.deferred) == 0


async def test_a_message_taken_back_leaves_the_in_flight_index(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await write(writer, record_inflight, "m1", "c", 7, 1, DEST)
    await write(writer, record_not_sent, "m1")
    assert not await redis_client.exists(KEYS.inflight(DEST))
    assert await redis_client.hget(KEYS.message("m1"), "inflight") == b""


async def test_part_receipts_are_recorded_as_before(redis_client: aioredis.Redis) -> None:
    """Per part `p<n>` = its state and the delivered count (once HSETNX and HINCRBY)."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await submit(writer, "m1", ["a1", "a2", "a3"])
    assert await receipt(writer, "a2") == "matched"
    assert await receipt(writer, "a2") == "duplicate"
    assert await receipt(writer, "a1") == "matched"
    fields = await redis_client.hmget(KEYS.message("m1"), "p0", "p1", "p2", "delivered_parts")
    assert fields == [b"delivered", b"delivered", None, b"2"]
    assert await receipt(writer, "a3", "expired") == "expired 2.0 m1"
    record = await redis_client.hgetall(KEYS.message("m1"))
    assert (record[b"p2"], record[b"delivered_parts"], record[b"status"]) == (
        b"expired", b"2", b"expired",
    )  # fmt: skip
    assert (record[b"error_code"], record[b"error_reason"]) == (
        b"000", b"carrier receipt expired",
    )  # fmt: skip
    [*_, final] = await raw_events(redis_client)
    assert json.loads(final) == {
        "id": "m1", "status": "expired", "ts": "TS", "carrier": "c",
        "carrier_message_id": "a1,a2,a3", "parts": 3, "attempt": 1,
        "error": {"code": "000", "reason": "carrier receipt expired"},
    }  # fmt: skip
    assert (await redis_client.lrange(KEYS.history("m1"), -1, -1)) == [final]


async def test_a_bad_entry_never_overwrites_a_good_record(redis_client: aioredis.Redis) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    before = await redis_client.hgetall(KEYS.message("m1"))
    await write(writer, record_rejected_entry, "2-0", "m1", 5.0, code="invalid_json",
                reason="bad")  # fmt: skip
    await write(writer, record_rejected_entry, "3-0", None, 5.0, code="invalid_json",
                reason="bad")  # fmt: skip
    assert await redis_client.hgetall(KEYS.message("m1")) == before
    assert await redis_client.hget(KEYS.message("3-0"), "status") == b"rejected"
    assert await redis_client.llen(KEYS.history("3-0")) == 1
    assert [(e["id"], e["status"]) for e in await events(redis_client)] == [
        ("m1", "accepted"), ("m1", "rejected"), ("3-0", "rejected"),
    ]  # fmt: skip


# The op under test, and the status of the event it writes.
TS_OPS = {"accepted": "accepted", "submitted": "submitted", "deferred": "deferred",
          "final": "failed", "rejected": "rejected", "receipt": "delivered",
          "expired": "expired"}  # fmt: skip


@pytest.mark.parametrize("op", TS_OPS)
async def test_the_hash_ts_is_iso_8601_and_that_of_the_latest_event(
    redis_client: aioredis.Redis, op: str
) -> None:
    """Whatever wrote the state, `ts` in smsgw:msg:<id> is ISO-8601 UTC, its latest event's."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    if op in {"submitted", "receipt", "expired"}:
        await write(writer, record_submitted, origin("m1"), 2.0, carrier="c", carrier_ids=["a1"],
                    id_keys=[["a1"]], attempt=1, receipt_due=3.0)  # fmt: skip
    if op == "deferred":
        await write(writer, record_deferred, origin("m1"), 3.0, 9.0, code="scheduled",
                    reason="later", attempt=0)  # fmt: skip
    elif op == "final":
        await write(writer, record_final, origin("m1"), Status.failed, 3.0, code="x", reason="y")
    elif op == "rejected":
        await write(writer, record_rejected_entry, "3-0", None, 3.0, code="invalid_json",
                    reason="bad")  # fmt: skip
    elif op == "receipt":  # deliveries.py passes the receipt's time as ISO-8601
        await write(writer, record_receipt, "c", ["a1"], "delivered", final=True,
                    error_code="000", ts="1970-01-01T00:00:04.000Z", destination="")  # fmt: skip
    elif op == "expired":
        await store.expire_receipts(4.0, 10, code="receipt_timeout", reason="no receipt",
                                    maxlen=10000, ttl=3600)  # fmt: skip
    message_id = "3-0" if op == "rejected" else "m1"
    stored_ts = await redis_client.hget(KEYS.message(message_id), "ts") or b""
    assert isinstance(stored_ts, bytes)
    ts = stored_ts.decode()
    assert datetime.fromisoformat(ts).utcoffset() == timedelta(0), ts
    [*_, latest] = [e for e in await events(redis_client) if e["id"] == message_id]
    assert (latest["status"], latest["ts"]) == (TS_OPS[op], ts)


async def test_the_writer_sends_a_scope_once_per_call(redis_client: aioredis.Redis) -> None:
    store = StateStore(redis_client, KEYS)
    sent: list[list[Word]] = []
    original = store.apply

    async def spying(args: Sequence[Word]) -> list[str]:
        sent.append(list(args))
        return await original(args)

    store.apply = spying  # type: ignore[method-assign]
    writer = StateWriter(store)
    other = RecordContext(keys=Keys("o:", KEYS.streams), group="g", events_maxlen=10, ttl=60)

    async def mark(ctx: RecordContext, message_id: str) -> None:
        batch = OpBatch()
        record_inflight(batch, ctx, message_id, "c", 7, 1, DEST)
        await writer.write(batch)

    await asyncio.gather(*(mark(CTX, f"m{n}") for n in range(5)), mark(other, "x"),
                         mark(CTX, "m5"))  # fmt: skip
    assert len(sent) <= 2  # one call a tick (two may be in flight)
    assert sum(args.count("inflight") for args in sent) == 7
    # per call: t:, then o:, then t: again; never one per batch
    assert sum(args.count("scope") for args in sent) <= 4
    assert await redis_client.smembers(KEYS.inflight(DEST)) == {f"m{n}".encode() for n in range(6)}
    assert await redis_client.smembers(f"o:inflight:{DEST}") == {b"x"}
    assert await redis_client.ttl(f"o:inflight:{DEST}") <= 60


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def pending_entries(client: aioredis.Redis, stream: str, group: str) -> set[str]:
    pending = await client.xpending_range(stream, group, "-", "+", 100)
    return {_text(entry["message_id"]) for entry in pending}


async def read_into_group(client: aioredis.Redis, stream: str, group: str, count: int) -> list[str]:
    """`count` entries added to `stream` and read by `group`: pending until acked."""
    ids = [_text(await client.xadd(stream, {"data": "{}"})) for _ in range(count)]
    await client.xgroup_create(stream, group, id="0")
    await client.xreadgroup(group, "c1", {stream: ">"}, count=count)
    return ids


async def test_a_call_acks_its_entries_in_one_xack_per_stream_once_every_op_ran(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    mine = await read_into_group(redis_client, KEYS.outbound, "g", 3)
    theirs = await read_into_group(redis_client, "o:out", "g2", 1)
    other = RecordContext(keys=Keys("o:", StreamsConfig(outbound="o:out", events="o:ev")),
                          group="g2", events_maxlen=10, ttl=60)  # fmt: skip
    batch = OpBatch()
    for n, entry in enumerate(mine[:2]):
        record_final(batch, CTX, origin(f"m{n}", entry), Status.failed, 1.0, code="x", reason=None)
    record_final(batch, other, origin("x", theirs[0]), Status.failed, 1.0, code="x", reason=None)
    await redis_client.config_resetstat()
    await writer.write(batch)
    assert (await commands(redis_client))["xack"] == 2  # one per outbound stream, not per entry
    assert await pending_entries(redis_client, KEYS.outbound, "g") == {mine[2]}
    assert await pending_entries(redis_client, "o:out", "g2") == set()
    # an op that fails stops the call before its XACK: the entry stays pending (reclaimed
    # and resumed from its record later), though the ops before the failure were written
    batch = OpBatch()
    record_final(batch, CTX, origin("m2", mine[2]), Status.failed, 1.0, code="x", reason=None)
    with pytest.raises(redis.exceptions.ResponseError, match="unknown op nope"):
        await store.apply([*batch.args, "nope"])
    assert await redis_client.hget(KEYS.message("m2"), "status") == b"failed"
    assert await pending_entries(redis_client, KEYS.outbound, "g") == {mine[2]}


async def test_ops_need_a_known_name_and_a_scope(redis_client: aioredis.Redis) -> None:
    store = StateStore(redis_client, KEYS)
    with pytest.raises(redis.exceptions.ResponseError, match="unknown op nope"):
        await store.apply(["nope", "x"])
    with pytest.raises(redis.exceptions.ResponseError, match="before a scope"):
        await store.apply(["notsent", "m1"])


async def commands(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    found = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    return {k: v for k, v in found.items() if k not in ("config|resetstat", "info", "evalsha")}


async def test_what_the_life_of_a_message_costs_redis(redis_client: aioredis.Redis) -> None:
    """Submitted and its final receipt: the commands run inside apply.lua (a single-part
    message, its entry acked, waiting in receipt_due)."""
    store, writer = await setup(redis_client)
    await accept(store, "m1", "1-0")
    await write(writer, record_inflight, "m1", "c", 7, 1, DEST)
    await redis_client.config_resetstat()
    await write(writer, record_submitted, origin("m1", "1-0"), 2.0, carrier="c",
                carrier_ids=["a1"], id_keys=[["a1"]], attempt=1, receipt_due=9.0)  # fmt: skip
    # `time` once per call (for `kept`), no EXPIRE: accept's TTLs outlive the message
    assert await commands(redis_client) == {
        "hmget": 1, "hset": 1, "xadd": 1, "rpush": 1, "time": 1, "zadd": 1, "set": 1,
        "get": 1, "srem": 1, "xack": 1,
    }  # fmt: skip
    await redis_client.config_resetstat()
    assert await receipt(writer, "a1") == "delivered 2.0 m1"
    assert await commands(redis_client) == {
        "get": 1, "hmget": 1, "hset": 1, "xadd": 1, "rpush": 1, "time": 1, "zrem": 1,
    }  # fmt: skip
