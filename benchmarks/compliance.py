"""Benchmark: compliance evaluations per second and p99 added latency at 5,000 messages/s.

Starts its own redis-server on a free loopback port (stopped in `finally`), builds the policy
from config/ with the Redis-backed store (opt-outs, suppression, caps: one Lua round trip per
evaluation) and measures:

1. throughput: evaluations per second with 64 evaluations in flight;
2. latency: a paced, bounded run at an offered 5,000 messages/s for 10 s; the added latency of
   a message is the time `CompliancePolicy.evaluate` takes, from its release by the pacer to the
   verdict (the pacer's own lag is printed separately). Bar: p99 under 1 ms.

Fixed seed; prints msgs/s and p50/p99. Usage: python -m benchmarks.compliance [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
import uvloop

# This script is named like the `compliance` package: drop its own directory from sys.path so
# the imports below find the package rather than this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from compliance.policy import CompliancePolicy  # noqa: E402 - after the sys.path fix above
from compliance.redis_keys import ComplianceKeys  # noqa: E402
from compliance.redis_stores import RedisComplianceStore  # noqa: E402
from compliance.settings import load_compliance_config  # noqa: E402
from compliance.verdict import Category, ComplianceRequest, Outcome  # noqa: E402
from gateway.cli.child_process import RedisNotReadyError, free_port, redis_server_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 20260113
RECIPIENTS = 20_000
BASE_NOW = datetime(2026, 1, 13, 10, tzinfo=UTC)  # a Tuesday, inside marketing windows
BAR_P99_MS = 1.0
SENDERS = {"33": "MYBRAND", "49": "MYBRAND", "44": "MYBRAND", "1": "+14155550100"}


@contextmanager
def redis_server() -> Iterator[int]:
    """A private redis-server on a free loopback port, stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (make redis)")
    port = free_port()
    try:
        with redis_server_process(port, binary=binary, ready_timeout=10.0, stop_timeout=5.0):
            yield port
    except RedisNotReadyError as error:  # raised while starting, never by the benchmark
        sys.exit(str(error))


def make_numbers(rng: random.Random) -> list[str]:
    """Valid mobile numbers in FR, DE, GB and US (deterministic)."""
    makers = (
        lambda: f"+336{rng.randint(10_000_000, 99_999_999)}",
        lambda: f"+49151{rng.randint(10_000_000, 99_999_999)}",
        lambda: f"+447911{rng.randint(100_000, 999_999)}",
        lambda: f"+1415555{rng.randint(1000, 9999)}",
    )
    return [makers[i % 4]() for i in range(RECIPIENTS)]


def make_requests(rng: random.Random, numbers: list[str], count: int) -> list[ComplianceRequest]:
    categories = [Category.transactional] * 6 + [Category.otp] * 2 + [Category.marketing] * 2
    out = []
    for i in range(count):
        to = rng.choice(numbers)
        code = next(c for c in ("33", "49", "44", "1") if to[1:].startswith(c))
        category = rng.choice(categories)
        text = "Soldes -20% STOP au 36180" if category is Category.marketing else "Code 123456"
        out.append(
            ComplianceRequest(
                to=to,
                sender=SENDERS[code],
                category=category,
                country_hint=None,
                text=text,
                parts=1,
                message_id=f"m{i}",
            )
        )
    return out


async def seed_state(policy: CompliancePolicy, numbers: list[str], rng: random.Random) -> None:
    """5% of recipients opted out (half global), 2% recently converted."""
    for to in rng.sample(numbers, RECIPIENTS // 20):
        await policy.handle_mo(to, "MYBRAND", rng.choice(["STOP", "STOPALL"]), BASE_NOW)
    for to in rng.sample(numbers, RECIPIENTS // 50):
        await policy.record_conversion(to, BASE_NOW)


async def throughput(policy: CompliancePolicy, requests: list[ComplianceRequest]) -> float:
    queue = iter(requests)

    async def worker() -> None:
        for req in queue:
            await policy.evaluate(req, BASE_NOW)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(64)))
    return len(requests) / (time.perf_counter() - started)


