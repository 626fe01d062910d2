"""A Redis Cluster master SIGKILLed under load (AOF on), its replica promoted: `smsgw run`
(redis_cluster: true, 3 shards) carries on with 0 messages lost and duplicates only in the
documented window (README, "Scaling out": what asynchronous replication can lose).

Real processes: the 3+3 cluster of tests/cluster_fixture.py, the simulator in this process
(so the test sees every copy the carrier received) and a gateway started with the console
entry point. The producer writes as the README tells an upstream app on a cluster to: XADD
and `WAIT 1` on the same connection to the stream's master, and again (same id) if the WAIT
did not confirm it, so an entry the old master acknowledged but never replicated is not lost
upstream of the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from redis.asyncio.cluster import RedisCluster

from gateway.store.shards import ShardMap
from tests.cluster_fixture import LocalRedisCluster, key_slot
from tests.integration.engine_harness import FINAL, engine_settings, message
from tests.integration.simulator_fixture import RunningSimulator, simulator_config, start_simulator
from tests.integration.streams import stream_entries
from tests.integration.test_engine_crash import (
    gateway_process,
    log_tail,
    wait_for_binds,
    write_gateway_config,
)

SHARDS = 3
TOTAL = 900
RATE = 150  # messages/s offered: the kill lands with traffic flowing before and after it
TICK = 0.05
REPLICA_LAG_WINDOW = 1.0  # s before the kill: writes the replica may not have had yet
Events = dict[str, list[dict[str, Any]]]


@dataclass
class DurableProducer:
    """XADD + WAIT 1 on one connection to each stream's master; again until a replica has it."""

    cluster: LocalRedisCluster
    retries: int = 0
    _clients: dict[int, aioredis.Redis] = field(default_factory=dict)

    async def add(self, stream: str, payloads: Sequence[str]) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                port = await asyncio.to_thread(self.cluster.master_of_slot, key_slot(stream))
                client = self._clients.setdefault(port, aioredis.Redis(port=port))
                pipe = client.pipeline(transaction=False)
                for payload in payloads:
                    _ = pipe.xadd(stream, {"data": payload})  # queued: sent by execute()
                pipe.execute_command("WAIT", 1, 500)
                replies = await pipe.execute()
                if replies[-1] >= 1:
                    return
            except (redis.exceptions.RedisError, OSError):
                pass  # the master is dead, or no longer the master: ask the cluster again
            assert time.monotonic() < deadline, f"{stream}: no master took the entries"
            self.retries += 1
            await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


async def produce(producer: DurableProducer, shards: ShardMap, items: list[dict[str, Any]]) -> None:
    """Offer `items` at RATE messages/s, each on its recipient's shard stream."""
    per_tick = max(1, int(RATE * TICK))
    for start in range(0, len(items), per_tick):
        chunk = items[start : start + per_tick]
        by_stream: dict[str, list[str]] = {}
        for item in chunk:
            by_stream.setdefault(shards.of(item["to"]).streams.outbound, []).append(
                json.dumps(item)
            )
        await asyncio.gather(*(producer.add(s, p) for s, p in by_stream.items()))
        await asyncio.sleep(TICK)


async def events_on_shards(client: RedisCluster, shards: ShardMap) -> Events:
    found: Events = {}
    for shard in shards.shards:
        entries = await stream_entries(client, shard.streams.events)
        for _, fields in entries:
            event = json.loads(fields[b"data"])
            found.setdefault(event["id"], []).append(event)
    return found


async def wait_for_finals(client: RedisCluster, shards: ShardMap, ids: set[str],
                          within: float) -> Events:  # fmt: skip
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(redis.exceptions.RedisError):
            events = await events_on_shards(client, shards)
            missing = {i for i in ids if not any(e["status"] in FINAL for e in events.get(i, []))}
            if not missing:
                return events
        assert time.monotonic() < deadline, f"{len(missing)} ids without a final event"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def carrier_count_log(sim: RunningSimulator) -> AsyncIterator[list[tuple[float, int]]]:
    """(monotonic time, messages the carrier had) every 10 ms, while the block runs."""
    samples: list[tuple[float, int]] = []

    async def poll() -> None:
        while True:
            samples.append((time.monotonic(), sim.stats()["messages_stored"]))
            await asyncio.sleep(0.01)

    task = asyncio.get_running_loop().create_task(poll())
    try:
        yield samples
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def cluster_config(
    path: Path, sim: RunningSimulator, wait_replicas: int, consumer: str = "gw-a"
) -> Path:
    write_gateway_config(path, sim, consumer=consumer)
    data = yaml.safe_load(path.read_text())
    data["redis_cluster"] = True
    data["streams"] = {"shards": SHARDS}
    data["redis_wait"] = {"replicas": wait_replicas, "timeout_ms": 50}
    path.write_text(yaml.safe_dump(data))
    return path


