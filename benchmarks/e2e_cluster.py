"""`python -m benchmarks.e2e --cluster`: what Redis Cluster costs against one redis-server.

Four setups, back to back (the order reversed every other repeat when `--repeats` > 1), each
on a fresh stack (benchmarks/e2e_stack.py) with one SMSC simulator and `--instances` `smsgw run`
processes in one consumer group, and `streams.shards: --shards` on all:

- single: one redis-server (no persistence), `redis_cluster: false`;
- single + replica: the same, with a replica of it attached (`--replicaof`);
- cluster, no replicas: 3 masters on loopback (gateway/cli/cluster_process.py; no
  persistence either), `redis_cluster: true`;
- cluster: 3 masters + 3 replicas, the masters feeding them.

Cluster mode's cost is each cluster against the single server like it but for cluster mode:
no replica on either side, or replicas on both (every write also replayed on a replica).
The cluster with replicas against the bare server is printed too, not judged: it adds the
replicas' cost, which a single server with a replica pays alike.

With the same shards on all, the engine runs the same per-shard tasks and scripts: what
differs is redis-py's cluster client (slot routing, a connection pool per node, the pipeline
split by node), a carrier's rate split between its bucket and the shards' own (its bucket is
a slot of its own: gateway/carrier/pool.py), Redis's work spread over three masters, and
replication.

The driver is an upstream app as README "Scaling out" describes one: it XADDs each message
to its recipient's shard's outbound stream (gateway/store/shards.py) and reads every shard's
events stream (one XREAD naming them all on the single server, one XREAD per stream on the
cluster). On each stack, after a warm-up:

1. paced, the "same load": `--rate` msgs/s for `--seconds` s; gateway CPU per message and
   p50/p99 XADD -> submitted;
2. saturated: `--messages` XADDed at once; msgs/s = messages / (last delivered event - first
   XADD).

For each: gateway CPU per message (every instance), Redis CPU per message (every Redis
process, and masters only), Redis calls per message by command (INFO commandstats summed over
the masters: a replica's replicated writes are not calls), lost messages (no final event
within `--timeout`) and duplicates (a second `submitted` or final event for an id). The
overhead of each cluster against its like-for-like single server is judged against the
issue's bar (<= 15%) on gateway + Redis CPU per message and gateway CPU per message at the
paced rate (the "same load"), and on saturated throughput.

    .venv/bin/python -m benchmarks.e2e --cluster                     # ~5 min
    .venv/bin/python -m benchmarks.e2e --cluster --messages 2000 --seconds 3   # smoke

Exit status 1 if a setup could not finish, or a message was lost or duplicated.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
import uvloop
from redis.asyncio.cluster import RedisCluster

from benchmarks.e2e_cluster_report import (
    BARE_CLUSTER,
    CLUSTER,
    PACED,
    REPLICATED,
    SATURATED,
    SETUPS,
    SINGLE,
    Run,
    print_calls,
    print_integrity,
    print_overhead,
    print_runs,
    print_stage_cpu,
)
from benchmarks.e2e_driver import (
    EventTail,
    Outgoing,
    enqueue_bulk,
    enqueue_paced,
    make_traffic,
)
from benchmarks.e2e_report import (
    CpuMeter,
    calls_between,
    machine_busy_seconds,
    redis_command_calls,
    stage_cpu_seconds,
)
from benchmarks.e2e_stack import Layout, Stack, http_get, metrics_url, running_stack
from gateway.config import Settings, StreamsConfig
from gateway.store.shards import ShardMap

if TYPE_CHECKING:
    from benchmarks.e2e import Options

WARMUP = 300
TAIL_INTERVAL = 0.02  # s between polls of the events streams (EventTail.interval)


def _group(name: str) -> str:
    """The process group of a `Stack.pids` name: gateway-2 -> gateway, redis-7001 -> redis."""
    return name.split("-", 1)[0]


# --- the driver ------------------------------------------------------------------------------


@dataclass(slots=True)
class Driver:
    """The upstream app of one stack: its client, the shards, and the events tail."""

    stack: Stack
    client: Any  # redis.asyncio Redis or RedisCluster
    shard_map: ShardMap
    tail: EventTail

    @classmethod
    def connect(cls, stack: Stack, layout: Layout) -> Driver:
        client: Any = (
            RedisCluster.from_url(stack.redis_url)
            if layout.cluster
            else aioredis.Redis.from_url(stack.redis_url)
        )
        settings = Settings(
            redis_cluster=layout.cluster, streams=StreamsConfig(shards=layout.shards)
        )
        shard_map = ShardMap.from_settings(settings)
        events = tuple(shard.streams.events for shard in shard_map.shards)
        tail = EventTail(client, events, per_stream=layout.cluster, interval=TAIL_INTERVAL)
        return cls(stack, client, shard_map, tail)

    def traffic(self, seed: int, count: int, tag: str, base: int) -> list[Outgoing]:
        def stream_of(to: str) -> str:
            return self.shard_map.of(to).streams.outbound

        return make_traffic(random.Random(seed), count, tag, base, stream_of)

    async def warm_up(self, seed: int) -> None:
        """Number metadata, Lua scripts on every node, code paths: loaded before measuring.

        Raises:
            RuntimeError: a warm-up message got no final event within 60 s.
        """
        traffic = self.traffic(seed, WARMUP, "warm", 9_000_000)
        await enqueue_bulk(self.client, traffic)
        missing = await self.tail.settle([i for i, *_ in traffic], 60, self.stack.gateways)
        if missing:
            raise RuntimeError(f"warm-up: {len(missing)} of {WARMUP} messages not final")

    async def master_calls(self) -> dict[str, int]:
        """INFO commandstats calls so far, summed over the Redis masters."""
        total: Counter[str] = Counter()
        for name in self.stack.masters:
            node = aioredis.Redis(host="127.0.0.1", port=self.stack.redis_ports[name])
            try:
                total.update(await redis_command_calls(node))
            finally:
                await node.aclose()
        return dict(total)

    async def stage_cpu(self) -> dict[str, float]:
        """The engine's stage CPU seconds, summed over the instances."""
        total: Counter[str] = Counter()
        for port in self.stack.ops_ports:
            body = await asyncio.to_thread(http_get, metrics_url(port))
            total.update(stage_cpu_seconds(body.decode()))
        return dict(total)

    async def measure(
        self, run: Run, traffic: list[Outgoing], rate: float | None, within: float
    ) -> Run:
        """Enqueue `traffic` (paced at `rate`, or all at once) and wait for its final events;
        fills `run` with what it cost. A message with no final event after `within` s is lost."""
        meter = CpuMeter(self.stack.pids)
        again_before = self.tail.submitted_again + self.tail.final_again
        calls_before, stages_before = await self.master_calls(), await self.stage_cpu()
        meter.start()
        busy_before, started = machine_busy_seconds(), time.monotonic()
        if rate is None:
            enqueued, took = await enqueue_bulk(self.client, traffic), 0.0
        else:
            enqueued, took = await enqueue_paced(self.client, traffic, rate)
        run.lost = len(await self.tail.settle(list(enqueued), within, self.stack.gateways))
        percent = meter.stop()
        others = machine_busy_seconds() - busy_before - sum(meter.seconds.values())
        run.cpu_percent["others"] = 100 * max(0.0, others) / (time.monotonic() - started)
        run.calls = calls_between(calls_before, await self.master_calls())
        stages_after = await self.stage_cpu()
        run.stage_cpu = {k: v - stages_before.get(k, 0.0) for k, v in stages_after.items()}
        for name, seconds in meter.seconds.items():
            group = _group(name)
            run.cpu_seconds[group] = run.cpu_seconds.get(group, 0.0) + seconds
            run.cpu_percent[group] = run.cpu_percent.get(group, 0.0) + percent[name]
        run.master_seconds = sum(meter.seconds[name] for name in self.stack.masters)
        run.steal = meter.steal
        tail = self.tail
        run.accept_ms = [
            1000 * (tail.accepted[i] - t) for i, t in enqueued.items() if i in tail.accepted
        ]
        run.submit_ms = [
            1000 * (tail.submitted[i] - t) for i, t in enqueued.items() if i in tail.submitted
        ]
        run.not_delivered = sum(1 for i in enqueued if i in tail.other)
        run.duplicates = tail.submitted_again + tail.final_again - again_before
        if rate is None:
            last = max((tail.delivered.get(i, 0.0) for i in enqueued), default=0.0)
            run.rate = len(traffic) / max(1e-3, last - min(enqueued.values()))
        else:
            run.rate = len(traffic) / took
        return run

    async def aclose(self) -> None:
        await self.client.aclose()


