"""One shard's Redis side, as the engine uses it: where its messages' state is written and
which streams it reads (the shard's names: gateway/store/shards.py).

Every message under work belongs to the shard whose stream it came from (or whose deferred set
it was claimed from), and every write about it goes through that shard's writers, so each Lua
call is about one shard's keys (one Redis Cluster slot). With one shard, there is one of these
and the engine is as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.config import Settings
from gateway.store.keys import Keys
from gateway.store.queue import StreamConsumer
from gateway.store.records import RecordContext
from gateway.store.redis_client import RedisClient
from gateway.store.replica_wait import ReplicaWait
from gateway.store.shards import Shard, ShardMap
from gateway.store.state_store import StateStore, StateWriter

if TYPE_CHECKING:
    from gateway.engine.admission import Admission

RECEIPT_LINGER = 0.005  # seconds a receipt write waits for others to share its call
COMMIT_LINGER = 0.005  # seconds a light-load tick's record of its submits waits, likewise


@dataclass(eq=False, slots=True)
class ShardState:
    """A shard's keys, record context, store, writers and stream consumers."""

    shard: Shard
    keys: Keys
    ctx: RecordContext
    store: StateStore
    writer: StateWriter
    # receipts wait a little for each other: their carrier waits for the deliver_sm_resp,
    # nobody for their event, and at light load each would otherwise cost a call; the writers
    # carry them (a tick's commit takes the receipts waiting, so they leave sooner and
    # cost no call of their own while messages flow)
    receipt_writer: StateWriter
    # a light-load read's tick records its accepted submits here (gateway/engine/pipeline.py),
    # to ride the next read's call (which takes this writer's waiting writes, and the
    # receipts' after them), or leave after COMMIT_LINGER; `writer` carries it, and it
    # carries `receipt_writer`: a receipt never leaves ahead of a record waiting here
    commit_writer: StateWriter
    consumer: StreamConsumer
    signals: StreamConsumer
    # the tick's one admit call for this shard's messages (gateway/engine/admission.py), when
    # the compliance state is in Redis
    admission: Admission | None = None

    @property
    def index(self) -> int:
        return self.shard.index


def shard_states(
    settings: Settings, client: RedisClient, consumer_name: str, wait: ReplicaWait | None = None
) -> tuple[ShardMap, list[ShardState]]:
    """The shard map of `settings` and the engine's state for each of its shards; `wait`
    follows their state writes with WAIT (config redis_wait)."""
    shards = ShardMap.from_settings(settings)
    group = settings.consumer.group
    states = []
    for shard in shards.shards:
        keys = Keys(shard.prefix, shard.streams)
        store = StateStore(client, keys, wait)
        receipt_writer = StateWriter(store, linger=RECEIPT_LINGER)
        commit_writer = StateWriter(store, linger=COMMIT_LINGER, carry=receipt_writer)
        ctx = RecordContext(
            keys=keys,
            group=group,
            events_maxlen=settings.streams.events_maxlen,
            ttl=int(settings.engine.receipt_ttl),
        )
        states.append(
            ShardState(
                shard=shard,
                keys=keys,
                ctx=ctx,
                store=store,
                writer=StateWriter(store, carry=commit_writer),
                receipt_writer=receipt_writer,
                commit_writer=commit_writer,
                consumer=StreamConsumer(
                    client,
                    shard.streams.outbound,
                    group,
                    consumer_name,
                    horizon_s=settings.engine.receipt_ttl,
                ),
                signals=StreamConsumer(
                    client,
                    shard.streams.signals,
                    group,
                    consumer_name,
                    replay="after_last_read",
                    horizon_s=settings.engine.receipt_ttl,
                ),
            )
        )
    return shards, states
