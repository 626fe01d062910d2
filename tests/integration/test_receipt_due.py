"""The receipt-due set against a real redis-server: record_submitted adds, a final receipt
removes, expire_receipts.lua settles what is still submitted when it comes due."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from gateway.config import StreamsConfig
from gateway.engine import receipt_timeout
from gateway.messages import Status, event_json
from gateway.ops.engine_metrics import EngineObserver
from gateway.ops.metrics import GatewayMetrics
from gateway.store.keys import Keys
from gateway.store.records import Origin, RecordContext, record_submitted
from gateway.store.state_store import OpBatch, StateStore, StateWriter, TimedOut
from tests.integration.streams import stream_entries

KEYS = Keys("t:", StreamsConfig(outbound="t:out", events="t:ev", inbound="t:in", signals="t:sig"))
CTX = RecordContext(keys=KEYS, group="g", events_maxlen=10000, ttl=3600)
SUBMITTED_AT = 1_000.0
DUE = SUBMITTED_AT + 60


async def accept(store: StateStore, message_id: str) -> None:
    header: list[str | int | float] = ["t:", KEYS.events, 10000, 3600, 1.0]
    event = event_json(message_id, Status.accepted, 1.0)
    await store.accept(header, [message_id, f"{message_id}-entry", "{}", event, "447911200001"])


async def submit(writer: StateWriter, message_id: str, cids: list[str],
                 due: float | None = DUE) -> list[str]:  # fmt: skip
    batch = OpBatch()
    origin = Origin(message_id=message_id, entry_id=None, from_deferred=False)
    record_submitted(batch, CTX, origin, SUBMITTED_AT, carrier="c", carrier_ids=cids,
                     id_keys=[[c] for c in cids], attempt=1, receipt_due=due)  # fmt: skip
    return await writer.write(batch)


async def receipt(writer: StateWriter, cid: str, state: str = "delivered") -> str:
    batch = OpBatch()
    batch.receipt("t:", "c", [cid], state, True, "000", "ts", "", KEYS.events, 10000, 3600)
    [result] = await writer.write(batch)
    return result


async def expire(store: StateStore, now: float, limit: int = 100) -> tuple[int, list[TimedOut]]:
    return await store.expire_receipts(
        now, limit, code="receipt_timeout", reason="no receipt", maxlen=10000, ttl=3600
    )


async def events(client: aioredis.Redis, message_id: str) -> list[dict[str, object]]:
    found = [json.loads(f[b"data"]) for _, f in await stream_entries(client, KEYS.events)]
    return [e for e in found if e["id"] == message_id]


async def setup(client: aioredis.Redis) -> tuple[StateStore, StateWriter]:
    store = StateStore(client, KEYS)
    return store, StateWriter(store)


async def test_submitted_waits_in_the_due_set_until_its_final_receipt(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1")
    await submit(writer, "m1", ["a1", "a2"])
    assert await redis_client.zscore(KEYS.receipt_due, "m1") == DUE
    assert await receipt(writer, "a1") == "matched"  # one part of two: still waiting
    assert await redis_client.zscore(KEYS.receipt_due, "m1") == DUE
    assert await receipt(writer, "a2") == f"delivered {SUBMITTED_AT} m1"
    assert await redis_client.zcard(KEYS.receipt_due) == 0


async def test_no_deadline_no_entry(redis_client: aioredis.Redis) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1")
    await submit(writer, "m1", ["a1"], due=None)
    assert await redis_client.zcard(KEYS.receipt_due) == 0


async def test_a_receipt_that_beat_the_submit_resp_leaves_nothing_due(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1")
    assert await receipt(writer, "a1", "undelivered") == "unmatched"  # parked early
    assert await submit(writer, "m1", ["a1"]) == [f"early:undelivered {SUBMITTED_AT} m1"]
    assert await redis_client.zcard(KEYS.receipt_due) == 0


async def test_sweep_expires_only_due_submitted_messages_then_late_receipts_are_duplicates(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    for message_id, cid in (("m1", "a1"), ("m2", "a2"), ("m3", "a3")):
        await accept(store, message_id)
        await submit(writer, message_id, [cid])
    await submit(writer, "m3", ["a3"], due=DUE + 100)  # resubmitted: a later deadline
    assert await expire(store, DUE - 1) == (0, [])  # nothing due yet
    assert await receipt(writer, "a2") == f"delivered {SUBMITTED_AT} m2"

    assert await expire(store, DUE) == (1, [TimedOut("m1", "c", "447911200001")])
    assert await redis_client.zrange(KEYS.receipt_due, 0, -1) == [b"m3"]
    record = await redis_client.hgetall(KEYS.message("m1"))
    assert record[b"status"] == b"expired"
    assert record[b"error_code"] == b"receipt_timeout"
    assert record[b"error_reason"] == b"no receipt"
    assert record[b"ts"] == b"1970-01-01T00:17:40.000Z"  # DUE, as its event says
    [*_, final] = await events(redis_client, "m1")
    assert final == {
        "id": "m1", "status": "expired", "ts": "1970-01-01T00:17:40.000Z", "carrier": "c",
        "carrier_message_id": "a1", "parts": 1, "attempt": 1,
        "error": {"code": "receipt_timeout", "reason": "no receipt"},
    }  # fmt: skip
    history = await redis_client.lrange(KEYS.history("m1"), 0, -1)
    assert json.loads(history[-1]) == final
    assert await redis_client.ttl(KEYS.message("m1")) > 0

    # a receipt after the timeout changes nothing: the message is final
    assert await receipt(writer, "a1") == "duplicate"
    assert await redis_client.hget(KEYS.message("m1"), "status") == b"expired"
    assert [e["status"] for e in await events(redis_client, "m1")][-1] == "expired"
    assert [e["status"] for e in await events(redis_client, "m2")][-1] == "delivered"


async def test_sweep_takes_at_most_limit_and_drops_ids_no_longer_submitted(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    for n in range(5):
        await accept(store, f"m{n}")
        await submit(writer, f"m{n}", [f"a{n}"])
    await redis_client.zadd(KEYS.receipt_due, {"gone": DUE - 10})  # its record expired
    taken, settled = await expire(store, DUE, limit=3)
    assert (taken, [t.id for t in settled]) == (3, ["m0", "m1"])
    taken, settled = await expire(store, DUE, limit=3)
    assert (taken, [t.id for t in settled]) == (3, ["m2", "m3", "m4"])
    assert await expire(store, DUE) == (0, [])
    assert not await redis_client.exists(KEYS.message("gone"))


async def test_instances_sweeping_at_once_settle_each_message_once(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    ids = [f"m{n}" for n in range(40)]
    for n, message_id in enumerate(ids):
        await accept(store, message_id)
        await submit(writer, message_id, [f"a{n}"])
    others = [StateStore(redis_client, KEYS) for _ in range(4)]
    results = await asyncio.gather(*(expire(s, DUE, limit=7) for s in others * 3))
    settled = [t.id for _, found in results for t in found]
    assert sorted(settled) == sorted(ids)
    finals = [e for m in ids for e in await events(redis_client, m) if e["status"] == "expired"]
    assert len(finals) == len(ids)


async def test_expire_due_counts_and_logs_each_settled_message(
    redis_client: aioredis.Redis,
) -> None:
    store, writer = await setup(redis_client)
    await accept(store, "m1")
    await submit(writer, "m1", ["a1"])
    registry = CollectorRegistry()
    observer = EngineObserver(GatewayMetrics(registry, carriers=["c"], version="t"))
    assert await receipt_timeout.expire_due(store, CTX, observer, DUE) == 1
    sample = registry.get_sample_value
    assert sample("smsgw_receipts_timed_out_total", {"carrier": "c"}) == 1
    assert await redis_client.hget(KEYS.message("m1"), "error_code") == b"receipt_timeout"
