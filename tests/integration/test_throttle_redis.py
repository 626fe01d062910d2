"""The shared Redis token bucket against a real redis-server: rate, burst, batching, errors;
and a carrier's rate on it (gateway.carrier.pool.CarrierRate), configured or not."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.carrier.bind import Bind, BindSettings
from gateway.carrier.pool import CarrierRate, ShardRate
from routing.adaptive import AdaptiveRate
from routing.errors import RoutingError, ThrottleUnavailableError
from routing.throttle import RedisTokenBucket
from tests.conftest import RedisServer, free_port
from tests.integration.grant_log import GrantLog, drain_until


async def _evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {})
    return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0


async def _wait_for_evalsha_calls(client: aioredis.Redis, calls: int) -> None:
    """Return once the server has run `calls` script calls (e.g. a waiter's refused call)."""
    async with asyncio.timeout(5):
        while True:
            if await _evalsha_calls(client) >= calls:
                return
            await asyncio.sleep(0.005)


async def test_two_instances_never_exceed_the_rate_in_any_second(
    redis_client: aioredis.Redis, redis_server: RedisServer
) -> None:
    """Two buckets on one key (two smsgw instances, two connections) share one TPS."""
    rate, burst, tokens = 200, 20, 520
    other = aioredis.Redis.from_url(redis_server.url)
    try:
        first = RedisTokenBucket(redis_client, "smsgw:test:tps", rate=rate, burst=burst)
        second = RedisTokenBucket(other, "smsgw:test:tps", rate=rate, burst=burst)
        await redis_client.config_resetstat()
        async with GrantLog(redis_client, "smsgw:test:tps") as log:
            got = await drain_until([first, second], tokens, callers=20)
        calls = await _evalsha_calls(redis_client)
        await first.aclose()
        await second.aclose()
    finally:
        await other.aclose()

    assert log.complete()
    assert log.most_in_window(1_000_000) <= rate
    assert log.most_in_window(1_000_000) >= rate * 0.75  # and the limit is actually approached
    assert min(got) > sum(got) * 0.2  # both instances get a share
    # GCRA burst limit: `burst` tokens at one instant, then one per 1/rate s (5 ms here)
    assert log.most_in_window(5_000) <= burst + 1
    # group commit: at the limit, one script call carries several tokens
    assert 0 < calls < log.tokens() / 2


async def test_single_caller_is_not_delayed_below_the_rate(redis_client: aioredis.Redis) -> None:
    """Below the rate every acquire is granted by its first script call: none is refused and
    retried after a wait."""
    bucket = RedisTokenBucket(redis_client, "smsgw:test:idle", rate=1000, burst=10)
    await redis_client.config_resetstat()
    for _ in range(10):
        await bucket.acquire()
    assert await _evalsha_calls(redis_client) == 10
    await bucket.aclose()


async def test_acquire_n_is_all_or_nothing_and_bounded(redis_client: aioredis.Redis) -> None:
    bucket = RedisTokenBucket(redis_client, "smsgw:test:n", rate=5, burst=10)
    assert bucket.max_acquire == 5
    with pytest.raises(ValueError, match=r"1\.\.5"):
        await bucket.acquire(6)
    with pytest.raises(ValueError, match=r"1\.\.5"):
        await bucket.acquire(0)
    await bucket.acquire(5)
    state = await redis_client.hgetall("smsgw:test:n")
    assert int(state[b"used"]) == 5
    await bucket.aclose()


async def test_try_acquire_is_one_call_all_or_nothing_and_never_waits(
    redis_client: aioredis.Redis,
) -> None:
    """The grant a cluster's admit call takes before it (gateway/engine/admission.py)."""
    bucket = RedisTokenBucket(redis_client, "smsgw:test:try", rate=3, burst=3)
    with pytest.raises(ValueError, match=r"1\.\.3"):
        await bucket.try_acquire(4)
    warm = RedisTokenBucket(redis_client, "smsgw:test:warm", rate=3, burst=3)
    assert await warm.try_acquire(1) is True  # the script loaded: one EVALSHA a call below
    await redis_client.config_resetstat()
    assert await bucket.try_acquire(2) is True
    assert await bucket.try_acquire(2) is False  # 1 token left in this second: none taken
    assert await bucket.try_acquire(1) is True
    assert await _evalsha_calls(redis_client) == 3
    assert int(await redis_client.hget("smsgw:test:try", "used") or 0) == 3
    assert bucket.idle  # no waiter queued, no pump started
    await bucket.aclose()


async def test_cancelled_waiter_frees_its_place(redis_client: aioredis.Redis) -> None:
    bucket = RedisTokenBucket(redis_client, "smsgw:test:cancel", rate=2, burst=1)
    await redis_client.config_resetstat()
    await bucket.acquire()
    waiting = asyncio.create_task(bucket.acquire())
    await _wait_for_evalsha_calls(redis_client, 2)  # the waiter was refused: it is queued
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(bucket.acquire(), timeout=3.0)  # still served after the cancel
    await bucket.aclose()


async def test_adaptive_cut_slows_the_shared_bucket(redis_client: aioredis.Redis) -> None:
    adaptive = AdaptiveRate(max_rate=40, min_rate=5, increase=1, cooldown=0)
    bucket = RedisTokenBucket(redis_client, "smsgw:test:aimd", rate=40, burst=4, adaptive=adaptive)
    assert bucket.on_throttled() is True
    assert bucket.on_throttled() is True
    assert bucket.on_throttled() is True  # 40 -> 20 -> 10 -> 5
    assert bucket.effective_rate() == 5
    async with GrantLog(redis_client, "smsgw:test:aimd") as log:
        await drain_until([bucket], 8, callers=5)  # 8 tokens: 40 TPS would grant them at once
    await bucket.aclose()
    assert log.complete()
    assert log.most_in_window(1_000_000) <= 6  # 5 TPS plus one second of recovery


@pytest.mark.parametrize("way", ["acquire", "try_acquire"])
async def test_unreachable_redis_raises_throttle_unavailable(way: str) -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    bucket = RedisTokenBucket(client, "smsgw:test:down", rate=10, burst=2)
    take = bucket.acquire() if way == "acquire" else bucket.try_acquire(1)
    try:
        with pytest.raises(ThrottleUnavailableError, match="redis unavailable") as info:
            await asyncio.wait_for(take, timeout=5.0)
        assert isinstance(info.value, RoutingError)
        assert info.value.__cause__ is not None
    finally:
        await bucket.aclose()
        await client.aclose()


async def test_close_fails_waiters(redis_client: aioredis.Redis) -> None:
    bucket = RedisTokenBucket(redis_client, "smsgw:test:close", rate=1, burst=1)
    await redis_client.config_resetstat()
    await bucket.acquire()
    waiting = asyncio.create_task(bucket.acquire())
    await _wait_for_evalsha_calls(redis_client, 2)  # the waiter was refused: it is queued
    await bucket.aclose()
    with pytest.raises(ThrottleUnavailableError, match="closed"):
        await waiting


async def test_state_keys_expire_when_idle(redis_client: aioredis.Redis) -> None:
    bucket = RedisTokenBucket(redis_client, "smsgw:test:ttl", rate=100, burst=10)
    await bucket.acquire()
    assert 0 < await redis_client.pttl("smsgw:test:ttl") <= 3000
    assert 0 < await redis_client.pttl("smsgw:test:ttl:window") <= 3000
    await bucket.aclose()


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (10, 0)])
async def test_bad_rate_or_burst_is_rejected(
    redis_client: aioredis.Redis, rate: float, burst: int
) -> None:
    with pytest.raises(RoutingError):
        RedisTokenBucket(redis_client, "k", rate=rate, burst=burst)


