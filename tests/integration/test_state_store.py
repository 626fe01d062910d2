"""The Lua state scripts against a real redis-server: idempotent accept, receipts, leases."""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis.asyncio as aioredis

from gateway.config import StreamsConfig
from gateway.messages import Status, event_json
from gateway.store.keys import Keys
from gateway.store.records import (
    Origin,
    RecordContext,
    record_deferred,
    record_inflight,
    record_partial,
    record_receipt,
    record_submitted,
    record_unknown_outcome,
)
from gateway.store.state_store import OpBatch, StateStore, StateWriter, Word
from tests.integration.streams import stream_entries

KEYS = Keys("t:", StreamsConfig(outbound="t:out", events="t:ev", inbound="t:in", signals="t:sig"))
CTX = RecordContext(keys=KEYS, group="g", events_maxlen=10000, ttl=3600)


async def accept(store: StateStore, message_id: str, entry: str) -> str:
    header: list[str | int | float] = ["t:", KEYS.events, 10000, 3600, 1.0]
    event = event_json(message_id, Status.accepted, 1.0)
    [result] = await store.accept(header, [message_id, entry, "{}", event, "447700900123"])
    return result.kind


async def events(client: aioredis.Redis) -> list[dict[str, object]]:
    return [json.loads(f[b"data"]) for _, f in await stream_entries(client, KEYS.events)]


async def submit(writer: StateWriter, message_id: str, cids: list[str]) -> list[str]:
    batch = OpBatch()
    origin = Origin(message_id=message_id, entry_id=None, from_deferred=False)
    record_submitted(batch, CTX, origin, 2.0, carrier="c", carrier_ids=cids,
                     id_keys=[[c] for c in cids], attempt=1)  # fmt: skip
    return await writer.write(batch)


async def receipt(writer: StateWriter, cid: str, state: str, *, dest: str = "") -> str:
    batch = OpBatch()
    batch.receipt("t:", "c", [cid], state, True, "000", "ts", dest, KEYS.events, 10000, 3600)
    [result] = await writer.write(batch)
    return result


async def test_accept_is_idempotent_by_id_and_resumes_same_entry(
    redis_client: aioredis.Redis,
) -> None:
    store = StateStore(redis_client, KEYS)
    assert await accept(store, "m1", "1-0") == "new"
    assert await accept(store, "m1", "1-0") == "resume"
    assert await accept(store, "m1", "2-0") == "duplicate"
    assert [e["status"] for e in await events(redis_client)] == ["accepted"]


async def test_multipart_is_delivered_when_every_part_is(redis_client: aioredis.Redis) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    assert await submit(writer, "m1", ["a1", "a2"]) == ["mapped", "mapped"]
    assert await receipt(writer, "a1", "delivered") == "matched"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"submitted"
    # the last part finishes the message: its final status and when it was submitted
    assert await receipt(writer, "a2", "delivered") == "delivered 2.0 m1"
    assert await receipt(writer, "a2", "delivered") == "duplicate"
    statuses = [e["status"] for e in await events(redis_client)]
    assert statuses == ["accepted", "submitted", "delivered"]


async def test_receipt_before_submit_resp_is_applied_when_resp_is_recorded(
    redis_client: aioredis.Redis,
) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    assert await receipt(writer, "x9", "undelivered") == "unmatched"
    assert await submit(writer, "m1", ["x9"]) == ["early:undelivered 2.0 m1"]
    final = [e for e in await events(redis_client) if e["status"] == "undelivered"]
    assert len(final) == 1
    assert final[0]["error"] == {"code": "000", "reason": "carrier receipt undelivered"}


async def test_unknown_receipt_is_reported_unmatched(redis_client: aioredis.Redis) -> None:
    writer = StateWriter(StateStore(redis_client, KEYS))
    assert await receipt(writer, "nobody", "delivered") == "unmatched"


async def test_outcome_unknown_is_resolved_by_destination(redis_client: aioredis.Redis) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    batch = OpBatch()
    batch.sadd(KEYS.unknown_outcome("c", "447700900123"), "m1", 60)
    await writer.write(batch)
    assert await receipt(writer, "zz", "delivered", dest="447700900123") == "delivered  m1"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"
    assert not await redis_client.exists(KEYS.unknown_outcome("c", "447700900123"))


