"""Sent once, never lost, never stuck: `smsgw run` as a real process against real Redis.

Each test reproduces one way main 70bb502 broke the README's guarantees (issue 11): pending
entries resent on every read after a restart with the same consumer name, too-long texts
pending forever, one bad entry stalling its batch, and a SIGTERM drain that kept starting
submits. The simulator runs in this process, so a test can read what the carrier received.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from tests.conftest import RedisServer, free_port
from tests.integration.engine_harness import (
    FINAL,
    enqueue,
    events_by_id,
    message,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import simulator_config, start_simulator
from tests.integration.test_engine_crash import (
    check_one_final_each,
    gateway_process,
    hash_statuses,
    log_tail,
    wait_for_binds,
    wait_for_carrier_count,
    write_gateway_config,
)

STREAM, GROUP = "smsgw:outbound", "smsgw"


def copies_received(received: Any, messages: list[dict[str, Any]]) -> Counter[str]:
    """How many times the carrier received each message (by its unique text)."""
    id_by_text = {m["text"]: m["id"] for m in messages}
    return Counter(id_by_text[m.text] for m in received if m.text in id_by_text)


def regressions(events: dict[Any, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Ids with any event after their first final one (a final state never changes)."""
    found = {}
    for message_id, evs in events.items():
        statuses = [e["status"] for e in evs]
        first = next((n for n, s in enumerate(statuses) if s in FINAL), None)
        if first is not None and first < len(statuses) - 1:
            found[message_id] = statuses
    return found


async def test_restart_with_the_same_consumer_name_resumes_each_pending_entry_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """A run that read 300 entries and stopped left them pending under its name; the next
    run with that name resumes each exactly once (main re-read them on every read: 500
    pending made 7,072 submits)."""
    messages = [message(f"pending-{n}") for n in range(300)]
    ids = {m["id"] for m in messages}
    await redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await enqueue(redis_client, messages)
    read = await redis_client.xreadgroup(GROUP, "gw-fixed", {STREAM: ">"}, count=1000)
    assert isinstance(read, list)  # RESP2: [[stream, entries]]
    assert len(read[0][1]) == len(messages)  # all pending under gw-fixed, none processed
    config = simulator_config(recent_messages=10_000, faults={"response_delay": 0.02})
    async with start_simulator(config) as sim:
        path = write_gateway_config(
            tmp_path / "gw.yaml", sim, consumer="gw-fixed",
            engine={"max_in_flight": 64}, carrier={"window": 10},
        )  # fmt: skip
        log = tmp_path / "gw.log"
        async with gateway_process(path, redis_server.url, log) as gw:
            await wait_for_binds(sim, 1, [(gw, log)])
            events = await wait_for_statuses(redis_client, ids, within=40)
            await asyncio.sleep(0.5)  # a resend would show up now
            received = sim.messages()
    copies = copies_received(received, messages)
    extra = {i: n for i, n in copies.items() if n != 1}
    assert not extra, f"{len(extra)} ids not sent exactly once, e.g. {list(extra.items())[:5]}"
    assert set(copies) == ids
    check_one_final_each(await events_by_id(redis_client), await hash_statuses(redis_client, ids))
    assert not regressions(events)
    assert (await redis_client.xpending(STREAM, GROUP))["pending"] == 0