# --- a carrier's rate ----------------------------------------------------------------------------


def _bind() -> Bind:
    """A bind that never connects: only its accepted-submits counter is read."""
    return Bind(BindSettings(host="127.0.0.1", port=1, system_id="smsgw", password="secret"))


async def _used(client: aioredis.Redis, key: str) -> int:
    return int((await client.hgetall(key)).get(b"used", 0))


async def test_carrier_without_tps_is_unlimited_until_it_throttles(
    redis_client: aioredis.Redis,
) -> None:
    key = "smsgw:test:carrier-unlimited"
    bind = _bind()
    rate = CarrierRate(redis_client, key, 0)
    rate.attach([bind])
    await asyncio.wait_for(rate.acquire(1000), timeout=1.0)  # no Redis call: unlimited
    # read into locals: mypy would keep rate.limited and rate.paced narrowed past throttled()
    limited, paced = rate.limited, rate.paced
    assert not limited
    assert not paced
    assert rate.retry_pause(0) == 0.05
    assert rate.retry_pause(9) == 1.0
    assert not await redis_client.exists(key)

    bind.submits_accepted = 20  # the carrier accepted 20 since the meter's first sample
    rate.throttled()
    assert rate.limited
    assert rate.paced
    assert rate.retry_pause(0) == 0.0  # throttled submits wait on the bucket, not a timer
    episode = rate._episode
    assert episode is not None
    assert episode.effective_rate() == pytest.approx(10)  # half the 20/s it accepted

    await rate.acquire(3)  # tokens for three submits...
    assert await _used(redis_client, key) == 3
    for _ in range(3):  # ...that pass the bind's gate without asking again
        await asyncio.wait_for(rate.admit(), timeout=1.0)
    assert await _used(redis_client, key) == 3
    await rate.admit()  # a submit that passed `acquire` while unlimited takes its own token
    assert await _used(redis_client, key) == 4

    rate.throttled()  # within the cooldown: the same congestion event
    assert episode.effective_rate() == pytest.approx(10)
    await rate.aclose()