async def test_claim_due_leases_instead_of_removing(redis_client: aioredis.Redis) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    batch = OpBatch()
    origin = Origin(message_id="m1", entry_id=None, from_deferred=False)
    record_deferred(batch, CTX, origin, 1.0, 5.0, code="scheduled", reason="later", attempt=0)
    await writer.write(batch)
    assert await store.claim_due(now=4.0, lease=60, limit=10) == []
    [due] = await store.claim_due(now=6.0, lease=60, limit=10)
    assert (due.id, due.status) == ("m1", "deferred")
    assert await store.claim_due(now=7.0, lease=60, limit=10) == []  # leased, not gone
    assert await redis_client.zscore(KEYS.deferred, "m1") == 66.0


async def test_writer_coalesces_concurrent_batches_into_one_call(
    redis_client: aioredis.Redis,
) -> None:
    import asyncio

    store = StateStore(redis_client, KEYS)
    calls = 0
    original = store.apply

    async def counting(args: Sequence[Word]) -> list[str]:
        nonlocal calls
        calls += 1
        return await original(args)

    store.apply = counting  # type: ignore[method-assign]
    writer = StateWriter(store)

    async def one(n: int) -> None:
        batch = OpBatch()
        batch.hset(f"t:k{n}", {"v": n})
        await writer.write(batch)

    await asyncio.gather(*(one(n) for n in range(50)))
    assert calls <= 2
    assert await redis_client.hget("t:k49", "v") == b"49"


async def mark_inflight(writer: StateWriter, message_id: str, dest: str, parts: int = 1) -> None:
    batch = OpBatch()
    record_inflight(batch, CTX, message_id, "c", 7, parts, dest)
    await writer.write(batch)


async def hold_unknown(writer: StateWriter, message_id: str, dest: str) -> list[str]:
    """Held as the dispatcher holds it: deferred (which settles its in-flight mark), then
    indexed by destination."""
    batch = OpBatch()
    origin = Origin(message_id=message_id, entry_id=None, from_deferred=False)
    record_deferred(batch, CTX, origin, 3.0, 60.0, code="outcome_unknown", reason="held",
                    attempt=1, extra={"outcome": "unknown"})  # fmt: skip
    record_unknown_outcome(batch, CTX, message_id, "c", dest)
    return await writer.write(batch)


