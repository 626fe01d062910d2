"""The tick's one admit call against a real redis-server: compliance check, carrier grant and
in-flight mark together, and the cases it leaves to the pipeline's usual way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from compliance.policy import CompliancePolicy, Prepared
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from gateway.carrier.pool import UNPACED, Pacing
from gateway.config import Settings, StreamsConfig
from gateway.engine.admission import Admission, Candidate
from gateway.store.keys import Keys
from gateway.store.records import RecordContext
from gateway.store.shards import ShardMap
from routing.throttle import RedisTokenBucket
from tests.integration.test_compliance_redis import NOW

CONFIG = load_compliance_config(Path(__file__).resolve().parents[2] / "config")
KEYS = Keys("t:", StreamsConfig(outbound="t:out", events="t:ev", inbound="t:in", signals="t:sig"))
CTX = RecordContext(keys=KEYS, group="g", events_maxlen=10000, ttl=3600)
FREE = Pacing(None, UNPACED)


def setup(client: aioredis.Redis) -> tuple[CompliancePolicy, Admission]:
    store = RedisComplianceStore(client, ComplianceKeys("t:"))
    every_category = dataclasses.replace(CONFIG.settings, opt_out_categories=frozenset(Category))
    policy = CompliancePolicy(ComplianceConfig(every_category, CONFIG.countries), store)
    return policy, Admission(client, store, CTX.scope, conclude=policy.conclude)


def prepared(policy: CompliancePolicy, to: str, message_id: str) -> Prepared:
    request = ComplianceRequest(
        to=to, sender="MYBRAND", category=Category.transactional, country_hint=None,
        text="Hi", parts=1, message_id=message_id,
    )  # fmt: skip
    result = policy.prepare(request, NOW)
    assert isinstance(result, Prepared)
    return result


def candidate(p: Prepared, message_id: str, pacing: Pacing | None, parts: int = 1) -> Candidate:
    mark = (message_id, "c1", 7, parts, p.destination.e164)
    return Candidate(p, pacing, "c1", mark)


async def test_clean_messages_are_allowed_and_marked_in_flight_in_one_call(
    redis_client: aioredis.Redis,
) -> None:
    policy, admission = setup(redis_client)
    a, b = prepared(policy, "+33612345678", "m1"), prepared(policy, "+33612345679", "m2")
    await policy.handle_mo("+33612345679", "MYBRAND", "STOP", NOW)
    answers = await admission.admit([candidate(a, "m1", FREE), candidate(b, "m2", FREE)])
    assert [x.verdict.outcome for x in answers] == [Outcome.allow, Outcome.suppress]
    assert answers[1].verdict.reason is Reason.opted_out
    assert [x.marked for x in answers] == [True, False]
    mark = await redis_client.hgetall("t:msg:m1")
    assert (mark[b"inflight"], mark[b"ref"], mark[b"parts"]) == (b"c1", b"7", b"1")
    assert await redis_client.smembers(f"t:inflight:{a.destination.e164}") == {b"m1"}
    assert not await redis_client.exists("t:msg:m2")


async def test_a_carriers_bucket_grants_all_or_nothing_up_to_its_grant_size(
    redis_client: aioredis.Redis,
) -> None:
    policy, admission = setup(redis_client)
    bucket = RedisTokenBucket(redis_client, "t:tps:c1", rate=3, burst=3)
    pacing = Pacing(bucket, bucket.max_acquire)  # 3 parts a call
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(3)]
    first = await admission.admit([candidate(ps[0], "m0", pacing, parts=2),
                                   candidate(ps[1], "m1", pacing, parts=2)])  # fmt: skip
    assert [x.marked for x in first] == [True, False]  # 4 parts > 3: the second waits
    assert all(x.verdict.outcome is Outcome.allow for x in first)
    again = await admission.admit([candidate(ps[2], "m2", pacing, parts=2)])
    assert [x.marked for x in again] == [False]  # 1 token left in this second: none granted
    assert not await redis_client.exists("t:msg:m2")


async def test_candidates_without_pacing_are_checked_but_never_marked(
    redis_client: aioredis.Redis,
) -> None:
    policy, admission = setup(redis_client)
    p = prepared(policy, "+33612345678", "m1")
    [answer] = await admission.admit([Candidate(p)])
    assert answer.verdict.outcome is Outcome.allow
    assert not answer.marked
    assert not await redis_client.exists("t:msg:m1")


# --- on Redis Cluster: one shard's call, no grant in it ----------------------------------------

SHARD = ShardMap.from_settings(Settings(redis_cluster=True, streams=StreamsConfig(shards=4)))[2]
SHARD_KEYS = Keys(SHARD.prefix, SHARD.streams)
SHARD_CTX = RecordContext(keys=SHARD_KEYS, group="g", events_maxlen=10000, ttl=3600)


def setup_shard(client: RedisCluster) -> tuple[CompliancePolicy, Admission]:
    store = RedisComplianceStore(client, ComplianceKeys(SHARD.prefix))
    every_category = dataclasses.replace(CONFIG.settings, opt_out_categories=frozenset(Category))
    policy = CompliancePolicy(ComplianceConfig(every_category, CONFIG.countries), store)
    return policy, Admission(client, store, SHARD_CTX.scope, conclude=policy.conclude)


async def test_on_a_cluster_unpaced_carriers_are_marked_and_paced_ones_only_checked(
    redis_cluster_client: RedisCluster,
) -> None:
    """One call on the shard's slot: verdicts for all; the mark for a carrier nothing paces;
    a paced carrier's message is left to the pipeline's grant-then-mark way, its bucket (a
    slot of its own) untouched."""
    client = redis_cluster_client
    policy, admission = setup_shard(client)
    bucket = RedisTokenBucket(client, KEYS.throttle("c2"), rate=3, burst=3)  # own slot
    paced = Pacing(bucket, bucket.max_acquire)
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(4)]
    await policy.handle_mo("+33612345671", "MYBRAND", "STOP", NOW)
    answers = await admission.admit([
        candidate(ps[0], "m0", FREE),
        candidate(ps[1], "m1", FREE),  # opted out
        Candidate(ps[2], paced, "c2", ("m2", "c2", 7, 1, ps[2].destination.e164)),
        Candidate(ps[3]),  # no pacing: checked only, as on one Redis
    ])  # fmt: skip
    assert [x.verdict.outcome for x in answers] == [
        Outcome.allow, Outcome.suppress, Outcome.allow, Outcome.allow
    ]  # fmt: skip
    assert [x.marked for x in answers] == [True, False, False, False]
    mark = await client.hgetall(SHARD_KEYS.message("m0"))
    assert (mark[b"inflight"], mark[b"ref"], mark[b"parts"]) == (b"c1", b"7", b"1")
    assert await client.smembers(SHARD_KEYS.inflight(ps[0].destination.e164)) == {b"m0"}
    for message_id in ("m1", "m2", "m3"):
        assert not await client.exists(SHARD_KEYS.message(message_id))
    assert not await client.exists(*bucket.keys)  # no grant was taken


def test_on_a_cluster_a_store_outside_the_shards_slot_is_refused(
    redis_cluster_client: RedisCluster,
) -> None:
    """Keys under the unsharded prefix are in each recipient's own slot, not the shard's."""
    policy, _ = setup_shard(redis_cluster_client)
    store = RedisComplianceStore(redis_cluster_client, ComplianceKeys("smsgw:"))
    with pytest.raises(ValueError, match="different slots"):
        Admission(redis_cluster_client, store, SHARD_CTX.scope, conclude=policy.conclude)