async def test_sigkill_and_restart_with_the_same_consumer_name_sends_nothing_twice(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """`kill -9` under load, then the same consumer name again: main resent the pending
    entries on every read (2,000 messages made 36,054 submits) and final states went
    backwards. Now: one final event each, no regression, and no duplicate at all — what was
    in flight at the kill is held outcome-unknown, never resent (on_unknown_outcome: hold)."""
    total = 600
    messages = [message(f"kill-{n}") for n in range(total)]
    ids = {m["id"] for m in messages}
    config = simulator_config(
        recent_messages=10 * total,
        receipts={"delay": 0.2, "retry_delay": 0.2, "max_attempts": 50},
        faults={"response_delay": 0.05},
    )
    async with start_simulator(config) as sim:
        path = write_gateway_config(tmp_path / "gw.yaml", sim, consumer="gw-fixed")
        log_a, log_b = tmp_path / "gw-a.log", tmp_path / "gw-b.log"
        async with gateway_process(path, redis_server.url, log_a) as gw_a:
            await wait_for_binds(sim, 1, [(gw_a, log_a)])
            await enqueue(redis_client, messages)
            await wait_for_carrier_count(sim, total // 4, gw_a, log_a)
            gw_a.kill()
            await gw_a.wait()
        await wait_for_binds(sim, 0, [])
        async with gateway_process(path, redis_server.url, log_b) as gw_b:
            await wait_for_binds(sim, 1, [(gw_b, log_b)])
            events = await wait_for_statuses(redis_client, ids, within=40)
            await asyncio.sleep(0.5)
            received = sim.messages()
    copies = copies_received(received, messages)
    twice = {i: n for i, n in copies.items() if n > 1}
    assert not twice, f"{len(twice)} ids sent more than once, e.g. {list(twice.items())[:5]}"
    check_one_final_each(events, await hash_statuses(redis_client, ids))
    assert not regressions(events), list(regressions(events).items())[:3]
    never = ids - set(copies)
    # only a message cut off mid-submit may never have reached the carrier: held, then failed
    for message_id in never:
        final = [e for e in events[message_id] if e["status"] in FINAL]
        assert final[0]["error"]["code"] == "outcome_unknown", events[message_id]


async def test_texts_over_the_carriers_max_parts_are_rejected_at_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """Under max_text_length but over max_parts (700 UCS-2 characters: 11 parts; 1,600 GSM
    characters: 11 parts): rejected `too_many_parts` at once, not pending forever."""
    long_ucs2 = message("long-ucs2", text="ж" * 700)
    long_gsm = message("long-gsm", text="a" * 1600)
    batch = [long_ucs2, long_gsm, message("fits")]
    async with start_simulator() as sim:
        path = write_gateway_config(tmp_path / "gw.yaml", sim, consumer="gw")
        log = tmp_path / "gw.log"
        async with gateway_process(path, redis_server.url, log) as gw:
            await wait_for_binds(sim, 1, [(gw, log)])
            await enqueue(redis_client, batch)
            events = await wait_for_statuses(redis_client, [m["id"] for m in batch], within=15)
    for item in (long_ucs2, long_gsm):
        [final] = [e for e in events[item["id"]] if e["status"] in FINAL]
        assert (final["status"], final["error"]["code"]) == ("rejected", "too_many_parts")
    assert [e["status"] for e in events["mfits"]][-1] == "delivered"
    assert (await redis_client.xpending(STREAM, GROUP))["pending"] == 0


async def test_bad_entries_are_rejected_alone_and_never_stall_their_batch(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """A lone surrogate, JSON nested 100,000 deep and two `data` fields, read in one batch
    with good entries: each bad one rejected with its reason, the good ones delivered, and
    nothing left pending (main raised in ingest and left the whole batch pending)."""
    good = [message(f"good-{n}") for n in range(5)]
    surrogate = b'{"id": "m-surrogate", "to": "+447911200001", "text": "x\\ud800y"}'
    nested = b'{"id": "m-nested", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    await redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await enqueue(redis_client, [good[0], surrogate, good[1], nested, good[2]])
    # xadd cannot send a field twice; redis-py leaves execute_command untyped
    two_fields = await redis_client.execute_command(  # type: ignore[no-untyped-call]
        "XADD", STREAM, "*", "data", json.dumps(message("two-a")), "data", "{}"
    )
    await enqueue(redis_client, good[3:])
    two_fields_id = two_fields.decode()
    async with start_simulator() as sim:
        path = write_gateway_config(tmp_path / "gw.yaml", sim, consumer="gw")
        log = tmp_path / "gw.log"
        async with gateway_process(path, redis_server.url, log) as gw:
            await wait_for_binds(sim, 1, [(gw, log)])
            wanted = [m["id"] for m in good] + ["m-surrogate", two_fields_id]
            events = await wait_for_statuses(redis_client, wanted, within=15)
            pending = (await redis_client.xpending(STREAM, GROUP))["pending"]
    assert all(events[m["id"]][-1]["status"] == "delivered" for m in good)
    assert events["m-surrogate"][-1]["error"]["code"] == "invalid_text"
    assert events[two_fields_id][-1]["error"]["code"] == "duplicate_field"
    codes = Counter(e["error"]["code"] for evs in events.values() for e in evs if "error" in e)
    assert codes["invalid_json"] == 1  # the nested one
    assert pending == 0
    assert await redis_client.hget("smsgw:msg:m-surrogate", "status") == b"rejected"


async def test_sigterm_drain_sends_nothing_new_and_leaves_the_rest_for_the_next_run(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """A slow carrier (1 s per response), a window of 5, 50 messages, SIGTERM once the window
    is full: only what was on the wire is waited for; nothing fails `outcome_unknown`
    (main failed ~50 that never reached the carrier); the rest stay pending and the next run
    with the same consumer name sends each exactly once."""
    messages = [message(f"drain-{n}") for n in range(50)]
    ids = {m["id"] for m in messages}
    config = simulator_config(faults={"response_delay": 1.0})
    async with start_simulator(config) as sim:
        path = write_gateway_config(
            tmp_path / "gw.yaml", sim, consumer="gw-fixed",
            carrier={"window": 5}, engine={"shutdown_drain": 5.0},
        )  # fmt: skip
        log_a, log_b = tmp_path / "gw-a.log", tmp_path / "gw-b.log"
        async with gateway_process(path, redis_server.url, log_a) as gw_a:
            await wait_for_binds(sim, 1, [(gw_a, log_a)])
            await enqueue(redis_client, messages)
            deadline = time.monotonic() + 10
            # the window is on the wire and every entry was read (so each one is either
            # submitted or pending when the drain ends)
            while sim.stats()["messages_stored"] < 5 or await _unread(redis_client):
                assert time.monotonic() < deadline, f"no submits: {sim.stats()}"
                await asyncio.sleep(0.01)
            gw_a.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(gw_a.wait(), 20)
        assert code == 0, log_tail(log_a)
        sent_during_first_run = len(sim.messages())
        first = await events_by_id(redis_client)
        pending = (await redis_client.xpending(STREAM, GROUP))["pending"]
        sim.set_faults(response_delay=0.0)
        async with gateway_process(path, redis_server.url, log_b) as gw_b:
            await wait_for_binds(sim, 1, [(gw_b, log_b)])
            events = await wait_for_statuses(redis_client, ids, within=30)
            received = sim.messages()
    observed = f"{sent_during_first_run} sent before the drain ended, {pending} left pending"
    assert sent_during_first_run <= 10, observed  # the window, plus at most one refill
    first_finals = Counter(
        e["status"] for evs in first.values() for e in evs if e["status"] in FINAL
    )
    assert set(first_finals) <= {"delivered"}, (first_finals, observed)  # receipts, no failure
    assert pending == len(messages) - sum(
        1 for evs in first.values() if any(e["status"] == "submitted" for e in evs)
    ), observed
    copies = copies_received(received, messages)
    assert set(copies) == ids, observed
    assert set(copies.values()) == {1}, observed
    assert all(evs[-1]["status"] == "delivered" for i, evs in events.items() if i in ids)
    print(observed)


async def test_readiness_fails_while_ingest_cannot_read_the_stream(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """The outbound stream key overwritten with a string: every read fails, so /readyz
    answers 503 naming ingest, and 200 again once the stream is back."""
    ops = free_port()
    async with start_simulator() as sim:
        path = write_gateway_config(tmp_path / "gw.yaml", sim, consumer="gw", ops_port=ops)
        log = tmp_path / "gw.log"
        async with gateway_process(path, redis_server.url, log) as gw:
            await wait_for_binds(sim, 1, [(gw, log)])
            assert (await readyz_until(ops, 200))[0] == 200
            await redis_client.delete(STREAM)
            await redis_client.set(STREAM, "not a stream")
            status, body = await readyz_until(ops, 503)
            assert status == 503, body
            assert "ingest" in body["tasks_failing"], body
            await redis_client.delete(STREAM)
            await redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
            assert (await readyz_until(ops, 200))[0] == 200


async def readyz_until(port: int, wanted: int, within: float = 15.0) -> tuple[int, Any]:
    """Poll /readyz until it answers `wanted` (or the deadline); returns status and body."""
    deadline = time.monotonic() + within
    while True:
        status, body = await asyncio.to_thread(_get_readyz, port)
        if status == wanted or time.monotonic() > deadline:
            return status, body
        await asyncio.sleep(0.1)


def _get_readyz(port: int) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, None


async def _unread(client: aioredis.Redis) -> int:
    """Entries of the outbound stream not yet delivered to the consumer group."""
    [group] = await client.xinfo_groups(STREAM)
    return int(group["lag"] or 0)
