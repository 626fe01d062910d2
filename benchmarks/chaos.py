"""Chaos: N messages through redis-server + simulator + `smsgw run` while each is SIGKILLed.

Three real processes on 127.0.0.1 and free ports, in a temporary directory:

- redis-server with `--appendonly yes --appendfsync always`, so it restarts from its AOF with
  every write it acknowledged (the gateway's guarantees assume an acknowledged write is kept;
  `everysec` could lose up to a second of them at a SIGKILL, and the resulting duplicates
  would be Redis's, not the gateway's). `--fsync everysec` runs that variant.
- the SMSC simulator (`python -m simulator`) with its submit journal on (simulator/journal.py):
  one line per submit_sm it answered, written before the answer, so what the carrier received
  survives its own SIGKILLs. Each simulator run answers ids from its own range
  (k * 10**9 for run k), so ids never repeat across restarts and each copy names its run.
- `smsgw run` (`python -m gateway.cli`) with a fixed `consumer.name` ("chaos"), fast consumer
  timers, a short `engine.unknown_outcome_hold` (`--hold`) and, when the gateway's config
  accepts it, a carrier `receipt_timeout` (`--receipt-timeout`, default: on if supported).

`--messages` messages (each to its own UK mobile; the text starts "chaos <id> "; about 10%
are 2-3 part GSM-7, 5% UCS-2) are XADDed at `--rate` per second on average, in bursts of
`--burst` (an XADD that fails while Redis is down is retried: an id enqueued twice must still
be sent once). Meanwhile, at
seeded random points, one at a time: the gateway is SIGKILLed and restarted with the same
consumer name, the simulator is SIGKILLed and restarted, Redis is SIGKILLed and restarted.
A process that exits by itself is restarted too and counted. Then the run waits (at most
`--settle` s) until every id is final, or nothing has changed for a while with nothing
scheduled in the deferred set; stops everything; and counts per id from the journal and
from Redis (`smsgw:msg:<id>`, `smsgw:events`).
The definitions and bars are in benchmarks/chaos_report.py; in short: 0 lost, 0 duplicates
outside the crash window (ids marked in flight at a SIGKILL, printed apart), 0 regressions, 0
multi-part messages `delivered` with a part the carrier never accepted.

    .venv/bin/python -m benchmarks.chaos                          # 20,000 messages, 3-5 min
    .venv/bin/python -m benchmarks.chaos --messages 3000 --rate 300 --keep-logs /tmp/chaos

Exit status: 0 all bars met, 1 a bar missed, 2 the run could not be carried out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions
import uvloop
import yaml

from benchmarks.chaos_report import (
    FINAL,
    INCARNATION_SPAN,
    Event,
    Kills,
    Outcome,
    judge,
    map_journal,
    print_verdict,
)
from benchmarks.e2e_stack import http_get
from gateway.cli.child_process import free_port
from gateway.config import settings_from_mapping
from gateway.errors import ConfigError
from simulator.journal import read_journal

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_ID, PASSWORD = "smsgw", "secret"
OUTBOUND, EVENTS, DEFERRED = "smsgw:outbound", "smsgw:events", "smsgw:deferred"
GROUP, CONSUMER = "smsgw", "chaos"
READY = 30.0  # s for a (re)started process to become ready
CHUNK = 1000  # ids per pipeline when reading Redis
AUTO_RECEIPT_TIMEOUT = 20.0  # s, when the gateway supports receipt_timeout and none is given
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
T = TypeVar("T")

LONG = (
    "your parcel is with our courier and will be delivered tomorrow between 08:00 and 12:00. "
    "If you are not at home the driver will leave a card with a link to rearrange delivery or "
    "choose a safe place. Track it any time in the app. Questions? Call 0800 000 000, 8am-8pm."
)
UCS2 = ("Заказ отправлен 🚚", "您的订单已发货", "Ihre Bestellung ist unterwegs 📦 Danke schön!")


class RunFailedError(RuntimeError):
    """A process did not come up, or Redis stayed unreachable: no verdict is possible."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    messages: int
    seed: int
    gateway_kills: int
    simulator_kills: int
    redis_kills: int
    rate: float
    burst: int
    hold: float
    response_delay: float
    receipt_timeout: float | None
    settle: float
    fsync: str
    keep_logs: Path | None


