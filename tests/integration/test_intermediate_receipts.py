"""Intermediate receipts (ENROUTE, BUFFRED, SCHEDLD, ACCEPTD, UNKNOWN) on real processes.

A real redis-server, the simulator in this process sending `receipts.intermediate` ahead of
each final receipt, and `smsgw run` as a child process: an intermediate receipt is recorded
on the message's history and never finalises it, so the final receipt that follows lands,
with exactly one final event (README, "Delivery receipts").
"""

from __future__ import annotations

import json
from pathlib import Path

import redis.asyncio as aioredis

from gateway.store.state_store import OpBatch, StateStore, StateWriter
from tests.conftest import RedisServer
from tests.integration.engine_harness import enqueue, message, statuses, wait_for_statuses
from tests.integration.simulator_fixture import simulator_config, start_simulator
from tests.integration.test_engine_crash import (
    gateway_process,
    hash_statuses,
    wait_for_binds,
    write_gateway_config,
)
from tests.integration.test_state_store import KEYS, accept, events, submit

INTERMEDIATE = ["ENROUTE", "BUFFRED", "SCHEDLD", "ACCEPTD", "UNKNOWN"]


async def receipt(writer: StateWriter, cid: str, state: str, final: bool, err: str = "000") -> str:
    batch = OpBatch()
    batch.receipt("t:", "c", [cid], state, final, err, "ts", "", KEYS.events, 10000, 3600)
    [result] = await writer.write(batch)
    return result


async def history(client: aioredis.Redis, message_id: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in await client.lrange(KEYS.history(message_id), 0, -1)]


async def test_apply_lua_notes_an_intermediate_receipt_on_the_history_only(
    redis_client: aioredis.Redis,
) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    assert await submit(writer, "m1", ["a1", "a2"]) == ["mapped", "mapped"]
    assert await receipt(writer, "a2", "buffered", False, err="005") == "intermediate"
    assert await receipt(writer, "a1", "enroute", False) == "intermediate"
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"submitted"
    assert [e["status"] for e in await events(redis_client)] == ["accepted", "submitted"]
    assert [e for e in await history(redis_client, "m1") if "receipt_state" in e] == [
        {"id": "m1", "status": "submitted", "ts": "ts", "carrier": "c",
         "receipt_state": "buffered", "part": 1, "receipt_error": "005"},
        {"id": "m1", "status": "submitted", "ts": "ts", "carrier": "c",
         "receipt_state": "enroute", "part": 0},
    ]  # fmt: skip
    assert await receipt(writer, "a1", "delivered", True) == "matched"
    assert await receipt(writer, "a2", "delivered", True) == "delivered 2.0 m1"
    # after the final status, a late intermediate receipt is a duplicate and noted nowhere
    assert await receipt(writer, "a1", "enroute", False) == "duplicate"
    assert len(await history(redis_client, "m1")) == 5  # accepted, submitted, 2 notes, final
    assert [e["status"] for e in await events(redis_client)] == [
        "accepted", "submitted", "delivered",
    ]  # fmt: skip


async def test_apply_lua_notes_an_intermediate_receipt_that_beat_its_submit_resp(
    redis_client: aioredis.Redis,
) -> None:
    store = StateStore(redis_client, KEYS)
    writer = StateWriter(store)
    await accept(store, "m1", "1-0")
    assert await receipt(writer, "x9", "scheduled", False) == "unmatched"
    assert await submit(writer, "m1", ["x9"]) == ["early"]
    notes = [e for e in await history(redis_client, "m1") if "receipt_state" in e]
    assert [(e["status"], e["receipt_state"]) for e in notes] == [("submitted", "scheduled")]
    assert (await redis_client.hget(KEYS.message("m1"), "status")) == b"submitted"


async def test_intermediate_receipts_are_recorded_and_the_final_receipt_still_lands(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    config = simulator_config(
        receipts={"intermediate": INTERMEDIATE},
        prefix_rules=[{"prefix": "447911111", "outcome": "UNDELIV", "err": 11}],
    )
    messages = [message("ok"), message("undeliv", to="+447911111123")]
    async with start_simulator(config) as sim:
        path = write_gateway_config(tmp_path / "gw.yaml", sim, consumer="gw")
        log = tmp_path / "gw.log"
        async with gateway_process(path, redis_server.url, log) as gw:
            await wait_for_binds(sim, 1, [(gw, log)])
            await enqueue(redis_client, messages)
            events = await wait_for_statuses(redis_client, ["mok", "mundeliv"])
    # The events stream keeps its contract: no status for intermediate receipts, one final.
    assert statuses(events, "mok") == ["accepted", "submitted", "delivered"], events["mok"]
    assert statuses(events, "mundeliv") == ["accepted", "submitted", "undelivered"]
    assert events["mundeliv"][-1]["error"]["code"] == "011"
    assert await hash_statuses(redis_client, ["mok", "mundeliv"]) == {
        "mok": "delivered",
        "mundeliv": "undelivered",
    }
    for message_id in ("mok", "mundeliv"):
        history = [
            json.loads(raw)
            for raw in await redis_client.lrange(f"smsgw:msg:{message_id}:history", 0, -1)
        ]
        noted = [entry for entry in history if "receipt_state" in entry]
        assert [e["receipt_state"] for e in noted] == [
            "enroute", "buffered", "scheduled", "accepted", "unknown",
        ], history  # fmt: skip
        assert all(e["status"] == "submitted" and e["carrier"] == "sim" for e in noted), noted
        assert [e["status"] for e in history if "receipt_state" not in e] == statuses(
            events, message_id
        )
