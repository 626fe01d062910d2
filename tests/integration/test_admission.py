"""The tick's one admit call against a real redis-server: compliance check, carrier grant and
in-flight mark together, and the cases it leaves to the pipeline's usual way; on the real
Redis Cluster, a paced carrier's grant taken in that call from the shard's own bucket, or just
before it, in the carrier's bucket's slot."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from compliance.policy import CompliancePolicy, Prepared
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.settings import ComplianceConfig, load_compliance_config
from compliance.verdict import Category, ComplianceRequest, Outcome, Reason
from gateway.carrier.pool import UNPACED, Pacing, ShardRate
from gateway.config import Settings, StreamsConfig
from gateway.engine.admission import Admission, Candidate, take_grants
from gateway.store.keys import Keys
from gateway.store.records import (
    Origin,
    RecordContext,
    accept_row,
    record_inflight,
    record_receipt,
    record_submitted,
)
from gateway.store.shards import ShardMap
from gateway.store.state_store import OpBatch, StateStore, StateWriter
from routing.throttle import RedisTokenBucket
from tests.cluster_fixture import HOST, LocalRedisCluster, key_slot
from tests.conftest import free_port
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


async def test_a_carriers_bucket_grants_up_to_its_grant_size_if_it_covers_the_first(
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


async def test_a_bucket_short_of_the_ticks_parts_grants_what_it_has_in_order(
    redis_client: aioredis.Redis,
) -> None:
    """4 tokens in the bucket, 6 parts chosen: the grant is the 4; the messages are marked in
    the tick's order while it covers their parts (1, then 2; the next 2 do not fit in the 1
    left, the 1 after them does). A bucket that cannot cover the first message grants none."""
    policy, admission = setup(redis_client)
    bucket = RedisTokenBucket(redis_client, "t:tps:c1", rate=4, burst=4)
    pacing = Pacing(bucket, 10)  # a grant size above what the bucket holds
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(5)]
    answers = await admission.admit([
        candidate(ps[0], "m0", pacing, parts=1),
        candidate(ps[1], "m1", pacing, parts=2),
        candidate(ps[2], "m2", pacing, parts=2),  # 5 parts > the 4 granted
        candidate(ps[3], "m3", pacing, parts=1),
    ])  # fmt: skip
    assert [x.marked for x in answers] == [True, True, False, True]
    assert int(await redis_client.hget("t:tps:c1", "used") or 0) == 4
    [late] = await admission.admit([candidate(ps[4], "m4", pacing, parts=1)])
    assert not late.marked  # this second's 4 tokens are spent
    assert int(await redis_client.hget("t:tps:c1", "used") or 0) == 4
    for message_id in ("m2", "m4"):
        assert not await redis_client.exists(f"t:msg:{message_id}")


async def test_candidates_without_pacing_are_checked_but_never_marked(
    redis_client: aioredis.Redis,
) -> None:
    policy, admission = setup(redis_client)
    p = prepared(policy, "+33612345678", "m1")
    [answer] = await admission.admit([Candidate(p)])
    assert answer.verdict.outcome is Outcome.allow
    assert not answer.marked
    assert not await redis_client.exists("t:msg:m1")


# --- a read at light load: accept.lua and the admit call in one ------------------------------


def accept_args(*messages: tuple[str, str, Prepared]) -> list[str | int | float]:
    """accept.lua's ARGV for (id, entry id, prepared) messages."""
    args: list[str | int | float] = [KEYS.prefix, KEYS.events, 10000, 3600, 1.0]
    for message_id, entry_id, p in messages:
        args += accept_row(message_id, entry_id, '{"payload":1}', p.destination.e164, 1.0)
    return args


async def test_a_read_is_accepted_and_admitted_in_one_call(redis_client: aioredis.Redis) -> None:
    policy, admission = setup(redis_client)
    a, b = prepared(policy, "+33612345678", "m1"), prepared(policy, "+33612345679", "m2")
    await policy.handle_mo("+33612345679", "MYBRAND", "STOP", NOW)
    results, answers = await admission.accept_and_admit(
        accept_args(("m1", "1-0", a), ("m2", "2-0", b)), [0, 1],
        [candidate(a, "m1", FREE), candidate(b, "m2", FREE)],
    )  # fmt: skip
    assert [r.kind for r in results] == ["new", "new"]
    assert [(x.verdict.outcome, x.marked) for x in answers if x is not None] == [
        (Outcome.allow, True), (Outcome.suppress, False)
    ]  # fmt: skip
    one, two = await redis_client.hgetall("t:msg:m1"), await redis_client.hgetall("t:msg:m2")
    assert (one[b"status"], one[b"inflight"], one[b"entry"]) == (b"accepted", b"c1", b"1-0")
    assert (two[b"status"], two.get(b"inflight")) == (b"accepted", None)
    assert await redis_client.xlen(KEYS.events) == 2  # the two accepted events


