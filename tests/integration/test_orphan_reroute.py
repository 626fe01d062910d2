"""The orphan sweep (gateway/engine/orphan_receipts.py) when a shard cannot answer.

A receipt parked in one shard (its home) is tried in every other shard; one of them may be
down (its Redis Cluster master lost). The others still apply what they can, the orphan is
unparked if one did, and kept for a later try if none could; the failure is the down shard's,
not an outage of the home shard (which is up: logging it there would say the wrong shard).
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.cli.child_process import free_port
from gateway.config import Settings, StreamsConfig
from gateway.engine.orphan_receipts import reroute_due
from gateway.engine.shard_state import ShardState, shard_states
from gateway.messages import Status, event_json
from gateway.store.records import Origin, record_receipt, record_submitted
from gateway.store.state_store import OpBatch, Orphan, StateStore, StateWriter


class Counted:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.rerouted = 0

    def receipt_applied(self, carrier: str, result: str, receipt: None, handset: str) -> None:
        self.applied.append(result)

    def receipts_rerouted(self, carrier: str, count: int) -> None:
        self.rerouted += count


async def submitted(shard: ShardState, message_id: str, cid: str) -> None:
    header: list[str | int | float] = [shard.keys.prefix, shard.keys.events, 10000, 3600, 1.0]
    event = event_json(message_id, Status.accepted, 1.0)
    await shard.store.accept(header, [message_id, "1-0", "{}", event, "447700900123"])
    batch = OpBatch()
    origin = Origin(message_id=message_id, entry_id=None, from_deferred=False)
    record_submitted(batch, shard.ctx, origin, 2.0, carrier="c", carrier_ids=[cid],
                     id_keys=[[cid]], attempt=1)  # fmt: skip
    await shard.writer.write(batch)


async def park(shard: ShardState, cid: str) -> None:
    batch = OpBatch()
    record_receipt(batch, shard.ctx, "c", [cid], "delivered", final=True, error_code="000",
                   ts="ts", destination="447700900999", orphan_due=5.0)  # fmt: skip
    assert await shard.receipt_writer.write(batch) == ["unmatched"]


async def test_a_shard_that_cannot_answer_leaves_the_others_tries_and_its_own_for_later(
    redis_client: aioredis.Redis,
) -> None:
    settings = Settings(streams=StreamsConfig(shards=3))
    _, (home, up, down) = shard_states(settings, redis_client, "me")
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    down.receipt_writer = StateWriter(StateStore(dead, down.keys))  # its master is gone
    await submitted(up, "m1", "a1")
    await park(home, "a1")  # its message is in `up`
    await park(home, "b1")  # its message was in `down`: no shard that answers has it
    observer = Counted()
    try:
        assert await reroute_due(home, [home, up, down], observer, now=5.0) == 2
    finally:
        await dead.aclose()
    assert observer.applied == ["delivered 2.0 m1"]
    assert observer.rerouted == 1
    assert await redis_client.hget(up.keys.message("m1"), "status") == b"delivered"
    left = cast(list[bytes], await redis_client.zrange(home.keys.orphans, 0, -1))
    assert [Orphan.from_json(m.decode()).candidates for m in left] == [("b1",)]  # due later
    assert await redis_client.exists(f"{home.keys.prefix}early:c:a1") == 0  # unparked
