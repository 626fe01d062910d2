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

    .venv/bin/python benchmarks/e2e.py                                  # defaults, ~2 min
    .venv/bin/python benchmarks/e2e.py --messages 2000 --seconds 3      # smoke, < 1 min

Fixed seed; exit status 1 if a scenario could not finish (bars missed still exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
import uvloop
import yaml

from gateway.child_process import logged_process

ROOT = Path(__file__).resolve().parent.parent
OUTBOUND = "smsgw:outbound"
EVENTS = "smsgw:events"
SYSTEM_ID, PASSWORD = "smsgw", "secret"
FINAL_OTHER = {"undelivered", "expired", "failed", "rejected", "suppressed"}
WARMUP = 300
CHUNK = 1000
THROUGHPUT_BAR = 5000.0
LATENCY_BAR_MS = 50.0

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
    """XADD message i at start + i/rate (late ones go together); returns times and duration."""
    loop = asyncio.get_running_loop()
    times: dict[str, float] = {}
    started, sent = loop.time(), 0
    while sent < len(traffic):
        due = min(len(traffic), int((loop.time() - started) * rate) + 1)
        if due > sent:
            times.update(await _xadd(client, traffic[sent:due]))
            sent = due
        await asyncio.sleep(max(0.0, started + sent / rate - loop.time()))
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


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True, kw_only=True)
class Stack:
    """The three running processes of one scenario and where to reach them."""

    redis_url: str
    ops_port: int | None
    control_url: str
    gateway: subprocess.Popen[bytes]
    pids: dict[str, int]