async def paced(
    policy: CompliancePolicy, requests: list[ComplianceRequest], rate: float
) -> tuple[list[float], list[float], Counter[str]]:
    """Release requests at `rate`/s; return evaluate latencies, pacer lags (s) and outcomes."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    lags: list[float] = []
    outcomes: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()

    async def one(req: ComplianceRequest, due: float) -> None:
        started = time.perf_counter()
        lags.append(loop.time() - due)
        verdict = await policy.evaluate(req, BASE_NOW + timedelta(seconds=loop.time() - t0))
        latencies.append(time.perf_counter() - started)
        outcomes[f"{verdict.outcome}/{verdict.reason}"] += 1

    t0 = loop.time()
    sent = 0
    while sent < len(requests):
        due_count = min(len(requests), int((loop.time() - t0) * rate) + 1)
        for i in range(sent, due_count):
            task = loop.create_task(one(requests[i], t0 + i / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent = due_count
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    return latencies, lags, outcomes


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


async def run(seconds: float, rate: float) -> int:
    rng = random.Random(SEED)
    config = load_compliance_config(ROOT / "config")
    numbers = make_numbers(rng)
    with redis_server() as port:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            store = RedisComplianceStore(client, ComplianceKeys(config.settings.redis_prefix))
            policy = CompliancePolicy(config, store)
            await seed_state(policy, numbers, rng)
            warm = make_requests(rng, numbers, 5_000)
            await throughput(policy, warm)  # warm the number cache and the script cache
            eps = await throughput(policy, make_requests(rng, numbers, 30_000))
            await client.flushall()
            await seed_state(policy, numbers, rng)
            offered = make_requests(rng, numbers, int(seconds * rate))
            latencies, lags, outcomes = await paced(policy, offered, rate)
        finally:
            await client.aclose()
    return report(eps, latencies, lags, outcomes, seconds, rate, policy)


def report(
    eps: float,
    latencies: list[float],
    lags: list[float],
    outcomes: Counter[str],
    seconds: float,
    rate: float,
    policy: CompliancePolicy,
) -> int:
    ms = [x * 1000 for x in latencies]
    lag_ms = [x * 1000 for x in lags]
    p99 = percentile(ms, 99)
    info = policy.numbers.cache_info()
    print(f"compliance throughput (Redis caps + opt-outs, 64 in flight): {eps:,.0f} evaluations/s")
    print(f"paced run: {len(ms):,} messages offered at {rate:,.0f}/s for {seconds:.0f} s")
    print(
        f"  added latency (evaluate): p50 {percentile(ms, 50):.3f} ms  p99 {p99:.3f} ms  "
        f"p99.9 {percentile(ms, 99.9):.3f} ms  max {max(ms):.3f} ms"
    )
    lag_p50, lag_p99 = percentile(lag_ms, 50), percentile(lag_ms, 99)
    print(f"  pacer lag (not compliance): p50 {lag_p50:.3f} ms  p99 {lag_p99:.3f} ms")
    print(f"  number cache: {info.hits:,} hits, {info.misses:,} misses")
    allowed = sum(n for k, n in outcomes.items() if k.startswith(Outcome.allow))
    print(
        f"  outcomes: {allowed:,} allowed; "
        + ", ".join(f"{k} {n:,}" for k, n in outcomes.most_common() if not k.startswith("allow"))
    )
    verdict = "PASS" if p99 < BAR_P99_MS else "FAIL"
    print(f"bar: p99 added latency < {BAR_P99_MS} ms at {rate:,.0f} msgs/s: {verdict}")
    return 0 if verdict == "PASS" else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5_000.0)
    args = parser.parse_args()
    sys.exit(uvloop.run(run(args.seconds, args.rate)))


if __name__ == "__main__":
    main()
