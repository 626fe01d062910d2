"""The state scripts and the stream consumer on a real Redis Cluster (redis_cluster), one
`StateStore` and `StreamConsumer` per shard: each call goes to its shard's master and every key
it writes lands in its shard's slot; a call mixing shards is refused; the scripts answer as on
one redis-server; a dying master's errors are QueueUnavailableError.

Shards 1 and 3 of four are used: their slots are on different masters (checked).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from gateway.config import Settings, StreamsConfig
from gateway.errors import QueueUnavailableError
from gateway.messages import Status
from gateway.store.keys import Keys
from gateway.store.queue import Entry, StreamConsumer
from gateway.store.records import (
    Origin,
    RecordContext,
    accept_row,
    record_deferred,
    record_final,
    record_inflight,
    record_receipt,
    record_submitted,
)
from gateway.store.shards import Shard, ShardMap
from gateway.store.state_store import OpBatch, StateStore, StateWriter
from tests.cluster_fixture import HOST, LocalRedisCluster, key_slot
from tests.integration.streams import stream_entries

SHARDS = ShardMap.from_settings(Settings(redis_cluster=True, streams=StreamsConfig(shards=4)))
GROUP = "smsgw"
DEST = "447700900123"
NOW = 1_000.0


@dataclass
class ShardState:
    """What the engine builds per shard: keys, record context, store, writer, consumer."""

    shard: Shard
    keys: Keys
    ctx: RecordContext
    store: StateStore
    writer: StateWriter
    consumer: StreamConsumer

    @property
    def slot(self) -> int:
        return key_slot(self.keys.events)


def shard_state(client: RedisCluster, shard: Shard) -> ShardState:
    keys = Keys(shard.prefix, shard.streams)
    ctx = RecordContext(keys=keys, group=GROUP, events_maxlen=10_000, ttl=3600)
    store = StateStore(client, keys)
    consumer = StreamConsumer(client, keys.outbound, GROUP, "me")
    return ShardState(shard, keys, ctx, store, StateWriter(store), consumer)


@pytest.fixture
async def shards(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> list[ShardState]:
    states = [shard_state(redis_cluster_client, SHARDS[k]) for k in (1, 3)]
    masters = {redis_cluster.master_of_slot(s.slot) for s in states}
    assert len(masters) == 2, "the two shards must live on different masters"
    for state in states:
        await state.consumer.ensure_group()
    return states


async def enqueue(state: ShardState, message_id: str) -> Entry:
    """XADD a message to the shard's outbound stream, read it and accept it."""
    payload = json.dumps({"id": message_id, "to": f"+{DEST}", "text": "hi"})
    await state.store.client.xadd(state.keys.outbound, {"data": payload})
    [entry] = await state.consumer.read(10, None)
    header: list[str | int | float] = [state.keys.prefix, state.keys.events, 10_000, 3600, NOW]
    [accepted] = await state.store.accept(
        header, accept_row(message_id, entry.entry_id, payload, DEST, NOW)
    )
    assert accepted.kind == "new"
    return entry


async def write(state: ShardState, batch: OpBatch) -> list[str]:
    return await state.writer.write(batch)


async def live_a_message(state: ShardState, message_id: str, cid: str) -> list[str]:
    """accept, in flight, submitted (with a receipt due), a delivered receipt: each its own
    call, as the engine makes them. Returns the receipt's result."""
    entry = await enqueue(state, message_id)
    batch = OpBatch()
    record_inflight(batch, state.ctx, message_id, "c", 7, 1, DEST)
    await write(state, batch)
    batch = OpBatch()
    origin = Origin(message_id=message_id, entry_id=entry.entry_id, from_deferred=False)
    record_submitted(batch, state.ctx, origin, NOW + 1, carrier="c", carrier_ids=[cid],
                     id_keys=[[cid]], attempt=1, receipt_due=NOW + 60)  # fmt: skip
    assert await write(state, batch) == ["mapped"]
    batch = OpBatch()
    record_receipt(batch, state.ctx, "c", [cid], "delivered", final=True, error_code="000",
                   ts="2024-01-01T00:00:05.000Z", destination=DEST)  # fmt: skip
    return await write(state, batch)