# --- processes -------------------------------------------------------------------------------


class Child:
    """One process, restartable; its output appended to one log across restarts."""

    def __init__(self, name: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.log_path, self.env = name, log, env
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, args: Sequence[str]) -> None:
        self._log = self._log or self.log_path.open("ab")
        self.proc = subprocess.Popen(
            list(args), stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> bool:
        """True when it was started and has exited (by itself, if we did not kill it)."""
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float) -> None:
        """SIGTERM; SIGKILL after `timeout` s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass(slots=True)
class Chaos:
    """What the kills did, as they happened."""

    kills: dict[str, int] = field(
        default_factory=lambda: {"gateway": 0, "simulator": 0, "redis": 0}
    )
    exits: dict[str, int] = field(default_factory=lambda: {"gateway": 0, "simulator": 0})
    windows: dict[str, set[str]] = field(default_factory=dict)
    killed_incarnations: set[int] = field(default_factory=set)
    enqueue_retries: int = 0


class Stack:
    """redis-server, simulator and gateway of one chaos run, and a Redis client."""

    def __init__(
        self, workdir: Path, opts: Options, receipt_timeout: float | None, rng: random.Random
    ) -> None:
        self.workdir, self.opts, self._rng = workdir, opts, rng
        self.ports = {k: free_port() for k in ("redis", "smpp", "control")}
        self.redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        self.control_url = f"http://127.0.0.1:{self.ports['control']}"
        self.journal = workdir / "journal.jsonl"
        env = {k: v for k, v in os.environ.items() if k not in ("SMSGW_CONFIG", "SMSGW_REDIS_URL")}
        self.redis = Child("redis", workdir / "redis.log")
        self.sim = Child("simulator", workdir / "simulator.log")
        self.gateway = Child("gateway", workdir / "gateway.log", env)
        self.gateway_config = workdir / "smsgw.yaml"
        self.gateway_config.write_text(yaml.safe_dump(gateway_config(self, receipt_timeout)))
        self.incarnation = 0
        self.client = aioredis.Redis.from_url(
            self.redis_url, socket_timeout=5, socket_connect_timeout=1
        )
        self.chaos = Chaos()
        self.lock = asyncio.Lock()  # one kill or restart at a time
        self.enqueued: list[str] = []

    # starting and waiting

    def start_redis(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.redis.start([
            binary, "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
            "--dir", str(self.workdir), "--save", "", "--appendonly", "yes",
            "--appendfsync", self.opts.fsync,
        ])  # fmt: skip

    def start_simulator(self) -> None:
        self.incarnation += 1
        path = self.workdir / f"simulator-{self.incarnation}.yaml"
        path.write_text(yaml.safe_dump(simulator_config(self, self.incarnation)))
        self.sim.start([sys.executable, "-m", "simulator", "--config", str(path)])

    def start_gateway(self) -> None:
        self.gateway.start(
            [sys.executable, "-m", "gateway.cli", "--config", str(self.gateway_config), "run"]
        )

    async def wait_redis(self) -> None:
        async def ping() -> bool:
            return bool(await self.client.ping())

        await self.redis_call(ping, "redis PING", READY)

    async def wait_simulator(self) -> None:
        await _until(lambda: _stats(self.control_url) is not None, self.sim, "simulator")

    async def wait_bound(self) -> None:
        def bound() -> bool:
            stats = _stats(self.control_url)
            return bool(stats and sum(stats["binds"].get(SYSTEM_ID, {}).values()))

        await _until(bound, self.gateway, "gateway bind", procs=(self.sim,))

    async def redis_call(
        self, call: Callable[[], Awaitable[T]], what: str, within: float = 60.0
    ) -> T:
        """`call()`, retried while Redis is down or loading (at most `within` s)."""
        deadline = time.monotonic() + within
        while True:
            try:
                return await call()
            except REDIS_DOWN as error:
                if time.monotonic() > deadline:
                    raise RunFailedError(f"{what}: Redis unreachable for {within:g} s") from error
                await asyncio.sleep(0.05)

    # the kills

    async def kill_gateway(self) -> str:
        pending = await self._pending()
        self.gateway.kill()
        window = await self.inflight()
        self.chaos.windows.setdefault("gateway", set()).update(window)
        await asyncio.sleep(self._down(0.0, 1.0))
        self.start_gateway()
        await self.wait_bound()
        return f"{len(window)} in flight, {pending} stream entries pending"

    async def kill_simulator(self) -> str:
        self.sim.kill()
        self.chaos.killed_incarnations.add(self.incarnation)
        window = await self.inflight()
        self.chaos.windows.setdefault("simulator", set()).update(window)
        await asyncio.sleep(self._down(0.5, 2.0))
        self.start_simulator()
        await self.wait_simulator()
        await self.wait_bound()
        return f"{len(window)} in flight (their submit_sm_resp lost)"

    async def kill_redis(self) -> str:
        before = await self.inflight()
        self.redis.kill()
        await asyncio.sleep(self._down(0.5, 2.0))
        self.start_redis()
        await self.wait_redis()
        after = await self.inflight()
        self.chaos.windows.setdefault("redis", set()).update(before | after)
        return f"{len(before | after)} in flight (before the kill or as the AOF kept them)"

    def _down(self, low: float, high: float) -> float:
        """How long a killed process stays down (seeded)."""
        return self._rng.uniform(low, high)

    async def watchdog(self) -> None:
        """Restart a gateway or simulator that exited by itself (counted apart)."""
        while True:
            await asyncio.sleep(0.2)
            async with self.lock:
                if self.sim.exited():
                    self._exited(self.sim)
                    self.chaos.killed_incarnations.add(self.incarnation)
                    self.start_simulator()
                    await self.wait_simulator()
                if self.gateway.exited():
                    self._exited(self.gateway)
                    self.start_gateway()
                    await self.wait_bound()

    def _exited(self, child: Child) -> None:
        self.chaos.exits[child.name] += 1
        code = child.proc.returncode if child.proc is not None else None
        print(f"  {child.name} exited by itself (exit code {code}); restarting", flush=True)

    # reading Redis

    async def _pending(self) -> int:
        async def count() -> int:
            summary: Any = await self.client.xpending(OUTBOUND, GROUP)
            return int(summary["pending"])

        return await self.redis_call(count, "XPENDING")

    async def hash_fields(self, ids: Sequence[str], *names: str) -> dict[str, dict[str, str]]:
        """`names` of each id's `smsgw:msg:<id>` hash ("" when missing)."""
        result: dict[str, dict[str, str]] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]

            async def read(chunk: Sequence[str] = chunk) -> list[Any]:
                pipe = self.client.pipeline(transaction=False)
                for message_id in chunk:
                    _ = pipe.hmget(f"smsgw:msg:{message_id}", list(names))
                return list(await pipe.execute())

            for message_id, values in zip(chunk, await self.redis_call(read, "HMGET"), strict=True):
                result[message_id] = {
                    n: (v.decode() if isinstance(v, bytes) else "")
                    for n, v in zip(names, values, strict=True)
                }
        return result

    async def inflight(self) -> set[str]:
        """Ids enqueued so far whose record says a submit is in flight (`inflight` set)."""
        fields = await self.hash_fields(list(self.enqueued), "inflight")
        return {i for i, f in fields.items() if f["inflight"]}

    async def events(self) -> dict[str, list[Event]]:
        """Every event of the stream, per id, in order."""
        found: dict[str, list[Event]] = {}
        last = "-"
        while True:
            start = last

            async def page(start: str = start) -> list[Any]:
                entries: Any = await self.client.xrange(EVENTS, min=start, max="+", count=5000)
                return list(entries or [])

            entries = await self.redis_call(page, "XRANGE")
            for entry_id, data in entries:
                event = json.loads(data[b"data"])
                error = event.get("error") or {}
                found.setdefault(str(event.get("id")), []).append(
                    Event(str(event["status"]), error.get("code"))
                )
                last = "(" + entry_id.decode()
            if len(entries) < 5000:
                return found


