"""The Redis compliance store against a real redis-server: opt-outs, suppression, atomic caps."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from compliance.errors import ComplianceStoreError
from compliance.frequency_cap import CapAction, CapEntry, CapRule, check_caps
from compliance.policy import CompliancePolicy
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.store import RecipientQuery, to_ms
from compliance.verdict import Category, ComplianceRequest, OptOutScope, Outcome, Reason
from tests.conftest import RedisServer, free_port

CONFIG = load_compliance_config(Path(__file__).resolve().parents[2] / "config")
KEYS = ComplianceKeys("smsgw:")
MSISDN = "33612345678"
NOW = datetime(2026, 1, 13, 9, tzinfo=UTC)  # Tuesday 10:00 in Paris
M, T = Category.marketing, Category.transactional
WEEKLY = CapRule(name="weekly", limit=3, window_seconds=7 * 86400, categories=frozenset({M}))


@pytest.fixture
def store(redis_client: aioredis.Redis) -> RedisComplianceStore:
    return RedisComplianceStore(redis_client, KEYS)


def query(**changes: object) -> RecipientQuery:
    base = RecipientQuery(
        msisdn=MSISDN,
        sender="MYBRAND",
        category=M,
        now=NOW,
        check_opt_out=True,
        check_suppression=True,
        run_caps=True,
        consume=True,
        member="m1",
        caps=(WEEKLY,),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_per_sender_opt_out_blocks_only_that_sender(store: RedisComplianceStore) -> None:
    await store.add_opt_out(MSISDN, "MYBRAND", NOW)
    assert await store.opted_out(MSISDN, "MYBRAND") is OptOutScope.sender
    assert await store.opted_out(MSISDN, "OTHER") is None
    assert (await store.check_recipient(query())).opted_out is OptOutScope.sender
    assert (await store.check_recipient(query(sender="OTHER"))).opted_out is None


async def test_global_opt_out_and_per_sender_opt_in(store: RedisComplianceStore) -> None:
    await store.add_opt_out(MSISDN, "MYBRAND", NOW)
    await store.add_opt_out(MSISDN, None, NOW)
    assert await store.opted_out(MSISDN, "ANY") is OptOutScope.global_
    await store.remove_opt_out(MSISDN, "MYBRAND")
    assert await store.opted_out(MSISDN, "MYBRAND") is None
    assert await store.opted_out(MSISDN, "ANY") is OptOutScope.global_
    await store.add_opt_out(MSISDN, "MYBRAND", NOW)  # STOP again after the opt-in
    assert await store.opted_out(MSISDN, "MYBRAND") is OptOutScope.sender
    await store.remove_opt_out(MSISDN, None)
    assert await store.opted_out(MSISDN, "MYBRAND") is None
    assert await store.opted_out(MSISDN, "ANY") is None


async def test_upstream_apps_can_write_opt_outs_with_plain_redis(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    """The documented layout: HSET smsgw:optout:{<msisdn>} * <ms>."""
    await redis_client.hset("smsgw:optout:{33612345678}", "*", to_ms(NOW))
    assert await store.opted_out(MSISDN, "ANY") is OptOutScope.global_
    await redis_client.hdel("smsgw:optout:{33612345678}", "*")
    await redis_client.hset("smsgw:optout:{33612345678}", "36180", to_ms(NOW))
    assert (await store.check_recipient(query(sender="36180"))).opted_out is OptOutScope.sender


async def test_suppression_is_stored_with_a_ttl_and_keeps_the_later_deadline(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    now = datetime.now(UTC)
    await store.suppress(MSISDN, now + timedelta(hours=2))
    await store.suppress(MSISDN, now + timedelta(hours=1))  # earlier: ignored
    ttl_ms = await redis_client.pttl(KEYS.suppression(MSISDN))
    assert 2 * 3_600_000 - 60_000 < ttl_ms <= 2 * 3_600_000
    until = await store.suppressed_until(MSISDN, now)
    assert until is not None
    assert abs(until - (now + timedelta(hours=2))) < timedelta(milliseconds=2)
    assert await store.suppressed_until(MSISDN, now + timedelta(hours=3)) is None
    state = await store.check_recipient(query(now=now))
    assert state.suppressed_until == until
    assert state.caps.exceeded is None
    assert await redis_client.exists(KEYS.caps(MSISDN)) == 0  # suppressed: nothing recorded


async def test_past_deadline_is_not_stored(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    await store.suppress(MSISDN, datetime.now(UTC) - timedelta(seconds=1))
    assert await redis_client.exists(KEYS.suppression(MSISDN)) == 0


async def test_caps_record_idempotently_and_refuse_past_the_limit(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    for _ in range(3):
        assert (await store.check_recipient(query(member="a"))).caps.exceeded is None
    assert await redis_client.zcard(KEYS.caps(MSISDN)) == 1
    pttl = await redis_client.pttl(KEYS.caps(MSISDN))
    assert 0 < pttl <= 7 * 86400 * 1000
    await store.check_recipient(query(member="b"))
    await store.check_recipient(query(member="c"))
    over = await store.check_recipient(query(member="d", now=NOW + timedelta(hours=1)))
    assert over.caps.exceeded == 0
    assert over.caps.retry_at_ms == to_ms(NOW) + 7 * 86400 * 1000


async def test_sends_older_than_the_longest_window_are_trimmed_and_the_rest_kept(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    """The script reads the sends first and trims only when the oldest is out of every
    window: the zset ends as an unconditional trim would leave it."""
    week = timedelta(days=7)
    await store.check_recipient(query(member="old", now=NOW - week - timedelta(seconds=1)))
    await store.check_recipient(query(member="edge", now=NOW - week))
    await store.check_recipient(query(member="recent", now=NOW - timedelta(days=1)))
    await store.check_recipient(query(member="now"))
    assert await redis_client.zrange(KEYS.caps(MSISDN), 0, -1) == [
        b"marketing:recent",
        b"marketing:now",
    ]
    await store.check_recipient(query(member="later", now=NOW + timedelta(hours=1)))
    assert await redis_client.zrange(KEYS.caps(MSISDN), 0, -1) == [
        b"marketing:recent",
        b"marketing:now",
        b"marketing:later",
    ]


async def test_evaluations_of_one_loop_iteration_share_a_call_and_keep_their_order(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    """Five evaluations asked at once run in one script call, in order: the first 3 pass."""
    await store.add_opt_out("33699999999", None, NOW)
    before = (await redis_client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    states = await asyncio.gather(
        *(store.check_recipient(query(member=f"m{i}")) for i in range(5)),
        store.check_recipient(query(msisdn="33699999999", member="x")),
    )
    after = (await redis_client.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert after - before == 1
    assert [s.caps.exceeded for s in states[:5]] == [None, None, None, 0, 0]
    assert states[5].opted_out is OptOutScope.global_
    assert await redis_client.zcard(KEYS.caps(MSISDN)) == 3


async def test_evaluations_of_one_call_with_different_caps_each_get_their_own(
    store: RedisComplianceStore,
) -> None:
    """One call spells each caps sequence once; a query with other caps is judged by its own."""
    daily = CapRule(name="daily", limit=1, window_seconds=86400, categories=frozenset({M}))
    states = await asyncio.gather(
        *(store.check_recipient(query(member=f"w{i}")) for i in range(2)),
        store.check_recipient(query(member="d1", caps=(daily,))),
        store.check_recipient(query(member="w2")),
    )
    # weekly allows 3: the first two pass; daily (limit 1) is past its limit with those two;
    # weekly's third send passes, as the refused daily one was not recorded
    assert [s.caps.exceeded for s in states] == [None, None, 0, None]


async def test_a_cap_of_other_categories_neither_counts_nor_blocks_but_sets_the_lifetime(
    store: RedisComplianceStore, redis_client: aioredis.Redis
) -> None:
    """Caps (weekly: marketing only, hourly: every category): a transactional send is judged
    by the hourly cap alone, which is reported by its position (1), with the time it frees
    up; the set still lives as long as the longest window of all the caps (the weekly one),
    which the marketing sends recorded in it need."""
    hourly = CapRule(name="hourly", limit=2, window_seconds=3600, categories=frozenset())
    caps = (WEEKLY, hourly)
    await store.check_recipient(query(member="m1", caps=caps))
    states = [
        await store.check_recipient(query(category=T, member=f"t{i}", caps=caps,
                                          now=NOW + timedelta(seconds=i + 1)))
        for i in range(2)
    ]  # fmt: skip
    assert [s.caps.exceeded for s in states] == [None, 1]
    assert states[1].caps.retry_at_ms == to_ms(NOW) + 3600 * 1000
    assert await redis_client.pttl(KEYS.caps(MSISDN)) > 6 * 86400 * 1000


async def test_caps_hold_under_concurrent_evaluations_from_several_instances(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Three clients (three gateway instances) race 60 evaluations: exactly `limit` pass."""
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(3)]
    try:
        config = ComplianceConfig(
            dataclasses.replace(CONFIG.settings, caps=(WEEKLY,)), CONFIG.countries
        )
        policies = [CompliancePolicy(config, RedisComplianceStore(c, KEYS)) for c in clients]
        requests = [
            ComplianceRequest(
                to="+33612345678",
                sender="MYBRAND",
                category=M,
                country_hint=None,
                text="Promo STOP au 36180",
                parts=1,
                message_id=f"msg-{i}",
            )
            for i in range(60)
        ]
        verdicts = await asyncio.gather(
            *(policies[i % 3].evaluate(r, NOW) for i, r in enumerate(requests))
        )
    finally:
        for c in clients:
            await c.aclose()
    outcomes = [v.outcome for v in verdicts]
    assert outcomes.count(Outcome.allow) == 3
    assert outcomes.count(Outcome.suppress) == 57
    assert {v.reason for v in verdicts if not v.allowed} == {Reason.frequency_cap}
    assert await redis_client.zcard(KEYS.caps(MSISDN)) == 3


