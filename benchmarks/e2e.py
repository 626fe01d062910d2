"""End to end: upstream XADD -> `smsgw run` -> SMPP simulator -> receipts -> events, timed.

Each scenario starts its own redis-server (`--save "" --appendonly no`), SMSC simulator
(`python -m simulator`) and gateway (`python -m gateway.cli run`) as separate processes on
127.0.0.1 and free ports, and stops all three when it ends, whatever happens. Config files and
logs go to a temporary directory (its path is printed when a run fails).

Scenarios:
- throughput: `--messages` messages (80% short GSM-7, 10% UCS-2, 10% long GSM-7 in 2-3 parts,
  each to its own UK mobile, category transactional) are XADDed up front in pipelined chunks;
  the figure is messages / (last `delivered` event - first XADD), with receipts on and the
  simulator sending each receipt at once. It is run with the ops HTTP server (/metrics)
  enabled and scraped every `--scrape-interval` s, and with it disabled. The engine always
  collects its Prometheus metrics (there is no switch for that), so "ops off" measures the
  server and the scrapes, not the collection. On this VM that comparison moves by more than
  either costs, so the ops bar is judged on direct measures: the metrics hooks' cost per
  message (benchmarks/metrics_cost.py, run in this process) and the gateway's CPU per scrape
  after each ops-on run.
- latency: `--rate` messages/s paced for `--seconds` s (ops on, no scrapes).

Latencies are event `ts` (the gateway's wall clock, ms) minus the enqueue time, taken from the
stream entry id Redis assigned to the XADD (the same host clock, ms): both are truncated to
the millisecond, so each figure is good to +-1 ms. Peak RSS is the gateway's VmHWM; CPU is
user+system time over the measured interval, as % of one core.

    .venv/bin/python -m benchmarks.e2e                                  # defaults, ~2 min
    .venv/bin/python -m benchmarks.e2e --messages 2000 --seconds 3      # smoke, < 1 min

`--cluster` runs another comparison instead: single Redis (with and without a replica) against
a 3-master Redis Cluster (with and without a replica per master), each with 2 gateway
instances and 6 shards (benchmarks/e2e_cluster.py says how):

    .venv/bin/python -m benchmarks.e2e --cluster [--shards 6] [--instances 2]

Fixed seed; exit status 1 if a scenario could not finish (bars missed still exit 0), or with
--cluster a message was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
import uvloop

# The processes of a scenario are in e2e_stack.py, the upstream app (traffic, XADDs, events
# tail) in e2e_driver.py; measurements and the printed report are in e2e_report.py.
from benchmarks.e2e_cluster import report_comparison, run_comparison
from benchmarks.e2e_cluster_report import print_cluster_header
from benchmarks.e2e_driver import EventTail, enqueue_bulk, enqueue_paced, make_traffic
from benchmarks.e2e_report import (
    CpuMeter,
    Result,
    calls_between,
    cpu_seconds,
    peak_rss_mib,
    print_header,
    print_redis_calls,
    print_stage_cpu,
    print_table,
    print_verdicts,
    redis_command_calls,
    speed_probe,
    stage_cpu_seconds,
)
from benchmarks.e2e_stack import Stack, http_get, metrics_url, running_stack
from benchmarks.metrics_cost import hooks_us_per_message
from common.gc_tuning import tune_gc

WARMUP = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What the command line asked for."""

    messages: int
    rate: float
    seconds: float
    seed: int
    window: int
    binds: int
    tps: float
    repeats: int
    scrape_interval: float
    log_level: str
    timeout: float
    keep: bool
    cluster: bool = False  # the --cluster comparison (benchmarks/e2e_cluster.py) instead
    shards: int = 1
    instances: int = 1
    redis_wait: int = 0  # the cluster's redis_wait.replicas (single Redis has no replica)


# --- figures ---------------------------------------------------------------------------------


def _collect(result: Result, tail: EventTail, enqueued: dict[str, float], parts: int) -> None:
    """Latencies of `enqueued` from the tail's events, and the gateway figures."""
    result.accept_ms = [
        1000 * (tail.accepted[i] - t) for i, t in enqueued.items() if i in tail.accepted
    ]
    result.submit_ms = [
        1000 * (tail.submitted[i] - t) for i, t in enqueued.items() if i in tail.submitted
    ]
    result.deliver_ms = [
        1000 * (tail.delivered[i] - t) for i, t in enqueued.items() if i in tail.delivered
    ]
    result.not_delivered = sum(1 for i in enqueued if i in tail.other)
    result.parts = tail.parts - parts


# --- scenarios ------------------------------------------------------------------------------


async def _scrape(port: int, interval: float) -> None:
    """A busy Prometheus: GET /metrics every `interval` s until cancelled."""
    url = metrics_url(port)
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(http_get, url, 5)