async def test_a_message_the_accept_did_not_create_is_neither_checked_nor_marked(
    redis_client: aioredis.Redis,
) -> None:
    """A duplicate id (another entry) and a resume (the same entry read again) come back with
    what their record holds; nothing of the check ran for them (no cap consumed), and their
    record is not marked again, while a new message in the same read goes on as usual."""
    policy, admission = setup(redis_client)
    a, b = prepared(policy, "+33612345678", "m1"), prepared(policy, "+33612345679", "m2")
    first, _ = await admission.accept_and_admit(accept_args(("m1", "1-0", a)), [], [])
    assert [r.kind for r in first] == ["new"]
    caps_key = ComplianceKeys("t:").caps(a.destination.e164)
    results, answers = await admission.accept_and_admit(
        accept_args(("m1", "9-0", a), ("m1", "1-0", a), ("m2", "2-0", b)), [0, 1, 2],
        [candidate(a, "m1", FREE), candidate(a, "m1", FREE), candidate(b, "m2", FREE)],
    )  # fmt: skip
    assert [(r.kind, r.status) for r in results] == [
        ("duplicate", "accepted"), ("resume", "accepted"), ("new", "accepted")
    ]  # fmt: skip
    assert [None if x is None else x.marked for x in answers] == [None, None, True]
    assert not await redis_client.exists(caps_key)  # m1 never checked: no send counted
    record = await redis_client.hgetall("t:msg:m1")
    assert (record[b"entry"], record.get(b"inflight")) == (b"1-0", None)
    assert await redis_client.zcard(ComplianceKeys("t:").caps(b.destination.e164)) == 1


@dataclass
class Writers:
    """A shard's writers as the engine chains them (gateway/engine/shard_state.py), with
    lingers long enough that nothing leaves on a timer in a test."""

    store: StateStore
    receipts: StateWriter
    commits: StateWriter
    state: StateWriter


def writers(client: aioredis.Redis) -> Writers:
    store = StateStore(client, KEYS)
    receipts = StateWriter(store, linger=60)
    commits = StateWriter(store, linger=60, carry=receipts)
    return Writers(store, receipts, commits, StateWriter(store, carry=commits))


async def waiting_record_and_receipt(
    client: aioredis.Redis, w: Writers
) -> tuple[asyncio.Task[list[str]], asyncio.Task[list[str]]]:
    """Message "old" accepted; its receipt handed to the receipt writer, then its submit's
    record to the commit writer (later: the receipt came in the same read as the response)."""
    store = w.store
    [accepted] = await store.accept(
        [KEYS.prefix, KEYS.events, 10000, 3600, 1.0],
        accept_row("old", "0-1", "{}", "33612340000", 1.0),
    )
    assert accepted.kind == "new"
    receipt = OpBatch()
    record_receipt(receipt, CTX, "c1", ["a1"], "delivered", final=True, error_code="000",
                   ts="1970-01-01T00:00:03.000Z", destination="")  # fmt: skip
    record = OpBatch()
    origin = Origin(message_id="old", entry_id="0-1", from_deferred=False)
    record_submitted(record, CTX, origin, 2.0, carrier="c1", carrier_ids=["a1"],
                     id_keys=[["a1"]], attempt=1)  # fmt: skip
    receipt_task = asyncio.create_task(w.receipts.write(receipt))
    record_task = asyncio.create_task(w.commits.write(record))
    await asyncio.sleep(0)
    return record_task, receipt_task


async def evalsha_calls(client: aioredis.Redis) -> int:
    """EVALSHA calls that ran a script (not those answered NOSCRIPT: a script's first call)."""
    stats = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)) - int(stats.get("failed_calls", 0))


async def test_a_reads_call_carries_the_waiting_records_and_receipts_and_answers_them(
    redis_client: aioredis.Redis,
) -> None:
    """The tick before's record and a receipt wait in their lingering writers: the next
    read's one call writes them first (the record before the receipt, which then finds it)
    and answers their callers."""
    policy, admission = setup(redis_client)
    w = writers(redis_client)
    record, receipt = await waiting_record_and_receipt(redis_client, w)
    a = prepared(policy, "+33612345678", "m1")
    before = await evalsha_calls(redis_client)
    results, answers = await admission.accept_and_admit(
        accept_args(("m1", "1-0", a)), [0], [candidate(a, "m1", FREE)], w.commits
    )
    assert await evalsha_calls(redis_client) - before == 1
    async with asyncio.timeout(5):
        assert await record == ["mapped"]
        assert await receipt == ["delivered 2.0 old"]
    assert [r.kind for r in results] == ["new"]
    assert [x.marked for x in answers if x is not None] == [True]
    assert await redis_client.hget("t:msg:old", "status") == b"delivered"