async def keys_on(port: int) -> set[str]:
    """Every key stored on the node at `port` (a plain connection: no cluster routing)."""
    node = aioredis.Redis(host=HOST, port=port, decode_responses=True)
    try:
        return {key async for key in node.scan_iter(count=1000)}
    finally:
        await node.aclose()


async def statuses(state: ShardState) -> list[tuple[str, str]]:
    found = await stream_entries(state.store.client, state.keys.events)
    return [(e["id"], e["status"]) for e in (json.loads(f[b"data"]) for _, f in found)]


async def test_a_messages_life_on_each_shard_stays_in_its_slot(
    redis_cluster: LocalRedisCluster, shards: list[ShardState]
) -> None:
    """accept, inflight, submitted, receipt and a final under two shards' scopes, in separate
    calls: each shard's keys are all on its own master, in its slot, and its events stream
    has its own messages only."""
    first, second = shards
    assert await live_a_message(first, "a1", "cid-a1") == ["delivered 1001.0 a1"]
    assert await live_a_message(second, "b1", "cid-b1") == ["delivered 1001.0 b1"]
    for state, message_id in ((first, "a2"), (second, "b2")):
        entry = await enqueue(state, message_id)
        batch = OpBatch()
        origin = Origin(message_id=message_id, entry_id=entry.entry_id, from_deferred=False)
        record_final(batch, state.ctx, origin, Status.failed, NOW + 2, code="x", reason="y")
        await write(state, batch)

    for state, ids in ((first, ("a1", "a2")), (second, ("b1", "b2"))):
        on_master = await keys_on(redis_cluster.master_of_slot(state.slot))
        mine = {key for key in on_master if key.startswith(state.keys.prefix)}
        assert on_master == mine  # no key of the other shard, nor one without a tag
        assert {key_slot(key) for key in mine} == {state.slot}
        for message_id in ids:
            assert {state.keys.message(message_id), state.keys.history(message_id)} <= mine
        assert state.keys.events in mine
        assert f"{state.keys.prefix}cid:c:cid-{ids[0]}" in mine
        assert [s for _, s in await statuses(state)] == [
            "accepted", "submitted", "delivered", "accepted", "failed"
        ]  # fmt: skip
        assert {i for i, _ in await statuses(state)} == set(ids)
        pending = await state.store.client.xpending(state.keys.outbound, GROUP)
        assert pending["pending"] == 0  # both entries acked by their state writes


async def test_a_call_mixing_two_shards_is_refused_on_the_cluster(
    shards: list[ShardState],
) -> None:
    """A store sends its calls to its own shard's master: ops scoped to another shard are an
    error (a bug, not "unavailable"), and nothing of them is written."""
    first, second = shards
    batch = OpBatch()
    record_inflight(batch, second.ctx, "b9", "c", 7, 1, DEST)
    with pytest.raises(redis.exceptions.ResponseError) as info:
        await first.store.apply(batch.args)
    assert not isinstance(info.value, redis.exceptions.ClusterError)
    assert not await second.store.client.exists(second.keys.message("b9"))


async def test_claim_due_takes_only_its_shards_deferred_messages(
    shards: list[ShardState],
) -> None:
    for state, message_id in zip(shards, ("a1", "b1"), strict=True):
        entry = await enqueue(state, message_id)
        batch = OpBatch()
        origin = Origin(message_id=message_id, entry_id=entry.entry_id, from_deferred=False)
        record_deferred(batch, state.ctx, origin, NOW, NOW + 5, code="scheduled",
                        reason="later", attempt=0)  # fmt: skip
        await write(state, batch)
    first, second = shards
    assert [m.id for m in await first.store.claim_due(NOW + 10, 60, 100)] == ["a1"]
    [due] = await second.store.claim_due(NOW + 10, 60, 100)
    assert (due.id, due.status, due.dest) == ("b1", "deferred", DEST)
    assert json.loads(due.payload)["id"] == "b1"
    assert await second.store.claim_due(NOW + 10, 60, 100) == []  # leased