def gateway_config(stack: Stack, receipt_timeout: float | None) -> dict[str, Any]:
    """The gateway's config: fast timers, one carrier (the simulator)."""
    carrier: dict[str, Any] = {
        "name": "sim", "host": "127.0.0.1", "port": stack.ports["smpp"],
        "system_id": SYSTEM_ID, "password": PASSWORD, "window": 50, "binds": 1,
        "response_timeout": 5.0, "enquire_link_interval": 2.0, "reconnect_max": 0.5,
        "registered_delivery": 1,
    }  # fmt: skip
    if receipt_timeout is not None:
        carrier["receipt_timeout"] = receipt_timeout
    return {
        "redis_url": stack.redis_url,
        "consumer": {
            "name": CONSUMER,
            "block_ms": 20,
            "claim_idle_ms": 1000,
            "claim_interval": 0.2,
        },
        "engine": {
            "scheduler_interval": 0.05,
            "shutdown_drain": 2.0,
            "unknown_outcome_hold": stack.opts.hold,
        },
        "ops": {"enabled": False},
        "logging": {"level": "warning", "json": True},
        "compliance": {"config_dir": str(ROOT / "config")},
        # Enough attempts to outlast a simulator outage (no_carrier_available spends them).
        "retry": {"initial_delay": 0.2, "max_delay": 2.0, "max_attempts": 20},
        "carriers": [carrier],
        "routes": [{"name": "default", "targets": [{"carrier": "sim"}]}],
    }