def _process(
    workdir: Path, name: str, args: list[str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return logged_process(args, workdir / f"{name}.log", cwd=ROOT, stop_timeout=20)


def _write_configs(
    workdir: Path, ports: dict[str, int], opts: Options, *, ops: bool
) -> tuple[Path, Path]:
    simulator = {
        "port": ports["smpp"],
        "control_port": ports["control"],
        "seed": opts.seed,
        "accounts": [{"system_id": SYSTEM_ID, "password": PASSWORD}],
        "max_binds": max(10, opts.binds),
        "log_level": "warning",
        "store_size": max(100_000, 4 * opts.messages + 4 * int(opts.rate * opts.seconds)),
        "receipts": {"delay": 0.0, "delay_jitter": 0.0},
    }
    gateway = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text())
    gateway["redis_url"] = f"redis://127.0.0.1:{ports['redis']}/0"
    gateway["ops"].update(enabled=ops, port=ports["ops"])
    gateway["consumer"]["name"] = "bench"
    gateway["logging"].update(level=opts.log_level, json=True)
    gateway["engine"]["shutdown_drain"] = 2.0
    gateway["compliance"]["config_dir"] = str(ROOT / "config")
    gateway["carriers"][0].update(
        port=ports["smpp"],
        system_id=SYSTEM_ID,
        password=PASSWORD,
        binds=opts.binds,
        window=opts.window,
        tps=opts.tps,
        registered_delivery=1,
    )
    sim_path, gw_path = workdir / "simulator.yaml", workdir / "smsgw.yaml"
    sim_path.write_text(yaml.safe_dump(simulator))
    gw_path.write_text(yaml.safe_dump(gateway))
    return sim_path, gw_path


@contextlib.contextmanager
def running_stack(workdir: Path, opts: Options, *, ops: bool) -> Iterator[Stack]:
    """redis-server, simulator and gateway, each its own process; stopped on exit."""
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    ports = {k: free_port() for k in ("redis", "smpp", "control", "ops")}
    sim_config, gw_config = _write_configs(workdir, ports, opts, ops=ops)
    python = sys.executable
    with contextlib.ExitStack() as stack:
        redis_args = f"--port {ports['redis']} --bind 127.0.0.1 --appendonly no".split()
        redis_args += ["--save", ""]  # no RDB snapshots either
        redis_proc = stack.enter_context(_process(workdir, "redis", [redis_server, *redis_args]))
        _wait_redis(ports["redis"], redis_proc)
        sim = stack.enter_context(
            _process(workdir, "simulator", [python, "-m", "simulator", "--config", str(sim_config)])
        )
        control_url = f"http://127.0.0.1:{ports['control']}"
        _wait_until(lambda: _http_ok(control_url + "/stats"), sim, "simulator")
        gateway = stack.enter_context(
            _process(
                workdir, "gateway", [python, "-m", "gateway.cli", "--config", str(gw_config), "run"]
            )
        )
        _wait_until(lambda: _binds_up(control_url) >= opts.binds, gateway, "gateway binds")
        pids = {"gateway": gateway.pid, "simulator": sim.pid, "redis": redis_proc.pid}
        pids["driver"] = os.getpid()
        yield Stack(
            redis_url=f"redis://127.0.0.1:{ports['redis']}/0",
            ops_port=ports["ops"] if ops else None,
            control_url=control_url,
            gateway=gateway,
            pids=pids,
        )


def _wait_redis(port: int, proc: subprocess.Popen[bytes]) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        _wait_until(lambda: _pings(client), proc, "redis-server")
    finally:
        client.close()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def _wait_until(check: Any, proc: subprocess.Popen[bytes], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready (exit code {proc.poll()})")
        time.sleep(0.05)


def _http_get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
        return body


def _http_ok(url: str) -> bool:
    try:
        _http_get(url)
    except OSError:
        return False
    return True


def _binds_up(control_url: str) -> int:
    try:
        stats = json.loads(_http_get(control_url + "/stats"))
    except OSError:
        return 0
    return sum(stats["binds"].get(SYSTEM_ID, {}).values())


# --- measurements ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (proc(5) stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of unsorted values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


@dataclass(slots=True, kw_only=True)
class Result:
    """One scenario's figures."""

    name: str
    messages: int
    rate: float = float("nan")
    accept_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    deliver_ms: list[float] = field(default_factory=list)
    rss_mib: float = float("nan")
    gateway_cpu_ms: float = float("nan")  # gateway CPU per message
    cpu: dict[str, float] = field(default_factory=dict)
    parts: int = 0
    not_delivered: int = 0


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


class CpuMeter:
    """CPU time per process between start() and stop(): seconds, and % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.started = 0.0

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        self.seconds = {
            name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()
        }
        return {name: 100 * used / wall for name, used in self.seconds.items()}


async def _scrape(port: int, interval: float) -> None:
    """A busy Prometheus: GET /metrics every `interval` s until cancelled."""
    url = f"http://127.0.0.1:{port}/metrics"
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(_http_get, url, 5)


async def _warm_up(stack: Stack, tail: EventTail, rng: random.Random) -> None:
    """A few hundred messages first: loads number metadata, Lua scripts and code paths."""
    traffic = make_traffic(rng, WARMUP, "warm", 9_000_000)
    await enqueue_bulk(tail.client, traffic)
    await tail.wait_final([i for i, _ in traffic], 60, stack.gateway)


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
        meter.start()
        enqueued = await enqueue_bulk(client, traffic)
        await tail.wait_final(list(enqueued), opts.timeout, stack.gateway)
        result = Result(name=name, messages=len(traffic), cpu=meter.stop())
        result.gateway_cpu_ms = 1000 * meter.seconds["gateway"] / len(traffic)
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
        meter.start()
        enqueued, took = await enqueue_paced(client, traffic, opts.rate)
        await tail.wait_final(list(enqueued), opts.timeout, stack.gateway)
        cpu = meter.stop()
    finally:
        await client.aclose()
    result = Result(
        name=f"(b) {opts.rate:,.0f}/s offered, {opts.seconds:g} s",
        messages=count,
        rate=count / took,
        cpu=cpu,
        gateway_cpu_ms=1000 * meter.seconds["gateway"] / count,
    )
    _collect(result, tail, enqueued, parts_before)
    result.rss_mib = peak_rss_mib(stack.pids["gateway"])
    return result


# --- report ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:8.1f}" if value == value else f"{'-':>8}"


def print_table(results: Sequence[Result]) -> None:
    print(
        f"\n{'scenario':<30} {'msgs':>7} {'parts':>7} {'msgs/s':>8} {'acc p50':>8} "
        f"{'acc p99':>8} {'sub p50':>8} {'sub p99':>8} {'dlv p50':>8} {'dlv p99':>8} "
        f"{'RSS MiB':>8} {'gw ms/msg':>9}  CPU % gw/sim/redis/driver"
    )
    for r in results:
        cpu = "/".join(
            f"{r.cpu.get(k, float('nan')):.0f}" for k in ("gateway", "simulator", "redis", "driver")
        )
        print(
            f"{r.name:<30} {r.messages:>7} {r.parts:>7} {r.rate:>8,.0f} "
            f"{_ms(percentile(r.accept_ms, 0.5))} {_ms(percentile(r.accept_ms, 0.99))} "
            f"{_ms(percentile(r.submit_ms, 0.5))} {_ms(percentile(r.submit_ms, 0.99))} "
            f"{_ms(percentile(r.deliver_ms, 0.5))} {_ms(percentile(r.deliver_ms, 0.99))} "
            f"{r.rss_mib:>8.1f} {r.gateway_cpu_ms:>9.3f}  {cpu}"
        )
        if r.not_delivered:
            print(
                f"{'':<30} {r.not_delivered} messages ended in a final status other than delivered"
            )
    print(
        "  (acc/sub/dlv = ms from XADD to the accepted/submitted/delivered event; msgs/s for (b) "
        "is the offered rate achieved;\n   gw ms/msg = gateway CPU time per message, so "
        "1000 / it is the rate one uncontended core could sustain)"
    )


def print_verdicts(results: Sequence[Result]) -> None:
    on = [r.rate for r in results if r.name.startswith("(a)")]
    off = [r.rate for r in results if r.name.startswith("(c)")]
    if on and off:
        best_on, best_off = _median(on), _median(off)
        overhead = 100 * (best_off - best_on) / best_off
        print(
            f"\nops server on vs off: {best_on:,.0f} vs {best_off:,.0f} msgs/s (median of "
            f"{len(on)}): overhead {overhead:+.1f}%"
        )
        cost_on = _median([r.gateway_cpu_ms for r in results if r.name.startswith("(a)")])
        cost_off = _median([r.gateway_cpu_ms for r in results if r.name.startswith("(c)")])
        print(
            f"  gateway CPU per message on vs off: {cost_on:.3f} vs {cost_off:.3f} ms: "
            f"overhead {100 * (cost_on - cost_off) / cost_off:+.1f}% (steadier than msgs/s when "
            "other work shares the CPUs)"
        )
        print(
            "  the engine always collects its Prometheus metrics (no config switch exists), "
            "so this is the cost of the ops HTTP server plus /metrics scrapes, not of collection"
        )
    if on:
        rate = _median(on)
        verdict = "PASS" if rate >= THROUGHPUT_BAR else "MISS"
        cost = _median([r.gateway_cpu_ms for r in results if r.name.startswith("(a)")])
        print(
            f"bar: >= {THROUGHPUT_BAR:,.0f} msgs/s end to end with receipts, ops on: {verdict} "
            f"({rate:,.0f}; gateway CPU {cost:.3f} ms/msg, i.e. at most ~{1000 / cost:,.0f} "
            "msgs/s on one uncontended core)"
        )
    for r in results:
        if r.name.startswith("(b)"):
            p99 = percentile(r.submit_ms, 0.99)
            verdict = "PASS" if p99 < LATENCY_BAR_MS else "MISS"
            print(
                f"bar: p99 enqueue->submitted < {LATENCY_BAR_MS:.0f} ms at {r.rate:,.0f}/s "
                f"offered: {verdict} ({p99:.1f} ms)"
            )


def _median(values: Sequence[float]) -> float:
    return sorted(values)[len(values) // 2]


def _revision() -> str:
    """The checkout measured: short commit, and whether tracked files were modified."""
    git = shutil.which("git")
    try:
        head = _run_git(git, "rev-parse", "--short", "HEAD")
        dirty = _run_git(git, "status", "--porcelain", "--untracked-files=no")
    except (OSError, TypeError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}{' + uncommitted changes' if dirty else ''}"


def _run_git(git: str | None, *args: str) -> str:
    if git is None:
        raise TypeError("git not found")
    done = subprocess.run([git, *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _print_header(opts: Options) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"smsgw end-to-end benchmark, {now}; {_revision()}; {os.cpu_count()} CPUs, "
        f"load avg {load}; Python {platform.python_version()}, uvloop {version('uvloop')}"
    )
    print(
        f"  redis-server, simulator and `smsgw run` in their own processes on 127.0.0.1; "
        f"seed {opts.seed}"
    )
    print(
        f"  carrier: {opts.binds} binds x window {opts.window}, tps {opts.tps:g}, receipts on "
        f"(simulator delay 0); gateway log level {opts.log_level}; warm-up {WARMUP} msgs"
    )
    print(
        "  traffic: 80% short GSM-7, 10% UCS-2, 10% long GSM-7 (2-3 parts); transactional; "
        "one recipient per message"
    )


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

    async def paced(stack: Stack) -> Result:
        return await latency(stack, opts)

    results.append(run_scenario(workdir / "latency", opts, ops=True, body=paced))
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
    p.add_argument("--repeats", type=int, default=1, help="ops on/off throughput pairs")
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
    _print_header(opts)
    workdir = Path(tempfile.mkdtemp(prefix="smsgw-e2e-"))
    results = run_all(workdir, opts)
    done = [r for r in results if r is not None]
    print_table(done)
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
