"""The Redis stores that run on Redis Cluster, against a real 3-master cluster (redis_cluster):
the compliance store gives the same answers as on one redis-server, and the carrier token bucket
keeps its rate, also across a master's failover.

The client is redis-py's `redis.asyncio.cluster.RedisCluster`: it routes by slot and follows
MOVED/ASK itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from compliance.frequency_cap import CapRule
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.store import RecipientQuery, RecipientState
from compliance.verdict import Category, OptOutScope
from gateway.config import StreamsConfig
from gateway.store.keys import Keys
from routing.errors import RoutingError
from routing.throttle import RedisTokenBucket
from tests.cluster_fixture import LocalRedisCluster
from tests.integration.grant_log import GrantLog, drain_until

KEYS = ComplianceKeys("smsgw:")
THROTTLE = Keys(prefix="smsgw:", streams=StreamsConfig()).throttle
M, T = Category.marketing, Category.transactional
DAILY = CapRule(name="daily", limit=2, window_seconds=86400, categories=frozenset({M}))
# Recipients whose keys hash to different slots (checked in the test that relies on it).
MSISDNS = [f"336123456{n:02d}" for n in range(40)]

AnyRedis = aioredis.Redis | RedisCluster


@pytest.fixture(params=["single", "cluster"])
def client(request: pytest.FixtureRequest) -> AnyRedis:
    """A flushed client of one redis-server, then of the cluster."""
    name = "redis_client" if request.param == "single" else "redis_cluster_client"
    found: AnyRedis = request.getfixturevalue(name)
    return found


def query(msisdn: str, now: datetime, **changes: object) -> RecipientQuery:
    base = RecipientQuery(
        msisdn=msisdn,
        sender="MYBRAND",
        category=M,
        now=now,
        check_opt_out=True,
        check_suppression=True,
        run_caps=True,
        consume=True,
        member="m1",
        caps=(DAILY,),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def slot(msisdn: str) -> int:
    return key_slot(KEYS.opt_out(msisdn).encode())


# --- the compliance store ---------------------------------------------------------------------


async def test_opt_outs_on_either_backend(client: AnyRedis) -> None:
    store = RedisComplianceStore(client, KEYS)
    now = datetime.now(UTC)
    first, second = MSISDNS[0], MSISDNS[1]
    await store.add_opt_out(first, "MYBRAND", now)
    await store.add_opt_out(second, None, now)
    assert await store.opted_out(first, "MYBRAND") is OptOutScope.sender
    assert await store.opted_out(first, "OTHER") is None
    assert await store.opted_out(second, "ANY") is OptOutScope.global_
    await store.remove_opt_out(second, "MYBRAND")  # opted back in to one sender
    assert await store.opted_out(second, "MYBRAND") is None
    assert await store.opted_out(second, "ANY") is OptOutScope.global_
    await store.remove_opt_out(first, None)
    assert await store.opted_out(first, "MYBRAND") is None


async def test_suppression_on_either_backend(client: AnyRedis) -> None:
    store = RedisComplianceStore(client, KEYS)
    now = datetime.now(UTC)
    later, sooner = now + timedelta(hours=2), now + timedelta(hours=1)
    await store.suppress(MSISDNS[2], later)
    await store.suppress(MSISDNS[2], sooner)  # the later deadline wins
    until = await store.suppressed_until(MSISDNS[2], now)
    assert until is not None
    assert abs(until - later) < timedelta(milliseconds=1)
    assert await store.suppressed_until(MSISDNS[3], now) is None
    state = await store.check_recipient(query(MSISDNS[2], now))
    assert state.suppressed_until == until


async def test_caps_check_and_record_on_either_backend(client: AnyRedis) -> None:
    store = RedisComplianceStore(client, KEYS)
    now = datetime.now(UTC)
    msisdn = MSISDNS[4]
    for n in range(2):
        check = await store.check_and_record(msisdn, M, f"m{n}", (DAILY,), now, consume=True)
        assert check.exceeded is None
    check = await store.check_and_record(msisdn, M, "m2", (DAILY,), now, consume=True)
    assert check.exceeded == 0
    assert check.retry_at_ms > 0
    transactional = await store.check_and_record(msisdn, T, "t1", (DAILY,), now, consume=True)
    assert transactional.exceeded is None  # the cap covers marketing only


async def test_a_batch_over_many_slots_answers_in_the_order_asked(client: AnyRedis) -> None:
    """check_recipients with recipients on every master: each answer is its own query's, and
    one recipient's queries run in order (the third of a limit-2 cap is refused)."""
    store = RedisComplianceStore(client, KEYS)
    now = datetime.now(UTC)
    assert len({slot(m) for m in MSISDNS}) == len(MSISDNS)  # 40 slots, so all 3 masters
    await store.add_opt_out(MSISDNS[5], None, now)
    await store.suppress(MSISDNS[6], now + timedelta(hours=1))
    batch = [query(m, now, member=f"a{i}") for i, m in enumerate(MSISDNS)]
    batch += [query(MSISDNS[7], now, member=f"again{n}") for n in range(2)]  # 3 of a limit of 2

    states = await store.check_recipients(batch)

    assert states[5].opted_out is OptOutScope.global_
    assert states[6].suppressed_until is not None
    assert states[7].caps.exceeded is None
    assert [s.caps.exceeded for s in states[-2:]] == [None, 0]
    others = [s for i, s in enumerate(states[:40]) if i not in (5, 6)]
    assert others == [RecipientState(None, None, others[0].caps)] * len(others)
    assert all(s.caps.exceeded is None for s in others)