async def test_writes_are_not_carried_while_a_write_waits_ahead_of_them(
    redis_client: aioredis.Redis,
) -> None:
    """A write of the state writer was handed in before the read's call (its own call not
    started yet): the lingering writes must not overtake it, so the read's call carries
    nothing and they leave in the state writer's call, after it."""
    policy, admission = setup(redis_client)
    w = writers(redis_client)
    record, receipt = await waiting_record_and_receipt(redis_client, w)
    mark = OpBatch()
    record_inflight(mark, CTX, "x", "c1", 7, 1, "33612349999")
    a = prepared(policy, "+33612345678", "m1")
    before = await evalsha_calls(redis_client)  # read first: counting yields to the loop
    marking = asyncio.create_task(w.state.write(mark))
    await asyncio.sleep(0)  # handed in; its call leaves on the loop's next turn
    await admission.accept_and_admit(
        accept_args(("m1", "1-0", a)), [0], [candidate(a, "m1", FREE)], w.commits
    )
    async with asyncio.timeout(5):
        assert await marking == []
        assert await record == ["mapped"]
        assert await receipt == ["delivered 2.0 old"]
    assert await evalsha_calls(redis_client) - before == 2  # the read's, the state writer's


async def test_when_the_reads_part_fails_the_carried_writes_are_still_answered_done(
    redis_client: aioredis.Redis,
) -> None:
    """The read's accept fails (a key of the wrong type) after the carried writes ran: they
    are answered as written (they were: a script is not rolled back), and only the read goes
    the usual way (a ResponseError, as the engine expects from a script error)."""
    policy, admission = setup(redis_client)
    w = writers(redis_client)
    record, receipt = await waiting_record_and_receipt(redis_client, w)
    a = prepared(policy, "+33612345678", "m9")
    await redis_client.set("t:msg:m9", "not a hash")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await admission.accept_and_admit(
            accept_args(("m9", "1-0", a)), [0], [candidate(a, "m9", FREE)], w.commits
        )
    async with asyncio.timeout(5):
        assert await record == ["mapped"]
        assert await receipt == ["delivered 2.0 old"]
    assert await redis_client.hget("t:msg:old", "status") == b"delivered"


# --- on Redis Cluster: a paced carrier's grant first (its own slot), then the shard's call -----

SHARD = ShardMap.from_settings(Settings(redis_cluster=True, streams=StreamsConfig(shards=4)))[2]
SHARD_KEYS = Keys(SHARD.prefix, SHARD.streams)
SHARD_CTX = RecordContext(keys=SHARD_KEYS, group="g", events_maxlen=10000, ttl=3600)


def setup_shard(client: RedisCluster, index: int = 2) -> tuple[CompliancePolicy, Admission]:
    shard = ShardMap.from_settings(Settings(redis_cluster=True, streams=StreamsConfig(shards=4)))[
        index
    ]
    store = RedisComplianceStore(client, ComplianceKeys(shard.prefix))
    every_category = dataclasses.replace(CONFIG.settings, opt_out_categories=frozenset(Category))
    policy = CompliancePolicy(ComplianceConfig(every_category, CONFIG.countries), store)
    ctx = RecordContext(keys=Keys(shard.prefix, shard.streams), group="g", events_maxlen=10000,
                        ttl=3600)  # fmt: skip
    return policy, Admission(client, store, ctx.scope, conclude=policy.conclude)


def paced_candidate(p: Prepared, message_id: str, pacing: Pacing, parts: int = 1) -> Candidate:
    return Candidate(p, pacing, "c2", (message_id, "c2", 7, parts, p.destination.e164))


async def masters_evalsha(cluster: LocalRedisCluster) -> int:
    """Script calls the masters ran that did not fail (a NOSCRIPT answer is not a call)."""
    total = 0
    for port in await asyncio.to_thread(cluster.master_ports):
        node = aioredis.Redis(host=HOST, port=port)
        try:
            stats = (await node.info("commandstats")).get("cmdstat_evalsha", {})
        finally:
            await node.aclose()
        total += int(stats.get("calls", 0)) - int(stats.get("failed_calls", 0))
    return total