async def test_expire_receipts_settles_only_its_shards_messages(
    shards: list[ShardState],
) -> None:
    for state, message_id in zip(shards, ("a1", "b1"), strict=True):
        entry = await enqueue(state, message_id)
        batch = OpBatch()
        origin = Origin(message_id=message_id, entry_id=entry.entry_id, from_deferred=False)
        record_submitted(batch, state.ctx, origin, NOW, carrier="c", carrier_ids=["x"],
                         id_keys=[["x"]], attempt=1, receipt_due=NOW + 60)  # fmt: skip
        await write(state, batch)
    first, second = shards
    taken, settled = await first.store.expire_receipts(
        NOW + 61, 100, code="receipt_timeout", reason="no receipt", maxlen=10_000, ttl=3600
    )
    assert (taken, [(t.id, t.carrier, t.dest) for t in settled]) == (1, [("a1", "c", DEST)])
    assert (await statuses(first))[-1] == ("a1", "expired")
    assert (await statuses(second))[-1] == ("b1", "submitted")
    taken, settled = await second.store.expire_receipts(
        NOW + 61, 100, code="receipt_timeout", reason="no receipt", maxlen=10_000, ttl=3600
    )
    assert [t.id for t in settled] == ["b1"]


# --- the stream consumer on a shard's stream ---------------------------------------------------


async def test_consumer_reads_acks_and_reclaims_a_shards_stream(
    redis_cluster_client: RedisCluster,
) -> None:
    """`{smsgw:3}:outbound`: XGROUP CREATE, XREADGROUP (the raw field list: a second `data`
    field is seen), XACK, XAUTOCLAIM by another consumer, XCLAIM JUSTID, the depth gauges."""
    client = redis_cluster_client
    stream = SHARDS[3].streams.outbound
    assert stream == "{smsgw:3}:outbound"
    mine = StreamConsumer(client, stream, GROUP, "me")
    other = StreamConsumer(client, stream, GROUP, "other")
    await mine.ensure_group()
    await other.ensure_group()  # BUSYGROUP is fine
    await client.xadd(stream, {"data": "one"})
    await client.execute_command("XADD", stream, "*", "data", "two", "data", "2")
    await client.xadd(stream, {"other": "three"})

    read = await mine.read(10, 10)
    assert [(e.data, e.data_fields) for e in read] == [(b"one", 1), (b"two", 2), (None, 0)]
    assert await mine.read(10, 10) == []
    depth = await mine.depth()
    assert (depth.length, depth.pending, depth.lag) == (3, 3, 0)
    assert await client.xack(stream, GROUP, read[0].entry_id) == 1

    # a new consumer of the same name (a restart) walks its pending entries once
    again = StreamConsumer(client, stream, GROUP, "me")
    assert [e.entry_id for e in await again.read(10, 10)] == [e.entry_id for e in read[1:]]
    assert await again.read(10, 10) == []

    claimed = await other.reclaim(0, 10)
    assert [(e.entry_id, e.data_fields) for e in claimed] == [
        (read[1].entry_id, 2), (read[2].entry_id, 0)
    ]  # fmt: skip
    await mine.touch([read[1].entry_id])  # XCLAIM JUSTID: back to "me", idle time reset
    owners = await client.xpending_range(stream, GROUP, min="-", max="+", count=10)
    assert [(o["message_id"], o["consumer"]) for o in owners] == [
        (read[1].entry_id.encode(), b"me"), (read[2].entry_id.encode(), b"other")
    ]  # fmt: skip


