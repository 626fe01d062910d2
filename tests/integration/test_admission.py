"""The tick's one admit call against a real redis-server: compliance check, carrier grant and
in-flight mark together, and the cases it leaves to the pipeline's usual way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import redis.asyncio as aioredis

from compliance.policy import CompliancePolicy, Prepared
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from gateway.carrier.pool import UNPACED, Pacing
from gateway.config import StreamsConfig
from gateway.engine.admission import Admission, Candidate
from gateway.store.keys import Keys
from gateway.store.records import RecordContext
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