async def test_on_a_cluster_a_paced_carriers_grant_comes_first_and_the_call_marks(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """Two calls for a tick of a paced carrier: its bucket's grant (a slot of its own) for
    every candidate, then the shard's call, which checks them all and marks the clean ones.
    A refused candidate is not marked; its token was granted and is not given back."""
    client = redis_cluster_client
    policy, admission = setup_shard(client)
    bucket = RedisTokenBucket(client, KEYS.throttle("c2"), rate=100, burst=10)
    assert key_slot(bucket.key) != key_slot(SHARD_KEYS.message("m0"))
    paced = Pacing(bucket, bucket.max_acquire)
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(4)]
    await policy.handle_mo("+33612345672", "MYBRAND", "STOP", NOW)
    [warm] = await admission.admit([paced_candidate(ps[0], "m0", paced)])  # scripts loaded
    assert warm.marked
    before = await masters_evalsha(redis_cluster)
    answers = await admission.admit([
        paced_candidate(ps[1], "m1", paced, parts=2),
        paced_candidate(ps[2], "m2", paced),  # opted out
        paced_candidate(ps[3], "m3", paced),
    ])  # fmt: skip
    assert await masters_evalsha(redis_cluster) - before == 2  # the grant, then the call
    assert [x.verdict.outcome for x in answers] == [Outcome.allow, Outcome.suppress, Outcome.allow]
    assert [x.marked for x in answers] == [True, False, True]
    mark = await client.hgetall(SHARD_KEYS.message("m1"))
    assert (mark[b"inflight"], mark[b"carrier"], mark[b"parts"]) == (b"c2", b"c2", b"2")
    assert await client.smembers(SHARD_KEYS.inflight(ps[3].destination.e164)) == {b"m3"}
    assert not await client.exists(SHARD_KEYS.message("m2"))
    assert int(await client.hget(bucket.key, "used") or 0) == 1 + 4  # m2's token spent


async def test_on_a_cluster_a_tick_of_several_shards_takes_each_carriers_grant_once(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """The pipeline's tick spans shards: one try of the carrier's bucket for all of their
    candidates (not one per shard), up to the grant size over the whole tick, then each
    shard's call marks the candidates of its share."""
    client = redis_cluster_client
    (policy, first), (_, second) = setup_shard(client, 1), setup_shard(client, 2)
    bucket = RedisTokenBucket(client, KEYS.throttle("c2"), rate=100, burst=10)
    paced = Pacing(bucket, 4)  # a grant of at most 4 parts in a tick
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(5)]
    [warm] = await first.admit([paced_candidate(ps[0], "m0", paced)])  # scripts loaded
    [warm2] = await second.admit([paced_candidate(ps[4], "m4", paced)])
    assert [warm.marked, warm2.marked] == [True, True]
    used = int(await client.hget(bucket.key, "used") or 0)
    ticks = [
        [paced_candidate(ps[1], "m1", paced, parts=2), paced_candidate(ps[2], "m2", paced)],
        [paced_candidate(ps[3], "m3", paced), paced_candidate(ps[0], "m5", paced)],  # 5 > 4
    ]
    before = await masters_evalsha(redis_cluster)
    shares = await take_grants(ticks)
    assert await masters_evalsha(redis_cluster) - before == 1  # one grant for both shards
    assert [sorted(share["c2"].covers) for share in shares] == [[0, 1], [0]]
    assert [share["c2"].parts for share in shares] == [3, 1]
    assert int(await client.hget(bucket.key, "used") or 0) == used + 4
    answers = [await first.admit(ticks[0], shares[0]), await second.admit(ticks[1], shares[1])]
    assert await masters_evalsha(redis_cluster) - before == 3  # and one call per shard
    assert [[x.marked for x in answer] for answer in answers] == [[True, True], [True, False]]
    assert int(await client.hget(bucket.key, "used") or 0) == used + 4  # nothing taken twice