def wait_calls(cluster: LocalRedisCluster) -> int:
    """WAIT commands the live nodes ran (their INFO commandstats)."""
    total = 0
    for node in cluster.alive():
        with redis.Redis(port=node.port) as client:
            total += int(client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
    return total


@pytest.mark.parametrize("wait_replicas", [0, 1], ids=["no-wait", "wait-1"])
async def test_a_master_killed_under_load_loses_nothing_and_duplicates_only_in_the_lag_window(
    redis_cluster: LocalRedisCluster,
    redis_cluster_client: RedisCluster,
    tmp_path: Path,
    wait_replicas: int,
) -> None:
    """With `redis_wait.replicas: 1` the engine's state writes wait for the replica as well
    (gateway/store/replica_wait.py); without, the lag window stays open (and is as narrow)."""
    items = [message(n) for n in range(TOTAL)]
    ids = {m["id"] for m in items}
    id_by_text = {m["text"]: m["id"] for m in items}
    shards = ShardMap.from_settings(
        engine_settings(
            redis_cluster.url,
            [("sim", "127.0.0.1", 1)],
            streams={"shards": SHARDS},
            redis_cluster=True,
        )
    )
    victim_slot = key_slot(shards.shards[0].streams.outbound)
    old_master = await asyncio.to_thread(redis_cluster.master_of_slot, victim_slot)
    config = simulator_config(
        recent_messages=5 * TOTAL,
        receipts={"delay": 0.1, "retry_delay": 0.2, "max_attempts": 100},
        faults={"response_delay": 0.01},
    )
    producer = DurableProducer(redis_cluster)
    try:
        async with start_simulator(config) as sim:
            path = cluster_config(tmp_path / "gw-a.yaml", sim, wait_replicas)
            log = tmp_path / "gw-a.log"
            async with gateway_process(path, redis_cluster.url, log) as gw:
                await wait_for_binds(sim, 1, [(gw, log)])
                async with carrier_count_log(sim) as counts:
                    traffic = asyncio.get_running_loop().create_task(
                        produce(producer, shards, items)
                    )
                    while sim.stats()["messages_stored"] < TOTAL // 3:
                        assert gw.returncode is None, log_tail(log)
                        assert not traffic.done(), "traffic ended before the kill"
                        await asyncio.sleep(0.01)
                    killed_at = time.monotonic()
                    await asyncio.to_thread(redis_cluster.kill, old_master)
                    new_master = await asyncio.to_thread(
                        redis_cluster.wait_for_new_master, victim_slot, old_master
                    )
                    failover_s = time.monotonic() - killed_at
                    await asyncio.to_thread(redis_cluster.restart, old_master)
                    await asyncio.to_thread(redis_cluster.wait_until_healthy)
                    await traffic
                    events = await wait_for_finals(redis_cluster_client, shards, ids, within=90)
                assert gw.returncode is None, log_tail(log)
            received = sim.messages()
    finally:
        await producer.aclose()
        await asyncio.to_thread(redis_cluster.restart, old_master)
        await asyncio.to_thread(redis_cluster.wait_until_healthy)

    copies = Counter(id_by_text[m.text] for m in received if m.text in id_by_text)
    first_copy_at: dict[str, int] = {}
    for index, m in enumerate(received):
        if m.text in id_by_text:
            first_copy_at.setdefault(id_by_text[m.text], index)
    window_start = next(
        (count for t, count in reversed(counts) if t <= killed_at - REPLICA_LAG_WINDOW), 0
    )
    at_kill = next((count for t, count in reversed(counts) if t <= killed_at), 0)
    duplicated = {i for i, n in copies.items() if n > 1}
    finals = {i: [e["status"] for e in events[i] if e["status"] in FINAL] for i in ids}
    observed = (
        f"master :{old_master} killed with {at_kill}/{TOTAL} at the carrier, :{new_master} "
        f"promoted after {failover_s:.1f} s; producer retried {producer.retries} writes; "
        f"{len(duplicated)} duplicates; finals {Counter(s for f in finals.values() for s in f)}"
    )
    print(observed)
    assert 0 < at_kill < TOTAL, f"the kill was not mid-traffic: {observed}"
    outages = [
        event
        for event in map(json.loads, log.read_text().splitlines())
        if event["event"] in ("redis_unavailable", "redis_available")
    ]
    outage_lines = Counter((event["event"], event.get("shard")) for event in outages)
    assert all(n == 1 for n in outage_lines.values()), f"an outage logged twice: {outages}"
    assert {e for e, _ in outage_lines} <= {"redis_unavailable", "redis_available"}
    assert sum(n for (e, _), n in outage_lines.items() if e == "redis_available") == sum(
        n for (e, _), n in outage_lines.items() if e == "redis_unavailable"
    ), f"an outage never ended: {outage_lines}"
    if wait_replicas:
        assert await asyncio.to_thread(wait_calls, redis_cluster) > 0, "the engine sent no WAIT"
    never_sent = sorted(i for i in ids if copies[i] == 0)
    assert not never_sent, f"{len(never_sent)} lost, e.g. {never_sent[:5]}: {observed}"
    assert all(len(f) == 1 for f in finals.values()), f"ids with two finals: {observed}"
    outside = {i for i in duplicated if first_copy_at[i] < window_start}
    assert not outside, f"duplicates first sent before the lag window {sorted(outside)}: {observed}"
    not_delivered = {i: f for i, f in finals.items() if f != ["delivered"]}
    assert not not_delivered, f"not delivered: {dict(list(not_delivered.items())[:5])}: {observed}"


async def held_as_outcome_unknown(client: RedisCluster, shards: ShardMap,
                                  items: list[dict[str, Any]]) -> set[str]:  # fmt: skip
    """Ids whose history (in their shard) shows they were in flight when their instance died."""
    held = set()
    for item in items:
        key = f"{shards.of(item['to']).prefix}msg:{item['id']}:history"
        for raw in await client.lrange(key, 0, -1):
            event = json.loads(raw)
            if event["status"] == "deferred" and event["error"]["code"] == "outcome_unknown":
                held.add(item["id"])
    return held


async def test_an_instance_killed_on_the_cluster_has_every_shards_work_taken_over(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster, tmp_path: Path
) -> None:
    """Two `smsgw run` on 3 shards of the cluster; one SIGKILLed mid-traffic: the other claims
    its pending entries on every shard (XAUTOCLAIM per shard stream). Every message reaches the
    carrier; only those in flight at the kill (held outcome-unknown) may be sent twice."""
    total = 600
    items = [message(n) for n in range(total)]
    ids = {m["id"] for m in items}
    id_by_text = {m["text"]: m["id"] for m in items}
    shards = ShardMap.from_settings(
        engine_settings(
            redis_cluster.url, [("sim", "127.0.0.1", 1)], streams={"shards": SHARDS},
            redis_cluster=True,
        )
    )  # fmt: skip
    config = simulator_config(
        recent_messages=5 * total,
        receipts={"delay": 0.2, "retry_delay": 0.2, "max_attempts": 50},
        faults={"response_delay": 0.05},
    )
    async with start_simulator(config) as sim:
        path_a = cluster_config(tmp_path / "gw-a.yaml", sim, 0, consumer="gw-a")
        path_b = cluster_config(tmp_path / "gw-b.yaml", sim, 0, consumer="gw-b")
        log_a, log_b = tmp_path / "gw-a.log", tmp_path / "gw-b.log"
        async with (
            gateway_process(path_a, redis_cluster.url, log_a) as gw_a,
            gateway_process(path_b, redis_cluster.url, log_b) as gw_b,
        ):
            await wait_for_binds(sim, 2, [(gw_a, log_a), (gw_b, log_b)])
            pipe = redis_cluster_client.pipeline()  # split by node: all out at once
            for item in items:
                _ = pipe.xadd(shards.of(item["to"]).streams.outbound, {"data": json.dumps(item)})
            await pipe.execute()
            while sim.stats()["messages_stored"] < total // 4:
                assert gw_a.returncode is None, log_tail(log_a)
                await asyncio.sleep(0.005)
            gw_a.kill()
            at_kill = sim.stats()["messages_stored"]
            await gw_a.wait()
            events = await wait_for_finals(redis_cluster_client, shards, ids, within=60)
            assert gw_b.returncode is None, log_tail(log_b)
        received = sim.messages()
    copies = Counter(id_by_text[m.text] for m in received if m.text in id_by_text)
    in_window = await held_as_outcome_unknown(redis_cluster_client, shards, items)
    duplicated = {i for i, n in copies.items() if n > 1}
    observed = (
        f"{at_kill}/{total} at the carrier at the kill; {len(in_window)} held outcome-unknown, "
        f"{sum(1 for i in in_window if copies[i])} of them at the carrier; "
        f"{len(duplicated)} duplicates"
    )
    print(observed)
    assert 0 < at_kill < total, observed
    assert duplicated <= in_window, f"duplicates outside the window: {observed}"
    lost = sorted(i for i in ids - in_window if copies[i] == 0)
    assert not lost, f"{len(lost)} never sent, e.g. {lost[:5]}: {observed}"
    finals = {i: [e for e in events[i] if e["status"] in FINAL] for i in ids}
    assert all(len(f) == 1 for f in finals.values()), observed
    # in flight at the kill and never at the carrier: failed, saying the outcome is unknown
    unsent = {finals[i][0]["error"]["code"] for i in in_window if copies[i] == 0}
    assert unsent <= {"outcome_unknown"}, observed
    assert all(finals[i][0]["status"] == "delivered" for i in ids if copies[i]), observed
    reclaimed_shards = {shards.of(m["to"]).index for m in items}
    assert reclaimed_shards == set(range(SHARDS))