async def test_concurrent_single_checks_are_grouped_and_answered_each(client: AnyRedis) -> None:
    """check_recipient calls from one loop iteration share a group commit (one batch)."""
    store = RedisComplianceStore(client, KEYS)
    now = datetime.now(UTC)
    await store.add_opt_out(MSISDNS[8], "MYBRAND", now)
    states = await asyncio.gather(*(store.check_recipient(query(m, now)) for m in MSISDNS[8:20]))
    assert states[0].opted_out is OptOutScope.sender
    assert all(s.opted_out is None for s in states[1:])


async def test_single_redis_runs_a_batch_in_one_script_call(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisComplianceStore(redis_client, KEYS)
    await redis_client.config_resetstat()
    await store.check_recipients([query(m, datetime.now(UTC)) for m in MSISDNS])
    stats = await redis_client.info("commandstats")
    calls = sum(
        int(stats[name]["calls"]) for name in ("cmdstat_evalsha", "cmdstat_eval") if name in stats
    )
    assert calls == 1


async def test_cluster_gives_the_same_answers_as_one_redis(
    redis_client: aioredis.Redis, redis_cluster_client: RedisCluster
) -> None:
    """A seeded mix of opt-outs, suppressions and capped sends, in batches with repeated
    recipients: the two backends answer every query alike."""
    now = datetime.now(UTC)
    answers = []
    for backend in (redis_client, redis_cluster_client):
        rng = random.Random(15)
        store = RedisComplianceStore(backend, KEYS)
        for msisdn in rng.sample(MSISDNS, 8):
            await store.add_opt_out(msisdn, rng.choice([None, "MYBRAND", "OTHER"]), now)
        for msisdn in rng.sample(MSISDNS, 8):
            await store.suppress(msisdn, now + timedelta(minutes=rng.randint(1, 60)))
        states: list[RecipientState] = []
        for batch in range(5):
            picks = [rng.choice(MSISDNS[:15]) for _ in range(30)]
            queries = [
                query(m, now, member=f"b{batch}q{i}", category=rng.choice([M, T]))
                for i, m in enumerate(picks)
            ]
            states += await store.check_recipients(queries)
        answers.append(states)
    single, cluster = answers
    assert cluster == single
    assert any(s.caps.exceeded is not None for s in single)  # the mix does reach the caps


# --- the carrier token bucket -----------------------------------------------------------------


async def test_two_instances_share_the_rate_on_the_cluster(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """Two buckets on one carrier key, through two cluster clients: at most `rate` grants in
    any second of Redis time, and both instances get a share."""
    rate, burst, tokens = 200, 20, 520
    key = THROTTLE("acme")
    other = RedisCluster.from_url(redis_cluster.url)
    try:
        first = RedisTokenBucket(redis_cluster_client, key, rate=rate, burst=burst)
        second = RedisTokenBucket(other, key, rate=rate, burst=burst)
        async with GrantLog(redis_cluster_client, key) as log:
            got = await drain_until([first, second], tokens, callers=20)
        await first.aclose()
        await second.aclose()
    finally:
        await other.aclose()

    assert log.complete()
    assert log.most_in_window(1_000_000) <= rate
    assert log.most_in_window(1_000_000) >= rate * 0.75
    assert min(got) > sum(got) * 0.2, f"grants per instance: {got}"
    assert log.most_in_window(5_000) <= burst + 1


async def test_bucket_keeps_working_after_its_master_fails_over(
    redis_cluster: LocalRedisCluster,
) -> None:
    """Kill the master of the bucket's slot; once its replica is promoted, the same client and
    bucket grant again at once (redis-py follows the new slot map) and keep the rate.

    What a failover may lose: a replica copies its master asynchronously, so grants of the
    last moments before the kill may be missing on the promoted replica. They cannot add to
    a window after the failover: the slot has no master for at least the node timeout (2 s),
    longer than the bucket's 1-second window, so no grant is made in between. Only that is
    asserted: the rate holds for grants after the failover.
    """
    rate, burst = 100, 10
    key = THROTTLE("failover")
    bucket_slot = key_slot(key.encode())
    old_master = redis_cluster.master_of_slot(bucket_slot)
    client = RedisCluster.from_url(redis_cluster.url)
    bucket = RedisTokenBucket(client, key, rate=rate, burst=burst)
    try:
        await drain_until([bucket], 30, callers=5)
        await asyncio.to_thread(redis_cluster.kill, old_master)
        during = asyncio.create_task(bucket.acquire())  # while the slot has no master
        new_master = await asyncio.to_thread(
            redis_cluster.wait_for_new_master, bucket_slot, old_master
        )
        assert new_master != old_master
        # redis-py retries through the outage (with backoff) and may outlast it or give up:
        # the caller then waits, or gets an error it already handles; both are fine here
        with contextlib.suppress(RoutingError):
            await asyncio.wait_for(during, timeout=15)
        await asyncio.wait_for(bucket.acquire(), timeout=10)  # the new master answers
        async with GrantLog(client, key) as log:
            await drain_until([bucket], 150, callers=10)
        seen = sorted(log.grants)  # the state hash may have expired meanwhile: seq restarts
        assert seen == list(range(seen[0], seen[0] + len(seen)))  # no grant missed
        assert log.most_in_window(1_000_000) <= rate
    finally:
        await bucket.aclose()
        await client.aclose()
        await asyncio.to_thread(redis_cluster.restart, old_master)
        await asyncio.to_thread(redis_cluster.wait_until_healthy)