async def test_lua_caps_agree_with_the_pure_rule(store: RedisComplianceStore) -> None:
    """Differential check on random histories (fixed seed): Lua == check_caps."""
    rng = random.Random(1234)
    caps = (
        WEEKLY,
        CapRule(name="hourly", limit=2, window_seconds=3600, on_exceed=CapAction.defer),
        CapRule(name="otp", limit=4, window_seconds=600, categories=frozenset({Category.otp})),
    )
    for case in range(40):
        msisdn = f"3361234{case:04d}"
        history: list[CapEntry] = []
        for i in range(rng.randint(0, 8)):
            at = NOW - timedelta(seconds=rng.randint(0, 8 * 86400))
            category = rng.choice(list(Category))
            history.append(CapEntry(f"h{i}", category, to_ms(at)))
        await _seed(store, msisdn, history)
        category = rng.choice(list(Category))
        want = check_caps(history, category, "new", caps, to_ms(NOW))
        got = await store.check_and_record(msisdn, category, "new", caps, NOW, consume=False)
        assert got == want, (case, history, category)


async def _seed(store: RedisComplianceStore, msisdn: str, history: list[CapEntry]) -> None:
    big = (CapRule(name="seed", limit=10_000, window_seconds=30 * 86400),)
    for entry in history:
        at = datetime.fromtimestamp(entry.at_ms / 1000, tz=UTC)
        await store.check_and_record(msisdn, entry.category, entry.member, big, at, consume=True)


async def test_policy_end_to_end_on_redis(redis_client: aioredis.Redis) -> None:
    store = RedisComplianceStore(redis_client, KEYS)
    every_category = dataclasses.replace(CONFIG.settings, opt_out_categories=frozenset(Category))
    policy = CompliancePolicy(ComplianceConfig(every_category, CONFIG.countries), store)
    await policy.handle_mo("+33612345678", "36180", "STOP", NOW)
    req = ComplianceRequest(
        to="0612345678", sender="36180", category=T, country_hint="FR", text="Hi", parts=1
    )
    assert (await policy.evaluate(req, NOW)).reason is Reason.opted_out
    other = dataclasses.replace(req, sender="MYBRAND")
    assert (await policy.evaluate(other, NOW)).allowed


async def test_unreachable_redis_is_a_compliance_store_error() -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        store = RedisComplianceStore(client, KEYS)
        with pytest.raises(ComplianceStoreError):
            await store.check_recipient(query())
        with pytest.raises(ComplianceStoreError):
            await store.opted_out(MSISDN, "X")
    finally:
        await client.aclose()