async def _scrape_cpu_ms(pid: int, ops_port: int, scrapes: int = 30) -> float:
    """The CPU of gateway `pid` per GET /metrics, the registry as the run left it (the scrapes
    one at a time, the gateway otherwise idle)."""
    url = metrics_url(ops_port)
    before = cpu_seconds(pid)
    for _ in range(scrapes):
        await asyncio.to_thread(http_get, url)
    return 1000 * (cpu_seconds(pid) - before) / scrapes


async def _warm_up(stack: Stack, tail: EventTail, rng: random.Random) -> None:
    """A few hundred messages first: loads number metadata, Lua scripts and code paths."""
    traffic = make_traffic(rng, WARMUP, "warm", 9_000_000)
    await enqueue_bulk(tail.client, traffic)
    await tail.wait_final([i for i, *_ in traffic], 60, stack.gateway)


async def _stage_cpu(stack: Stack) -> dict[str, float]:
    """The gateway's stage CPU counters (empty when its ops server is off)."""
    if stack.ops_port is None:
        return {}
    url = metrics_url(stack.ops_port)
    return stage_cpu_seconds((await asyncio.to_thread(http_get, url)).decode())


async def throughput(stack: Stack, opts: Options, name: str) -> Result:
    """All messages XADDed up front; rate until the last one is delivered."""
    client = aioredis.Redis.from_url(stack.redis_url)
    tail = EventTail(client)
    scraper = None
    try:
        await _warm_up(stack, tail, random.Random(opts.seed + 1))
        traffic = make_traffic(random.Random(opts.seed), opts.messages, "tp", 0)
        parts_before, meter = tail.parts, CpuMeter(stack.pids)
        if stack.ops_port is not None and opts.scrape_interval > 0:
            scraper = asyncio.create_task(_scrape(stack.ops_port, opts.scrape_interval))
        calls_before = await redis_command_calls(client)
        stages_before = await _stage_cpu(stack)
        meter.start()
        enqueued = await enqueue_bulk(client, traffic)
        await tail.wait_final(list(enqueued), opts.timeout, stack.gateway)
        result = Result(name=name, messages=len(traffic), cpu=meter.stop())
        result.redis_calls = calls_between(calls_before, await redis_command_calls(client))
        stages_after = await _stage_cpu(stack)
        result.stage_cpu = {k: v - stages_before.get(k, 0.0) for k, v in stages_after.items()}
        result.gateway_cpu_ms = 1000 * meter.seconds["gateway"] / len(traffic)
        result.steal = meter.steal
        last = max(tail.delivered.get(i, 0.0) for i in enqueued)
        result.rate = len(traffic) / (last - min(enqueued.values()))
    finally:
        if scraper is not None:
            scraper.cancel()
            await asyncio.gather(scraper, return_exceptions=True)
        await client.aclose()
    _collect(result, tail, enqueued, parts_before)
    result.rss_mib = peak_rss_mib(stack.pids["gateway"])
    if scraper is not None and stack.ops_port is not None:  # after the run: the gateway idles
        result.scrape_ms = await _scrape_cpu_ms(stack.pids["gateway"], stack.ops_port)
        result.scrape_interval = opts.scrape_interval
    return result


async def latency(stack: Stack, opts: Options) -> Result:
    """`rate` messages/s paced for `seconds` s; latency of each message."""
    client = aioredis.Redis.from_url(stack.redis_url)
    tail = EventTail(client)
    try:
        await _warm_up(stack, tail, random.Random(opts.seed + 1))
        count = max(1, int(opts.rate * opts.seconds))
        traffic = make_traffic(random.Random(opts.seed + 2), count, "lat", 1_000_000)
        parts_before, meter = tail.parts, CpuMeter(stack.pids)
        calls_before = await redis_command_calls(client)
        stages_before = await _stage_cpu(stack)
        meter.start()
        enqueued, took = await enqueue_paced(client, traffic, opts.rate)
        await tail.wait_final(list(enqueued), opts.timeout, stack.gateway)
        cpu = meter.stop()
        calls = calls_between(calls_before, await redis_command_calls(client))
        stages_after = await _stage_cpu(stack)
    finally:
        await client.aclose()
    result = Result(
        name=f"(b) {opts.rate:,.0f}/s offered, {opts.seconds:g} s",
        messages=count,
        rate=count / took,
        cpu=cpu,
        gateway_cpu_ms=1000 * meter.seconds["gateway"] / count,
        steal=meter.steal,
        redis_calls=calls,
        stage_cpu={k: v - stages_before.get(k, 0.0) for k, v in stages_after.items()},
    )
    _collect(result, tail, enqueued, parts_before)
    result.rss_mib = peak_rss_mib(stack.pids["gateway"])
    return result


# --- main -----------------------------------------------------------------------------------