def simulator_config(stack: Stack, incarnation: int) -> dict[str, Any]:
    return {
        "port": stack.ports["smpp"],
        "control_port": stack.ports["control"],
        "accounts": [{"system_id": SYSTEM_ID, "password": PASSWORD}],
        "log_level": "warning",
        "seed": stack.opts.seed + incarnation,
        "message_id_start": incarnation * INCARNATION_SPAN,
        "recent_messages": 0,
        "journal": str(stack.journal),
        "receipts": {"delay": 0.3, "delay_jitter": 0.7, "retry_delay": 1.0, "max_attempts": 50},
        # A carrier's answer takes a while: keeps submits in flight when a kill lands.
        "faults": {"response_delay": stack.opts.response_delay},
    }


def receipt_timeout_setting(opts: Options) -> float | None:
    """The carrier receipt_timeout to use: the option (0 = none), else AUTO when supported.

    Raises:
        RunFailedError: one was asked for and this gateway's config refuses the key.
    """
    wanted = AUTO_RECEIPT_TIMEOUT if opts.receipt_timeout is None else opts.receipt_timeout
    if wanted <= 0:
        return None
    probe = {
        "carriers": [{"name": "sim", "system_id": "x", "receipt_timeout": wanted}],
        "routes": [{"name": "r", "targets": [{"carrier": "sim"}]}],
    }
    try:
        settings_from_mapping(probe)
    except ConfigError as error:
        if opts.receipt_timeout is not None:
            raise RunFailedError(f"--receipt-timeout: this gateway refuses it: {error}") from None
        return None
    return wanted


def _stats(control_url: str) -> dict[str, Any] | None:
    try:
        stats: dict[str, Any] = json.loads(http_get(control_url + "/stats", timeout=1))
    except OSError:
        return None
    return stats


async def _until(
    check: Callable[[], bool], proc: Child, what: str, procs: Sequence[Child] = ()
) -> None:
    deadline = time.monotonic() + READY
    while not await asyncio.to_thread(check):
        for child in (proc, *procs):
            if child.exited():
                raise RunFailedError(f"{what}: {child.name} exited ({child.log_path})")
        if time.monotonic() > deadline:
            raise RunFailedError(f"{what}: not ready within {READY:g} s")
        await asyncio.sleep(0.05)


# --- traffic -------------------------------------------------------------------------------