async def test_consumer_on_a_single_redis_reads_the_raw_field_list(
    redis_client: aioredis.Redis,
) -> None:
    """The same read and reclaim on one redis-server (the command names the cluster needs
    change nothing there)."""
    consumer = StreamConsumer(redis_client, "t:out", GROUP, "me")
    await consumer.ensure_group()
    # xadd cannot send a field twice; redis-py leaves execute_command untyped
    await redis_client.execute_command("XADD", "t:out", "*", "data", "a", "data", "b")  # type: ignore[no-untyped-call]
    [entry] = await consumer.read(10, None)
    assert (entry.data, entry.data_fields) == (b"a", 2)
    [claimed] = await StreamConsumer(redis_client, "t:out", GROUP, "x").reclaim(0, 10)
    assert (claimed.entry_id, claimed.data, claimed.data_fields) == (entry.entry_id, b"a", 2)


# --- a master dies -----------------------------------------------------------------------------


async def test_a_dying_master_makes_the_shards_calls_unavailable_then_they_work_again(
    redis_cluster: LocalRedisCluster,
) -> None:
    """Kill the master of a shard's slot: until its replica takes over, the store's and the
    consumer's calls either go through (redis-py retried long enough) or raise
    QueueUnavailableError, never another error; then both work on the new master."""
    client = RedisCluster.from_url(redis_cluster.url)
    state = shard_state(client, SHARDS[1])
    old_master = redis_cluster.master_of_slot(state.slot)
    try:
        await state.consumer.ensure_group()
        await enqueue(state, "f1")
        # the replica has it all (replication is asynchronous: without WAIT, a group created
        # just before the kill can be missing on the promoted replica, and reads fail NOGROUP)
        master = client.get_node_from_key(state.keys.outbound)
        assert await client.execute_command("WAIT", 1, 5000, target_nodes=master) == 1
        await asyncio.to_thread(redis_cluster.kill, old_master)
        promoted = asyncio.create_task(
            asyncio.to_thread(redis_cluster.wait_for_new_master, state.slot, old_master)
        )
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: state.store.claim_due(NOW, 60, 10),
            lambda: state.consumer.read(10, None),
            lambda: state.store.apply(state.ctx.scope.words()),
        ]
        outcomes: set[str] = set()
        while not promoted.done():
            for call in calls:
                try:
                    await call()
                    outcomes.add("ok")
                except QueueUnavailableError:
                    outcomes.add("unavailable")
            await asyncio.sleep(0.05)  # pace the calls while the cluster fails over
        assert await promoted != old_master
        assert outcomes <= {"ok", "unavailable"}  # any other error would have failed the test
        await enqueue(state, "f2")  # the new master answers
        assert ("f2", "accepted") in await statuses(state)
    finally:
        await client.aclose()
        await asyncio.to_thread(redis_cluster.restart, old_master)
        await asyncio.to_thread(redis_cluster.wait_until_healthy)


async def test_reads_go_straight_to_the_streams_master_without_asking_for_its_keys(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """redis-py cannot find XREADGROUP's keys in its key specs and would ask the server
    (COMMAND GETKEYS) before every read: the consumer names the stream's node instead."""
    state = shard_state(redis_cluster_client, SHARDS[2])
    await state.consumer.ensure_group()
    await enqueue(state, "r1")  # XADD, read and accept: redis-py's set-up done

    def getkeys_calls() -> int:
        total = 0
        for port in redis_cluster.ports:
            with redis.Redis(host=HOST, port=port) as client:
                stats = client.info("commandstats")
                total += int(stats.get("cmdstat_command|getkeys", {}).get("calls", 0))
        return total

    before = await asyncio.to_thread(getkeys_calls)
    for n in range(20):
        await enqueue(state, f"r{n + 2}")  # one entry read each time
    assert await asyncio.to_thread(getkeys_calls) == before