async def test_receipt_before_the_hold_settles_a_message_cut_off_mid_submit(
    redis_client: aioredis.Redis,
) -> None:
    """A crash between submit_sm and its recorded response: the carrier's receipt can reach
    the instance that takes over before it holds the message; it is applied at the hold."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    await mark_inflight(writer, "m1", "447700900123")
    assert await receipt(writer, "never-recorded", "delivered", dest="447700900123") == (
        "unmatched"
    )
    assert await hold_unknown(writer, "m1", "447700900123") == ["early:delivered  m1"]
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"
    assert await hold_unknown(writer, "m1", "447700900123") == ["held"]  # used up, final


LONG_CODE, HANDSET = "447700900999", "447700900123"


async def held_two_parts(client: aioredis.Redis) -> StateWriter:
    """m1, two parts to HANDSET, cut off mid-submit and held for a receipt by destination."""
    store = StateStore(client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    await mark_inflight(writer, "m1", HANDSET, parts=2)
    assert await hold_unknown(writer, "m1", HANDSET) == ["held"]
    return writer


async def test_a_held_message_of_two_parts_is_delivered_by_destination_only_by_two_receipts(
    redis_client: aioredis.Redis,
) -> None:
    """A crash may cut a two-part message off after its first part: one receipt by
    destination must not say the whole text arrived. Each part's receipt has its own id; the
    same receipt again (a carrier's redelivery) is no second part. Seen in the chaos
    benchmark: a message whose part 2 never reached the carrier ended `delivered`."""
    writer = await held_two_parts(redis_client)
    assert await receipt(writer, "part-a", "delivered", dest=HANDSET) == "matched"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"deferred"
    assert await receipt(writer, "part-a", "delivered", dest=HANDSET) == "duplicate"
    assert await receipt(writer, "part-b", "delivered", dest=HANDSET) == "delivered  m1"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"
    assert not await redis_client.exists(KEYS.unknown_outcome("c", HANDSET))


async def test_a_resend_after_the_hold_counts_its_own_parts_not_those_counted_by_destination(
    redis_client: aioredis.Redis,
) -> None:
    """on_unknown_outcome: resend. One part was receipted by destination during the hold; the
    resent message (its own ids) is delivered only when both of its parts are."""
    writer = await held_two_parts(redis_client)
    assert await receipt(writer, "old-a", "delivered", dest=HANDSET) == "matched"
    assert await submit(writer, "m1", ["new-1", "new-2"]) == ["mapped", "mapped"]
    assert not await redis_client.hexists(KEYS.message("m1"), "dest_parts")
    assert await receipt(writer, "new-1", "delivered") == "matched"
    assert await receipt(writer, "new-2", "delivered") == "delivered 2.0 m1"


async def test_a_part_known_by_id_and_one_by_destination_make_the_whole_message(
    redis_client: aioredis.Redis,
) -> None:
    """Part 1 accepted and mapped before a failure (`partial`), part 2 sent again and cut off
    by a crash: part 1's receipt by id and part 2's by destination deliver it."""
    writer = await held_two_parts(redis_client)
    batch = OpBatch()
    record_partial(batch, CTX, "m1", 2.5, carrier="c", carrier_ids=["p-1", None],
                   id_keys=[["p-1"]])  # fmt: skip
    assert await writer.write(batch) == ["mapped"]
    assert await receipt(writer, "p-1", "delivered") == "matched"
    assert await receipt(writer, "unknown-2", "delivered", dest=HANDSET) == "delivered  m1"


async def test_a_failed_part_by_destination_ends_a_held_message_of_two_parts_at_once(
    redis_client: aioredis.Redis,
) -> None:
    writer = await held_two_parts(redis_client)
    assert await receipt(writer, "part-a", "undelivered", dest=HANDSET) == "undelivered  m1"


async def test_parked_receipts_of_each_part_are_all_applied_at_the_hold(
    redis_client: aioredis.Redis,
) -> None:
    """Receipts of a two-part message that came before its hold (a crash mid-submit): both
    are parked for it, and the hold applies both; one alone leaves it held."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    for msg, entry, parked in (("m1", "1-0", ["a1", "a2"]), ("m2", "2-0", ["b1"])):
        dest = HANDSET if msg == "m1" else LONG_CODE
        await accept(store, msg, entry)
        await mark_inflight(writer, msg, dest, parts=2)
        for cid in parked:
            assert await receipt(writer, cid, "delivered", dest=dest) == "unmatched"
    assert await hold_unknown(writer, "m1", HANDSET) == ["early:delivered  m1"]
    assert await hold_unknown(writer, "m2", LONG_CODE) == ["held"]
    assert (await redis_client.hget(KEYS.message("m2"), "dest_parts")) == b"1"
    assert await receipt(writer, "b2", "delivered", dest=LONG_CODE) == "delivered  m2"


async def final_receipt(writer: StateWriter, ctx: RecordContext, cids: list[str], *,
                        destination: str, orphan_due: float | None = None,
                        alternative: str = "") -> str:  # fmt: skip
    """A final `delivered` receipt of carrier "c" looked up under `cids`; its result word."""
    batch = OpBatch()
    record_receipt(batch, ctx, "c", cids, "delivered", final=True, error_code="000", ts="ts",
                   destination=destination, orphan_due=orphan_due,
                   alternative=alternative)  # fmt: skip
    [result] = await writer.write(batch)
    return result


async def unswapped_receipt(writer: StateWriter, cid: str, scope_ctx: RecordContext = CTX,
                            orphan_due: float | None = None) -> str:  # fmt: skip
    """A final receipt that names our long code as source_addr and the handset as its other
    address (an SMSC that does not swap them)."""
    return await final_receipt(writer, scope_ctx, [cid], destination=LONG_CODE,
                               orphan_due=orphan_due, alternative=HANDSET)  # fmt: skip


async def test_an_unswapped_receipt_settles_the_message_held_for_its_other_address(
    redis_client: aioredis.Redis,
) -> None:
    """No message is held for or in flight to the long code the receipt names: its other
    address, the handset, is tried by destination, and settles the one message held for it."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    await mark_inflight(writer, "m1", HANDSET)
    assert await hold_unknown(writer, "m1", HANDSET) == ["held"]
    assert (await unswapped_receipt(writer, "never-mapped")).startswith("delivered")
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"


async def test_an_unswapped_receipt_before_the_hold_is_parked_for_its_other_address(
    redis_client: aioredis.Redis,
) -> None:
    """The receipt comes while the message to the handset is in flight: parked for that one
    message under the handset (earlydest), and applied when it is held."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    await mark_inflight(writer, "m1", HANDSET)
    assert await unswapped_receipt(writer, "never-mapped") == "unmatched"
    assert await hold_unknown(writer, "m1", HANDSET) == ["early:delivered  m1"]


async def test_receipt_of_a_submit_in_flight_never_settles_an_older_held_message(
    redis_client: aioredis.Redis,
) -> None:
    """m1 is held outcome-unknown for a number; m2 to the same number is on the wire and its
    receipt beats its submit_sm_resp. The receipt is m2's: it must wait for m2's id to be
    mapped, never settle m1 (the misfire of the destination rule)."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    dest = "447700900123"
    for n in (1, 2):
        await accept(store, f"m{n}", f"{n}-0")
    await mark_inflight(writer, "m1", dest)
    assert await hold_unknown(writer, "m1", dest) == ["held"]
    await mark_inflight(writer, "m2", dest)
    assert await receipt(writer, "c2", "delivered", dest=dest) == "unmatched"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"deferred"
    assert await submit(writer, "m2", ["c2"]) == ["early:delivered 2.0 m2"]
    assert (await redis_client.hget(KEYS.message("m2"), "status")) == b"delivered"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"deferred"


async def test_receipt_parked_while_two_submits_fly_is_applied_to_neither_hold(
    redis_client: aioredis.Redis,
) -> None:
    """Two submits to one number in flight when an unmatched receipt comes: it could be
    either's, so a later hold of one of them must not take it."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    dest = "447700900123"
    for n in (1, 2):
        await accept(store, f"m{n}", f"{n}-0")
        await mark_inflight(writer, f"m{n}", dest)
    assert await receipt(writer, "c2", "delivered", dest=dest) == "unmatched"
    assert await hold_unknown(writer, "m1", dest) == ["held"]
    assert await submit(writer, "m2", ["c2"]) == ["early:delivered 2.0 m2"]
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"deferred"


async def test_receipt_by_destination_waits_while_another_submit_is_in_flight(
    redis_client: aioredis.Redis,
) -> None:
    """One held message, but another submit to the number awaits its response: the receipt
    is not applied by destination (it may be the other's)."""
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    dest = "447700900123"
    for n in (1, 2):
        await accept(store, f"m{n}", f"{n}-0")
    await mark_inflight(writer, "m1", dest)
    await hold_unknown(writer, "m1", dest)
    await mark_inflight(writer, "m2", dest)
    assert await receipt(writer, "zz", "delivered", dest=dest) == "unmatched"
    await submit(writer, "m2", ["c2"])  # m2 settled: nothing else in flight now
    assert await receipt(writer, "zz2", "delivered", dest=dest) == "delivered  m1"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"


async def test_receipt_is_not_guessed_when_two_messages_are_held_for_one_number(
    redis_client: aioredis.Redis,
) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    for n in (1, 2, 3):
        await accept(store, f"m{n}", f"{n}-0")
    assert await hold_unknown(writer, "m1", "447700900123") == ["held"]
    assert await hold_unknown(writer, "m2", "447700900123") == ["held"]
    assert await receipt(writer, "x", "delivered", dest="447700900123") == "unmatched"
    assert await hold_unknown(writer, "m3", "447700900123") == ["held"]
    for n in (1, 2, 3):
        assert (await redis_client.hget(KEYS.message(f"m{n}"), "status")) != b"delivered"


# --- orphans: receipts parked unmatched in one shard, tried in the others -------------------

OTHER = Keys("u:", StreamsConfig(outbound="u:out", events="u:ev", inbound="u:in", signals="u:sig"))
OTHER_CTX = RecordContext(keys=OTHER, group="g", events_maxlen=10000, ttl=3600)


async def park(writer: StateWriter, cid: str, orphan_due: float | None) -> str:
    return await final_receipt(writer, OTHER_CTX, [cid, cid.upper()], destination="Acme",
                               orphan_due=orphan_due)  # fmt: skip


async def test_a_receipt_parked_with_a_due_time_is_claimed_once_and_applied_where_mapped(
    redis_client: aioredis.Redis,
) -> None:
    """Parked in shard u: (no id mapped there) and indexed; claimed when due, once per due
    time: taking it makes it due again later (here after min_wait, as it has been parked for
    less), so an instance that dies before trying it loses nothing. Then applied in shard t:,
    where its message is, by id only, and unparked from u:."""
    store, other = StateStore(redis_client, KEYS), StateStore(redis_client, OTHER)
    writer, other_writer = StateWriter(store), StateWriter(other)
    await accept(store, "m1", "1-0")
    assert await submit(writer, "m1", ["a1"]) == ["mapped"]
    assert await park(other_writer, "a1", orphan_due=5.0) == "unmatched"
    assert await park(other_writer, "zz", orphan_due=None) == "unmatched"  # not indexed
    assert await other.claim_orphans(4.9, 10, 1.0) == []  # not due yet
    [orphan] = await other.claim_orphans(5.0, 10, 1.0)
    assert (orphan.carrier, orphan.state, orphan.final) == ("c", "delivered", True)
    assert orphan.candidates == ("a1", "A1")
    assert await other.claim_orphans(5.0, 10, 1.0) == []  # taken once
    assert await redis_client.zscore(OTHER.orphans, orphan.member) == 6.0  # due again
    [again] = await other.claim_orphans(6.0, 10, 1.0)  # as an instance that died would leave it
    assert again == orphan
    batch = OpBatch()
    batch.apply_orphan(OTHER_CTX.scope, orphan)  # not mapped in u: either: not parked again
    batch.apply_orphan(CTX.scope, orphan)
    assert await writer.write(batch) == ["unmatched", "delivered 2.0 m1"]
    assert await redis_client.hget(KEYS.message("m1"), "status") == b"delivered"
    assert await redis_client.zcard(OTHER.orphans) == 1  # until unparked
    done = OpBatch()
    done.unpark(OTHER_CTX.scope, orphan)
    assert await other_writer.write(done) == []
    assert await redis_client.zcard(OTHER.orphans) == 0
    assert await redis_client.exists("u:early:c:a1", "u:early:c:A1") == 0
    assert await redis_client.exists("u:early:c:zz") == 1  # another receipt's parking stays


async def test_an_orphan_settles_the_message_held_for_its_other_address_in_another_shard(
    redis_client: aioredis.Redis,
) -> None:
    """Parked in the long code's shard (u:); in t:, the handset's message is held (its
    submit_sm_resp never came, so no id is mapped). Tried there, the orphan settles it by
    destination, its other address."""
    store, other = StateStore(redis_client, KEYS), StateStore(redis_client, OTHER)
    writer, other_writer = StateWriter(store), StateWriter(other)
    await accept(store, "m1", "1-0")
    await mark_inflight(writer, "m1", HANDSET)
    assert await hold_unknown(writer, "m1", HANDSET) == ["held"]
    assert await unswapped_receipt(other_writer, "x1", OTHER_CTX, orphan_due=5.0) == "unmatched"
    [orphan] = await other.claim_orphans(5.0, 10, 1.0)
    assert orphan.alternative == HANDSET
    batch = OpBatch()
    batch.apply_orphan(CTX.scope, orphan)
    [result] = await writer.write(batch)
    assert result.startswith("delivered")
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"delivered"


async def test_an_orphan_found_nowhere_is_tried_again_as_long_after_as_it_has_waited(
    redis_client: aioredis.Redis,
) -> None:
    """Each try of an orphan that no shard applies is followed by one after as long again as
    it has been parked (its submit_sm_resp may be recorded late), until its parking (600 s)
    runs out; then it is dropped."""
    other = StateStore(redis_client, OTHER)
    assert await park(StateWriter(other), "c9", orphan_due=100.0) == "unmatched"
    await redis_client.pexpire("u:early:c:c9", 600_000 - 40_000)  # parked 40 s ago
    [orphan] = await other.claim_orphans(100.0, 10, 1.0)
    score = await redis_client.zscore(OTHER.orphans, orphan.member)
    assert score is not None
    assert 140.0 <= score < 141.0  # parked 40 s and the moments since
    await redis_client.delete("u:early:c:c9", "u:early:c:C9")  # its parking ran out
    await redis_client.zadd(OTHER.orphans, {'["c", "delivered", "1", "000", "ts", ""]': 1.0})
    assert await other.claim_orphans(score, 10, 1.0) == []  # nor a member without ids
    assert await redis_client.zcard(OTHER.orphans) == 0


async def test_an_orphan_applied_in_its_own_shard_meanwhile_is_dropped_when_due(
    redis_client: aioredis.Redis,
) -> None:
    """A receipt that beat its submit_sm_resp in the right shard is applied when the response
    is recorded (its early key taken): the sweep finds nothing left to try."""
    store = StateStore(redis_client, OTHER)
    writer = StateWriter(store)
    header: list[str | int | float] = ["u:", OTHER.events, 10000, 3600, 1.0]
    event = event_json("m2", Status.accepted, 1.0)
    await store.accept(header, ["m2", "1-0", "{}", event, "447700900123"])
    assert await park(writer, "b1", orphan_due=5.0) == "unmatched"
    batch = OpBatch()
    origin = Origin(message_id="m2", entry_id=None, from_deferred=False)
    record_submitted(batch, OTHER_CTX, origin, 2.0, carrier="c", carrier_ids=["b1"],
                     id_keys=[["b1"]], attempt=1)  # fmt: skip
    assert (await writer.write(batch))[0].startswith("early:delivered")
    assert await store.claim_orphans(10.0, 10, 1.0) == []
    assert await redis_client.zcard(OTHER.orphans) == 0