def run_scenario(workdir: Path, opts: Options, *, ops: bool, body: Any) -> Result | None:
    """Start a fresh stack, run `body(stack)` under uvloop, stop the stack; None on failure."""
    workdir.mkdir()
    started = time.monotonic()
    try:
        with running_stack(workdir, opts, ops=ops) as stack:
            result: Result = uvloop.run(body(stack))
    except (RuntimeError, OSError, redis.exceptions.RedisError) as error:
        print(f"  FAILED: {error}; logs in {workdir}", flush=True)
        log = workdir / "gateway.log"
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()
            for line in [x for x in lines if "dlr_unmatched" not in x][-10:]:  # skip per-DLR noise
                print(f"    {line[:200]}")
        return None
    print(
        f"  {result.name}: done in {time.monotonic() - started:.1f} s "
        "(including process start and stop)",
        flush=True,
    )
    return result


def run_all(workdir: Path, opts: Options) -> list[Result | None]:
    results: list[Result | None] = []
    for n in range(opts.repeats):
        suffix = f" #{n + 1}" if opts.repeats > 1 else ""
        for ops in (True, False) if n % 2 == 0 else (False, True):  # alternate to cancel drift
            name = f"(a) throughput, ops on{suffix}" if ops else f"(c) throughput, ops off{suffix}"

            async def body(stack: Stack, name: str = name) -> Result:
                return await throughput(stack, opts, name)

            sub = workdir / f"tp-{'on' if ops else 'off'}-{n}"
            results.append(run_scenario(sub, opts, ops=ops, body=body))

    for n in range(opts.repeats):

        async def paced(stack: Stack, n: int = n) -> Result:
            result = await latency(stack, opts)
            if opts.repeats > 1:
                result.name += f" #{n + 1}"
            return result

        results.append(run_scenario(workdir / f"latency-{n}", opts, ops=True, body=paced))
    return results


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=20_000, help="throughput run size")
    p.add_argument("--rate", type=float, default=1000.0, help="offered msgs/s of the latency run")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--window", type=int, default=200, help="carrier window per bind")
    p.add_argument("--binds", type=int, default=2)
    p.add_argument("--tps", type=float, default=100_000, help="carrier tps (0 = no throttle)")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each scenario (ops on/off throughput pairs, and paced runs); verdicts "
        "take the median",
    )
    p.add_argument(
        "--scrape-interval",
        type=float,
        default=1.0,
        help="seconds between /metrics scrapes when ops is on (0 = none)",
    )
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.add_argument("--timeout", type=float, default=300.0, help="max seconds to wait for events")
    p.add_argument("--keep", action="store_true", help="keep the config and log directory")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="instead of the scenarios above: single Redis against a 3+3 Redis Cluster, with "
        "--instances gateways and --shards shards on both (benchmarks/e2e_cluster.py)",
    )
    p.add_argument("--shards", type=int, help="streams.shards with --cluster (default 6)")
    p.add_argument("--instances", type=int, help="`smsgw run` processes with --cluster (default 2)")
    p.add_argument(
        "--redis-wait",
        type=int,
        default=0,
        help="redis_wait.replicas of the gateways on the cluster (single Redis has no replica)",
    )
    ns = p.parse_args(argv)
    if not ns.cluster and (ns.shards is not None or ns.instances is not None or ns.redis_wait):
        p.error("--shards, --instances and --redis-wait go with --cluster")
    if ns.cluster:
        ns.shards = 6 if ns.shards is None else ns.shards
        ns.instances = 2 if ns.instances is None else ns.instances
        if not 1 <= ns.shards <= 1024 or ns.instances < 1:
            p.error("--shards must be 1..1024 and --instances at least 1")
    else:
        ns.shards, ns.instances = 1, 1
    return Options(**vars(ns))


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    tune_gc()  # the driver's GC as the gateway's: it shares the CPUs with what it measures
    print_header(opts, WARMUP)
    probe_at_start = speed_probe()
    print(f"  machine speed probe: {probe_at_start:.0f} ms (a fixed pure-Python workload; lower "
          "is faster; runs whose probes differ by over ~10% saw a different machine)")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="smsgw-e2e-"))
    if opts.cluster:
        print_cluster_header(opts)
        runs, failures = run_comparison(workdir, opts)
        failed = not report_comparison(runs) or failures > 0
    else:
        results = run_all(workdir, opts)
        done = [r for r in results if r is not None]
        print_table(done)
        print_redis_calls(done)
        print_stage_cpu(done)
        print_verdicts(done, collection_us=hooks_us_per_message(100_000, 3))
        failed = len(done) < len(results)
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload avg at end {load}; machine speed probe at end {speed_probe():.0f} ms "
          f"(at start {probe_at_start:.0f})")  # fmt: skip
    if opts.keep or failed:
        print(f"configs and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