async def test_on_a_cluster_the_shards_own_bucket_grants_inside_the_admit_call(
    redis_cluster: LocalRedisCluster, redis_cluster_client: RedisCluster
) -> None:
    """With the carrier's rate split (gateway/carrier/pool.py), a paced carrier's grant comes
    from the shard's own bucket, in the shard's slot, inside the admit call: one call for the
    tick, as on one Redis, and the carrier's bucket untouched. What the shard's bucket cannot
    grant (beyond its grant size, or once its second's tokens are spent) is checked only: the
    usual way, through the carrier's bucket."""
    client = redis_cluster_client
    policy, admission = setup_shard(client)
    bucket = RedisTokenBucket(client, KEYS.throttle("c2"), rate=100, burst=10)
    paced = Pacing(bucket, 3, ShardRate(3.0, 3, 3))  # 3 tokens a second, 3 parts a grant
    own = SHARD_KEYS.shard_throttle("c2")
    assert key_slot(own) == key_slot(f"{own}:window") == key_slot(SHARD_KEYS.message("m0"))
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(5)]
    [warm] = await admission.admit([candidate(ps[0], "m0", FREE)])  # the script loaded
    assert warm.marked
    before = await masters_evalsha(redis_cluster)
    answers = await admission.admit([
        paced_candidate(ps[1], "m1", paced, parts=2),
        paced_candidate(ps[2], "m2", paced),
        paced_candidate(ps[3], "m3", paced),  # 4 parts > 3: not in the grant
    ])  # fmt: skip
    assert await masters_evalsha(redis_cluster) - before == 1  # the call alone
    assert [x.marked for x in answers] == [True, True, False]
    assert int(await client.hget(own, "used") or 0) == 3
    assert not await client.exists(bucket.key)
    [later] = await admission.admit([paced_candidate(ps[4], "m4", paced)])
    assert later.verdict.outcome is Outcome.allow
    assert not later.marked  # the shard's 3 tokens of this second are spent
    assert int(await client.hget(own, "used") or 0) == 3
    for message_id in ("m3", "m4"):
        assert not await client.exists(SHARD_KEYS.message(message_id))


async def test_on_a_cluster_a_grant_is_all_or_nothing_up_to_the_grant_size(
    redis_cluster_client: RedisCluster,
) -> None:
    """Candidates past the grant size, a bucket short of tokens, and a carrier the call may
    not pace (`pacing()` None: an episode, waiters) are checked only: the usual way."""
    client = redis_cluster_client
    policy, admission = setup_shard(client)
    bucket = RedisTokenBucket(client, KEYS.throttle("c2"), rate=3, burst=3)
    paced = Pacing(bucket, bucket.max_acquire)  # 3 parts a grant
    ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(4)]
    first = await admission.admit([
        paced_candidate(ps[0], "m0", paced, parts=2),
        paced_candidate(ps[1], "m1", paced, parts=2),  # 4 parts > 3: not in the grant
        Candidate(ps[2]),  # no pacing: checked only
        candidate(ps[3], "m3", FREE),  # nothing paces c1: marked, no grant
    ])  # fmt: skip
    assert all(x.verdict.outcome is Outcome.allow for x in first)
    assert [x.marked for x in first] == [True, False, False, True]
    assert int(await client.hget(bucket.key, "used") or 0) == 2
    ps2 = prepared(policy, "+33612345670", "m4")
    again = await admission.admit([paced_candidate(ps2, "m4", paced, parts=2)])
    assert [x.marked for x in again] == [False]  # 1 token left in this second: none taken
    assert int(await client.hget(bucket.key, "used") or 0) == 2
    for message_id in ("m1", "m2", "m4"):
        assert not await client.exists(SHARD_KEYS.message(message_id))


async def test_on_a_cluster_a_bucket_that_cannot_answer_leaves_its_carrier_to_the_usual_way(
    redis_cluster_client: RedisCluster,
) -> None:
    """The grant's call fails (its slot has no master): the tick is admitted all the same,
    the paced carrier's messages checked only (the usual way meets the error and leaves
    them pending); the other carriers' are marked."""
    client = redis_cluster_client
    policy, admission = setup_shard(client)
    down = aioredis.Redis(host=HOST, port=free_port(), socket_connect_timeout=0.5,
                          retry=Retry(NoBackoff(), 0))  # fmt: skip
    bucket = RedisTokenBucket(down, KEYS.throttle("c2"), rate=100, burst=10)
    try:
        ps = [prepared(policy, f"+3361234567{i}", f"m{i}") for i in range(2)]
        answers = await admission.admit([
            paced_candidate(ps[0], "m0", Pacing(bucket, bucket.max_acquire)),
            candidate(ps[1], "m1", FREE),
        ])  # fmt: skip
    finally:
        await bucket.aclose()
        await down.aclose()
    assert all(x.verdict.outcome is Outcome.allow for x in answers)
    assert [x.marked for x in answers] == [False, True]
    assert not await client.exists(SHARD_KEYS.message("m0"))


def test_on_a_cluster_a_store_outside_the_shards_slot_is_refused(
    redis_cluster_client: RedisCluster,
) -> None:
    """Keys under the unsharded prefix are in each recipient's own slot, not the shard's."""
    policy, _ = setup_shard(redis_cluster_client)
    store = RedisComplianceStore(redis_cluster_client, ComplianceKeys("smsgw:"))
    with pytest.raises(ValueError, match="different slots"):
        Admission(redis_cluster_client, store, SHARD_CTX.scope, conclude=policy.conclude)