async def _measure_setup(
    stack: Stack, layout: Layout, opts: Options, setup: str, repeat: int
) -> list[Run]:
    """Warm-up, then the paced load, then the saturated one, on the running `stack`."""
    driver = Driver.connect(stack, layout)
    try:
        await driver.warm_up(opts.seed + 1)
        count = max(1, int(opts.rate * opts.seconds))
        paced = Run(setup=setup, load=PACED, repeat=repeat, messages=count, rate=float("nan"))
        traffic = driver.traffic(opts.seed + 2, count, "lat", 1_000_000)
        await driver.measure(paced, traffic, opts.rate, opts.timeout)
        saturated = Run(
            setup=setup, load=SATURATED, repeat=repeat, messages=opts.messages, rate=float("nan")
        )
        traffic = driver.traffic(opts.seed, opts.messages, "tp", 0)
        await driver.measure(saturated, traffic, None, opts.timeout)
    finally:
        await driver.aclose()
    return [paced, saturated]


# --- the runs --------------------------------------------------------------------------------


def run_setup(workdir: Path, opts: Options, setup: str, repeat: int) -> list[Run] | None:
    """Start a fresh stack for `setup`, measure it under uvloop, stop it; None on failure."""
    layout = Layout(
        instances=opts.instances,
        shards=opts.shards,
        cluster=setup in (BARE_CLUSTER, CLUSTER),
        replica=setup in (REPLICATED, CLUSTER),
        redis_wait=opts.redis_wait if setup in (REPLICATED, CLUSTER) else 0,
    )
    workdir.mkdir()
    started = time.monotonic()
    try:
        with running_stack(workdir, opts, ops=True, layout=layout) as stack:
            if stack.shards_by_master:
                shown = ", ".join(
                    f"{name.removeprefix('redis-')}: {shards}"
                    for name, shards in sorted(stack.shards_by_master.items())
                )
                print(f"  {setup}: shards by master port: {shown}", flush=True)
            runs = uvloop.run(_measure_setup(stack, layout, opts, setup, repeat))
    except (RuntimeError, OSError, redis.exceptions.RedisError) as error:
        print(f"  {setup}: FAILED: {error}; logs in {workdir}", flush=True)
        for log in sorted(workdir.glob("gateway*.log")):
            lines = log.read_text(errors="replace").splitlines()
            for line in [x for x in lines if "dlr_unmatched" not in x][-5:]:
                print(f"    {log.name}: {line[:200]}")
        return None
    print(
        f"  {setup} #{repeat + 1}: done in {time.monotonic() - started:.1f} s "
        "(including process start and stop)",
        flush=True,
    )
    return runs


def run_comparison(workdir: Path, opts: Options) -> tuple[list[Run], int]:
    """Every repeat's setups (order reversed every other repeat, to cancel drift); runs and
    failures."""
    runs: list[Run] = []
    failures = 0
    names = {SINGLE: "single", REPLICATED: "replicated", BARE_CLUSTER: "bare-cluster",
             CLUSTER: "cluster"}  # fmt: skip
    for repeat in range(opts.repeats):
        order = SETUPS if repeat % 2 == 0 else tuple(reversed(SETUPS))
        for setup in order:
            done = run_setup(workdir / f"{names[setup]}-{repeat}", opts, setup, repeat)
            if done is None:
                failures += 1
            else:
                runs.extend(done)
    return runs, failures


def report_comparison(runs: Sequence[Run]) -> bool:
    """Print every figure; False if a message was lost or duplicated."""
    if not runs:
        print("\nno setup finished")
        return False
    print_runs(runs)
    print_calls(runs)
    print_stage_cpu(runs)
    print_overhead(runs)
    return print_integrity(runs)