def make_traffic(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(id, destination digits, XADD data): 85% short GSM-7, 10% long GSM-7, 5% UCS-2."""
    traffic = []
    for n in range(count):
        message_id = f"m{n:06d}"
        pick = rng.random()
        if pick < 0.85:
            body = f"your code is {rng.randrange(10**6):06d}"
        elif pick < 0.95:
            body = LONG
        else:
            body = rng.choice(UCS2) * rng.choice((1, 5))  # some UCS-2 ones in 2 parts
        to = f"+44791{n:07d}"
        data = {"id": message_id, "to": to, "from": "Acme", "text": f"chaos {message_id} {body}",
                "category": "transactional"}  # fmt: skip
        traffic.append((message_id, to[1:], json.dumps(data, ensure_ascii=False)))
    return traffic


async def enqueue(
    stack: Stack, traffic: Sequence[tuple[str, str, str]], rate: float, burst: int
) -> None:
    """XADD `burst` messages every `burst / rate` s (a campaign's shape: the gateway has a
    backlog, and entries pending, part of the time); a batch that fails while Redis is down
    is sent again, whole (counted): an id enqueued twice must still be sent once."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n, start in enumerate(range(0, len(traffic), burst)):
        await asyncio.sleep(max(0.0, started + n * burst / rate - loop.time()))
        batch = traffic[start : start + burst]

        async def xadd(batch: Sequence[tuple[str, str, str]] = batch) -> None:
            pipe = stack.client.pipeline(transaction=False)
            for _, _, data in batch:
                _ = pipe.xadd(OUTBOUND, {"data": data})
            await pipe.execute()

        try:
            await xadd()
        except REDIS_DOWN:
            stack.chaos.enqueue_retries += 1
            await stack.redis_call(xadd, "XADD", within=120)
        stack.enqueued.extend(message_id for message_id, _, _ in batch)


# --- the run ------------------------------------------------------------------------------


async def run_chaos(
    stack: Stack, opts: Options, traffic: Sequence[tuple[str, str, str]], started: float
) -> None:
    """Enqueue everything while the kills happen at seeded random points, one at a time."""
    rng = random.Random(opts.seed)
    kinds = (
        ["gateway"] * opts.gateway_kills
        + ["simulator"] * opts.simulator_kills
        + ["redis"] * opts.redis_kills
    )
    rng.shuffle(kinds)
    span = opts.messages / opts.rate
    times = sorted(rng.uniform(0.1 * span, 0.9 * span) for _ in kinds)
    actions = {
        "gateway": stack.kill_gateway,
        "simulator": stack.kill_simulator,
        "redis": stack.kill_redis,
    }
    feeder = asyncio.create_task(enqueue(stack, traffic, opts.rate, opts.burst))
    try:
        for at, kind in zip(times, kinds, strict=True):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if feeder.done():
                await feeder  # raises what stopped it
            async with stack.lock:
                t0 = time.monotonic()
                stack.chaos.kills[kind] += 1
                detail = await actions[kind]()
                print(
                    f"  {t0 - started:6.1f} s  {kind} SIGKILL #{stack.chaos.kills[kind]}: "
                    f"{detail}; {len(stack.enqueued)} enqueued; "
                    f"back in {time.monotonic() - t0:.1f} s",
                    flush=True,
                )
        await feeder
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder


async def settle(stack: Stack, ids: Sequence[str], quiet: float, within: float) -> str:
    """Wait until every id is final, or nothing changed for `quiet` s while nothing is
    scheduled (the deferred set is empty: retries, holds and entries a dead process had
    leased for DEFERRED_LEASE s all live there), or `within` s passed."""
    deadline = time.monotonic() + within
    last: tuple[int, int] | None = None
    since = time.monotonic()
    while True:
        statuses = await stack.hash_fields(ids, "status")
        open_ids = [i for i, f in statuses.items() if f["status"] not in FINAL]
        if not open_ids:
            return "every id final"

        async def sizes() -> tuple[int, int]:
            return int(await stack.client.xlen(EVENTS)), int(await stack.client.zcard(DEFERRED))

        events, scheduled = await stack.redis_call(sizes, "XLEN")
        if (len(open_ids), events) != last:
            last, since = (len(open_ids), events), time.monotonic()
        elif time.monotonic() - since > quiet and not scheduled:
            return f"nothing changed for {quiet:g} s, nothing scheduled ({len(open_ids)} not final)"
        if time.monotonic() > deadline:
            return (
                f"time limit {within:g} s ({len(open_ids)} not final, {scheduled} scheduled in "
                f"{DEFERRED})"
            )
        await asyncio.sleep(1.0)


async def chaos_main(workdir: Path, opts: Options, receipt_timeout: float | None) -> Outcome:
    started = time.monotonic()
    stack = Stack(workdir, opts, receipt_timeout, random.Random(opts.seed + 1))
    traffic = make_traffic(random.Random(opts.seed + 2), opts.messages)
    watchdog: asyncio.Task[None] | None = None
    try:
        stack.start_redis()
        await stack.wait_redis()
        stack.start_simulator()
        await stack.wait_simulator()
        stack.start_gateway()
        await stack.wait_bound()
        print(f"  processes up in {time.monotonic() - started:.1f} s; enqueueing", flush=True)
        watchdog = asyncio.create_task(stack.watchdog())
        await run_chaos(stack, opts, traffic, time.monotonic())
        quiet = max(15.0, 2 * opts.hold + 5, (receipt_timeout or 0) + 10)
        print(f"  all enqueued at {time.monotonic() - started:.1f} s; waiting for final states",
              flush=True)  # fmt: skip
        settled = await settle(stack, stack.enqueued, quiet, opts.settle)
        async with stack.lock:
            watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        await asyncio.to_thread(stack.gateway.stop, 15.0)
        await asyncio.to_thread(stack.sim.stop, 5.0)
        ids = list(stack.enqueued)
        hashes = await stack.hash_fields(ids, "status", "outcome")
        events = await stack.events()
        await stack.client.aclose()
        journal = map_journal(read_journal(stack.journal), {d: i for i, d, _ in traffic})
        c = stack.chaos
        kills = Kills(
            gateway=c.kills["gateway"], simulator=c.kills["simulator"], redis=c.kills["redis"],
            gateway_exits=c.exits["gateway"], simulator_exits=c.exits["simulator"],
            windows={k: frozenset(v) for k, v in c.windows.items()},
            killed_incarnations=frozenset(c.killed_incarnations),
        )  # fmt: skip
        return Outcome(
            ids=ids, journal=journal, events=events, hashes=hashes, kills=kills,
            receipt_timeout=receipt_timeout, wall_seconds=time.monotonic() - started,
            enqueue_retries=c.enqueue_retries, settled=settled,
        )  # fmt: skip
    finally:
        if watchdog is not None:
            watchdog.cancel()
        for child in (stack.gateway, stack.sim, stack.redis):
            child.close()


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--gateway-kills", type=int, default=3)
    p.add_argument("--simulator-kills", type=int, default=2)
    p.add_argument("--redis-kills", type=int, default=2)
    p.add_argument("--rate", type=float, default=200.0, help="messages XADDed per second")
    p.add_argument(
        "--burst", type=int, default=400, help="messages per XADD burst (1 = evenly paced)"
    )
    p.add_argument("--hold", type=float, default=5.0, help="engine.unknown_outcome_hold, s")
    p.add_argument(
        "--response-delay", type=float, default=0.05, help="simulator's submit_sm_resp delay, s"
    )
    p.add_argument(
        "--receipt-timeout", type=float, default=None,
        help=f"carrier receipt_timeout, s (0 = none; default {AUTO_RECEIPT_TIMEOUT:g} when the "
        "gateway supports the key, none otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--settle", type=float, default=150.0,
        help="max s to wait for final states (over the engine's 60 s deferred lease)",
    )  # fmt: skip
    p.add_argument("--fsync", choices=("always", "everysec"), default="always",
                   help="redis appendfsync (see above)")  # fmt: skip
    p.add_argument("--keep-logs", type=Path, help="keep configs, logs, journal and AOF here")
    ns = p.parse_args(argv)
    if ns.messages < 1 or ns.messages >= 10**7 or ns.rate <= 0 or ns.burst < 1:
        p.error("--messages must be 1..9999999, --rate positive, --burst at least 1")
    return Options(**vars(ns))


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.keep_logs is not None:
        opts.keep_logs.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir=opts.keep_logs))
    else:
        workdir = Path(tempfile.mkdtemp(prefix="smsgw-chaos-"))
    print(
        f"chaos: {opts.messages:,} messages at {opts.rate:g}/s in bursts of {opts.burst}, "
        f"seed {opts.seed}; kills: "
        f"gateway {opts.gateway_kills}, simulator {opts.simulator_kills}, redis "
        f"{opts.redis_kills}; hold {opts.hold:g} s; appendfsync {opts.fsync}; in {workdir}",
        flush=True,
    )
    try:
        receipt_timeout = receipt_timeout_setting(opts)
        outcome = uvloop.run(chaos_main(workdir, opts, receipt_timeout))
    except (RunFailedError, redis.exceptions.RedisError, OSError) as error:
        print(f"RUN FAILED: {error}; logs kept in {workdir}")
        return 2
    verdict = judge(outcome)
    print_verdict(verdict)
    if opts.keep_logs is not None:
        print(f"configs, logs, journal and AOF kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if verdict.failures else 0


if __name__ == "__main__":
    sys.exit(main())