async def test_carrier_without_tps_is_unlimited_again_once_recovered(
    redis_client: aioredis.Redis,
) -> None:
    rate = CarrierRate(redis_client, "smsgw:test:carrier-recovered", 0)
    rate.attach([_bind()])
    rate.throttled()
    # read into locals: mypy would keep rate.paced narrowed past acquire() and throttled()
    paced_when_throttled = rate.paced
    assert paced_when_throttled
    # the episode as it is 15 s later with no throttle answer since (routing.adaptive tests)
    now = asyncio.get_running_loop().time()
    rate._adaptive = AdaptiveRate.after_throttle(1.0, now - 15.0)
    await asyncio.wait_for(rate.acquire(1000), timeout=1.0)
    assert not rate.limited
    paced_once_recovered = rate.paced
    assert not paced_once_recovered
    rate.throttled()  # a new episode, from the rate measured since
    assert rate.paced
    await rate.aclose()


async def test_carrier_with_tps_keeps_its_bucket_and_never_gates(
    redis_client: aioredis.Redis,
) -> None:
    key = "smsgw:test:carrier-tps"
    rate = CarrierRate(redis_client, key, 40)
    rate.attach([_bind()])
    assert rate.limited
    assert not rate.paced
    bucket = rate.bucket
    assert bucket is not None
    await rate.acquire(7)  # chunks of max_acquire (burst 4)
    assert await _used(redis_client, key) == 7
    rate.throttled()
    assert rate.bucket is bucket
    assert not rate.paced
    assert bucket.effective_rate() == pytest.approx(20)  # the configured rate, cut
    assert rate.retry_pause(0) == 0.0
    await rate.aclose()


async def test_on_a_cluster_a_carriers_tps_is_split_with_each_shards_own_bucket(
    redis_client: aioredis.Redis,
) -> None:
    """Half of the tps stays in the carrier's bucket (the usual way, what a busy shard
    borrows from); each of the 6 shards' buckets holds a sixth of the other half, offered to
    the admit call even while callers wait for the carrier's bucket (they are not its
    waiters). An adaptive cut lowers both. A carrier whose shares would be below
    MIN_SHARD_TPS is not split: its bucket keeps all of its tps."""
    rate = CarrierRate(redis_client, "smsgw:test:carrier-split", 600, shards=6)
    rate.attach([_bind()])
    bucket = rate.bucket
    assert bucket is not None
    assert bucket.effective_rate() == pytest.approx(300)
    pacing = rate.pacing()
    assert pacing is not None
    assert pacing.bucket is bucket
    assert pacing.shard == ShardRate(50.0, 12, 12)  # ~250 ms of tokens a grant
    assert pacing.cap == 12
    assert sum([bucket.effective_rate()] + [pacing.shard.rate] * 6) == pytest.approx(600)
    waiting = asyncio.create_task(rate.acquire(bucket.max_acquire))
    await asyncio.sleep(0)
    assert not bucket.idle
    still = rate.pacing()
    assert still is not None
    assert still.shard is not None
    rate.throttled()
    cut = rate.pacing()
    assert cut is not None
    assert cut.shard is not None
    assert cut.shard.rate == pytest.approx(25.0)  # halved with the carrier's bucket
    await waiting
    await rate.aclose()

    small = CarrierRate(redis_client, "smsgw:test:carrier-small", 200, shards=6)  # 16.7 each
    small_pacing = small.pacing()
    assert small_pacing is not None
    assert small_pacing.shard is None  # the carrier's bucket, granted before the admit call
    assert small.bucket is not None
    assert small.bucket.effective_rate() == pytest.approx(200)  # all of it
    await small.aclose()


def test_a_shard_bucket_below_one_tps_is_none() -> None:
    """Only an adaptive cut brings a split carrier's shares that low: then no shard bucket."""
    assert ShardRate.of(0.99) is None
    assert ShardRate.of(1.0) == ShardRate(1.0, 1, 1)
    assert ShardRate.of(25.0) == ShardRate(25.0, 6, 6)
    assert ShardRate.of(8333.3) == ShardRate(8333.3, 2083, 2083)
