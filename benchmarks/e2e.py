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
  server and the scrapes, not the collection.
- latency: `--rate` messages/s paced for `--seconds` s (ops on, no scrapes).

Latencies are event `ts` (the gateway's wall clock, ms) minus the enqueue time, taken from the
stream entry id Redis assigned to the XADD (the same host clock, ms): both are truncated to
the millisecond, so each figure is good to +-1 ms. Peak RSS is the gateway's VmHWM; CPU is
user+system time over the measured interval, as % of one core.

    .venv/bin/python -m benchmarks.e2e                                  # defaults, ~2 min
    .venv/bin/python -m benchmarks.e2e --messages 2000 --seconds 3      # smoke, < 1 min

Fixed seed; exit status 1 if a scenario could not finish (bars missed still exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
import uvloop

# The processes of a scenario are in e2e_stack.py; measurements and the printed report are in
# e2e_report.py.
from benchmarks.e2e_report import (
    CpuMeter,
    Result,
    calls_between,
    peak_rss_mib,
    print_header,
    print_redis_calls,
    print_stage_cpu,
    print_table,
    print_verdicts,
    redis_command_calls,
    stage_cpu_seconds,
)
from benchmarks.e2e_stack import Stack, http_get, running_stack

OUTBOUND = "smsgw:outbound"
EVENTS = "smsgw:events"
FINAL_OTHER = {"undelivered", "expired", "failed", "rejected", "suppressed"}
WARMUP = 300
CHUNK = 1000
PACE_TICK = 0.001  # s, the shortest wait of the paced driver

SHORT_GSM = (
    "Your order {n} has shipped and will arrive tomorrow.",
    "Your verification code is {code}. It expires in 10 minutes.",
    "Reminder: your appointment is on {day} at {hh}:{mm}. Reply to change it.",
    "Payment of GBP {amount}.{pence} received, thank you. Ref {n}.",
)
UCS2 = (
    "Заказ {n} отправлен 🚚",
    "Ihre Bestellung {n} ist unterwegs 📦 Danke schön!",
    "您的订单 {n} 已发货 预计明天送达",
)
LONG_GSM = (
    "Dear customer, your parcel {n} is with our courier and will be delivered on {day} between "
    "{hh}:00 and {hh}:59. If you are not at home, the driver will leave a card with a link to "
    "rearrange delivery or choose a safe place. Track it any time in the app or on our website. "
    "Questions? Call us on 0800 000 000, lines open 8am to 8pm every day.",
    "Account notice {n}: we have updated our terms of service effective {day}. The changes "
    "cover how we handle refunds, how long we keep your data and how you can close your "
    "account. You do not need to do anything. Read the full terms at example.com/terms and "
    "contact us if you have any questions about these changes. Thank you for being with us, "
    "and see you soon in store.",
)


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


# --- traffic --------------------------------------------------------------------------------


def make_traffic(rng: random.Random, count: int, tag: str, base: int) -> list[tuple[str, str]]:
    """(id, JSON) pairs: the fixed mix, each message to its own +44791xxxxxxx mobile."""
    result = []
    for n in range(count):
        pick = rng.random()
        templates = SHORT_GSM if pick < 0.8 else UCS2 if pick < 0.9 else LONG_GSM
        text = rng.choice(templates).format(
            n=n,
            code=rng.randrange(10**6),
            day=rng.choice(("Monday", "Friday")),
            hh=rng.randrange(8, 20),
            mm=f"{rng.randrange(60):02d}",
            amount=rng.randrange(1, 500),
            pence=f"{rng.randrange(100):02d}",
        )
        message = {
            "id": f"{tag}-{n}",
            "to": f"+44791{(base + n) % 10**7:07d}",
            "from": "Acme",
            "text": text,
            "category": "transactional",
        }
        result.append((message["id"], json.dumps(message, ensure_ascii=False)))
    return result


def _entry_seconds(entry_id: bytes | str) -> float:
    """The ms timestamp Redis put in a stream entry id (`<ms>-<seq>`), in epoch seconds."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000


async def enqueue_bulk(
    client: aioredis.Redis, traffic: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """XADD everything at once in pipelined chunks; returns id -> enqueue time."""
    times: dict[str, float] = {}
    for start in range(0, len(traffic), CHUNK):
        times.update(await _xadd(client, traffic[start : start + CHUNK]))
    return times


async def enqueue_paced(
    client: aioredis.Redis, traffic: Sequence[tuple[str, str]], rate: float
) -> tuple[dict[str, float], float]:
    """XADD message i at start + i/rate (late ones go together); returns times and duration.

    Each wait is at least PACE_TICK: uvloop's timers have millisecond resolution, so a
    shorter sleep returns at once, and waiting out a sub-millisecond gap that way spun this
    driver at 35-70% of a core, CPU taken from the gateway it measures."""
    loop = asyncio.get_running_loop()
    times: dict[str, float] = {}
    started, sent = loop.time(), 0
    while sent < len(traffic):
        due = min(len(traffic), int((loop.time() - started) * rate) + 1)
        if due > sent:
            times.update(await _xadd(client, traffic[sent:due]))
            sent = due
        await asyncio.sleep(max(PACE_TICK, started + sent / rate - loop.time()))
    return times, loop.time() - started


async def _xadd(client: aioredis.Redis, batch: Sequence[tuple[str, str]]) -> dict[str, float]:
    if len(batch) == 1:  # a pipeline object costs more than the command (paced runs)
        message_id, data = batch[0]
        return {message_id: _entry_seconds(await client.xadd(OUTBOUND, {"data": data}))}
    pipe = client.pipeline(transaction=False)
    for _message_id, data in batch:
        _ = pipe.xadd(OUTBOUND, {"data": data})  # queued on the pipeline, sent by execute()
    entry_ids = await pipe.execute()
    return {mid: _entry_seconds(eid) for (mid, _), eid in zip(batch, entry_ids, strict=True)}


# --- events ---------------------------------------------------------------------------------


@dataclass(slots=True)
class EventTail:
    """Follows the events stream; keeps the first submitted/delivered time of every id."""

    client: aioredis.Redis
    last: bytes | str = "0-0"
    accepted: dict[str, float] = field(default_factory=dict)
    submitted: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    parts: int = 0
    other: dict[str, str] = field(default_factory=dict)
    deferred: int = 0
    pending: set[str] = field(default_factory=set)

    async def poll(self) -> None:
        reply: Any = await self.client.xread({EVENTS: self.last}, count=20_000, block=100)
        entries = (
            reply.get(EVENTS.encode(), [[]])[0]
            if isinstance(reply, dict)
            else (reply[0][1] if reply else [])
        )
        for entry_id, fields in entries:
            self.last = entry_id
            self._record(json.loads(fields[b"data"]))

    def _record(self, event: dict[str, Any]) -> None:
        mid, status = event["id"], event["status"]
        if status == "accepted" and mid not in self.accepted:
            self.accepted[mid] = datetime.fromisoformat(event["ts"]).timestamp()
        elif status == "submitted" and mid not in self.submitted:
            self.submitted[mid] = datetime.fromisoformat(event["ts"]).timestamp()
            self.parts += event.get("parts") or 1
        elif status == "delivered" and mid not in self.delivered:
            self.delivered[mid] = datetime.fromisoformat(event["ts"]).timestamp()
            self.pending.discard(mid)
        elif status in FINAL_OTHER:
            self.other[mid] = status
            self.pending.discard(mid)
        elif status == "deferred":
            self.deferred += 1

    async def wait_final(
        self, ids: Sequence[str], within: float, gateway: subprocess.Popen[bytes]
    ) -> None:
        """Poll until every id has a final event.

        Raises:
            RuntimeError: the deadline passed or the gateway exited.
        """
        self.pending.update(i for i in ids if i not in self.delivered and i not in self.other)
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() > deadline or gateway.poll() is not None:
                raise RuntimeError(
                    f"{len(self.pending)} of {len(ids)} messages have no final event "
                    f"(gateway exit code {gateway.poll()}, {self.deferred} deferred events)"
                )
            await self.poll()


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
    url = f"http://127.0.0.1:{port}/metrics"
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(http_get, url, 5)


async def _warm_up(stack: Stack, tail: EventTail, rng: random.Random) -> None:
    """A few hundred messages first: loads number metadata, Lua scripts and code paths."""
    traffic = make_traffic(rng, WARMUP, "warm", 9_000_000)
    await enqueue_bulk(tail.client, traffic)
    await tail.wait_final([i for i, _ in traffic], 60, stack.gateway)


async def _stage_cpu(stack: Stack) -> dict[str, float]:
    """The gateway's stage CPU counters (empty when its ops server is off)."""
    if stack.ops_port is None:
        return {}
    url = f"http://127.0.0.1:{stack.ops_port}/metrics"
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
    ns = p.parse_args(argv)
    return Options(**vars(ns))


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    print_header(opts, WARMUP)
    workdir = Path(tempfile.mkdtemp(prefix="smsgw-e2e-"))
    results = run_all(workdir, opts)
    done = [r for r in results if r is not None]
    print_table(done)
    print_redis_calls(done)
    print_stage_cpu(done)
    print_verdicts(done)
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload avg at end {load}")
    failed = len(done) < len(results)
    if opts.keep or failed:
        print(f"configs and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
