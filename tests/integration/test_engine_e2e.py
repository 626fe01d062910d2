"""The delivery engine end to end: real redis-server, real simulator, real sockets.

XADD -> accepted -> submitted -> delivered, and every way that can go otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import cast

import redis.asyncio as aioredis

from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    events_by_id,
    message,
    running_engine,
    statuses,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import (
    RunningSimulator,
    simulator_config,
    start_simulator,
)

LONG_GSM = "Long message " * 30  # 390 characters: 3 GSM-7 parts
UCS2 = "Привет, мир! 👋 Ваш код 1234"


async def test_happy_path_gsm_ucs2_and_long_messages_are_delivered(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    texts = {"m1": "hello", "m2": UCS2, "m3": LONG_GSM, "m4": "Price: 5€ {ok}"}
    async with running_engine(settings):
        await enqueue(redis_client, [message(k[1:], text=v) for k, v in texts.items()])
        events = await wait_for_statuses(redis_client, texts)
    for message_id in texts:
        assert statuses(events, message_id) == ["accepted", "submitted", "delivered"]
    submitted = {k: next(e for e in events[k] if e["status"] == "submitted") for k in texts}
    assert submitted["m3"]["parts"] == 3
    assert submitted["m2"]["parts"] == 1
    received = {m.text for m in simulator.messages()}
    assert set(texts.values()) <= received  # the SMSC reassembled exactly our text
    record = cast(dict[bytes, bytes], await redis_client.hgetall("smsgw:msg:m3"))
    assert record[b"status"] == b"delivered"
    assert len(record[b"carrier_message_id"].split(b",")) == 3


async def test_bad_input_is_rejected_with_reasons_and_never_blocks(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    async with running_engine(settings):
        await enqueue(
            redis_client,
            [
                b"{not json",
                json.dumps({"id": "nofields"}).encode(),
                json.dumps(message("bad-date", send_at="soon")).encode(),
                json.dumps(message("bad-number", to="+44123")).encode(),
                json.dumps(message("ok")).encode(),
            ],
        )
        no_data_id = await redis_client.xadd("smsgw:outbound", {"other": "field"})
        assert isinstance(no_data_id, bytes)
        no_data = no_data_id.decode()
        events = await wait_for_statuses(redis_client, ["mok", "mbad-number"])
        events = await wait_for_statuses(redis_client, ["mbad-date", "nofields", no_data])
    rejected = [e for evs in events.values() for e in evs if e["status"] == "rejected"]
    reasons = sorted(e["error"]["code"] for e in rejected)
    assert "invalid_json" in reasons
    assert "missing_field" in reasons
    # with no readable id, the stream entry's id stands for it, in the event and the hash
    assert events[no_data][0]["entry_id"] == no_data
    assert await redis_client.hget(f"smsgw:msg:{no_data}", "error_code") == b"missing_field"
    assert statuses(events, "mok")[-1] == "delivered"
    assert statuses(events, "mbad-number") == ["accepted", "rejected"]
    pending = await redis_client.xpending("smsgw:outbound", "smsgw")
    assert pending["pending"] == 0  # every entry, good or bad, was acknowledged


async def test_same_id_twice_is_sent_once(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    async with running_engine(settings):
        await enqueue(redis_client, [message("dup"), message("dup"), message("other")])
        await wait_for_statuses(redis_client, ["mdup", "mother"])
        await asyncio.sleep(0.2)
    events = await events_by_id(redis_client)
    assert statuses(events, "mdup") == ["accepted", "submitted", "delivered"]
    assert sum(1 for m in simulator.messages() if m.text == "hello dup") == 1


async def test_permanent_and_transient_carrier_errors(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = simulator_config(
        prefix_rules=[
            {"prefix": "447911000", "submit_status": "ESME_RINVDSTADR"},
            {"prefix": "447911111", "outcome": "UNDELIV", "err": 11},
        ],
        faults={"error_share": 0.0},
    )
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        async with running_engine(settings):
            await enqueue(
                redis_client,
                [message("perm", to="+447911000123"), message("undeliv", to="+447911111123")],
            )
            events = await wait_for_statuses(redis_client, ["mperm", "mundeliv"])
    assert statuses(events, "mperm") == ["accepted", "failed"]
    failed = events["mperm"][-1]
    assert failed["error"]["code"] == "ESME_RINVDSTADR"
    assert statuses(events, "mundeliv") == ["accepted", "submitted", "undelivered"]
    assert events["mundeliv"][-1]["error"]["code"] == "011"


async def test_transient_errors_are_retried_until_delivered(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = simulator_config(faults={"error_share": 0.5, "error_status": "ESME_RSYSERR"},
                              seed=7)  # fmt: skip
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)],
                                   retry={"max_attempts": 10})  # fmt: skip
        ids = [f"m{n}" for n in range(20)]
        async with running_engine(settings):
            await enqueue(redis_client, [message(n) for n in range(20)])
            events = await wait_for_statuses(redis_client, ids, {"delivered"})
    retried = [i for i in ids if "deferred" in statuses(events, i)]
    assert retried, "with half the submits failing, some messages must have been retried"
    for message_id in ids:
        assert statuses(events, message_id)[-1] == "delivered"


async def test_throttling_answers_slow_down_without_failing(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = simulator_config(faults={"tps": 50, "tps_burst": 5})
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        ids = [f"m{n}" for n in range(60)]
        async with running_engine(settings):
            await enqueue(redis_client, [message(n) for n in range(60)])
            events = await wait_for_statuses(redis_client, ids, {"delivered"}, within=20)
        throttled = sim.stats()["submit_responses"].get("ESME_RTHROTTLED", 0)
    assert throttled > 0
    assert all(statuses(events, i)[-1] == "delivered" for i in ids)
    assert not any("failed" in statuses(events, i) for i in ids)


async def test_receipt_before_submit_response_is_matched(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = simulator_config(faults={"dlr_before_resp": True}, receipts={"delay": 0.0})
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        async with running_engine(settings) as engine:
            await enqueue(redis_client, [message(n) for n in range(10)])
            events = await wait_for_statuses(redis_client, [f"m{n}" for n in range(10)])
            registry = engine.registry
    for n in range(10):
        assert statuses(events, f"m{n}") == ["accepted", "submitted", "delivered"]
    # a receipt applied before its submit_sm_resp was recorded is counted unmatched on
    # arrival and matched late; none stays unmatched
    unmatched = registry.get_sample_value("smsgw_receipts_unmatched_total", {"carrier": "sim"})
    late = registry.get_sample_value("smsgw_receipts_matched_late_total", {"carrier": "sim"})
    assert unmatched == late, (unmatched, late)


async def test_failover_to_second_carrier_when_first_is_down(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with start_simulator() as first, start_simulator() as second:
        settings = engine_settings(
            redis_server.url,
            [("first", first.host, first.port), ("second", second.host, second.port)],
        )
        async with running_engine(settings) as engine:
            await enqueue(redis_client, [message(n) for n in range(5)])
            await wait_for_statuses(redis_client, [f"m{n}" for n in range(5)])
            await first.server.close()  # the first carrier goes away
            deadline = asyncio.get_running_loop().time() + 5
            while engine.pool.is_available("first"):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
            await enqueue(redis_client, [message(n) for n in range(5, 10)])
            events = await wait_for_statuses(redis_client, [f"m{n}" for n in range(5, 10)])
    for n in range(5, 10):
        submitted = next(e for e in events[f"m{n}"] if e["status"] == "submitted")
        assert submitted["carrier"] == "second"
        assert statuses(events, f"m{n}")[-1] == "delivered"


async def test_connection_dropped_mid_window_holds_outcome_unknown_then_resolves(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Submits in flight when the link dies are not blindly resent: they are held, and each
    ends in exactly one final state (delivered by a late receipt, or failed outcome_unknown)."""
    config = simulator_config(faults={"drop_after_pdus": 12, "response_delay": 0.05})
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        ids = [f"m{n}" for n in range(30)]
        async with running_engine(settings):
            await enqueue(redis_client, [message(n) for n in range(30)])
            events = await wait_for_statuses(redis_client, ids, within=30)
        texts = [m.text for m in sim.messages()]
    for message_id in ids:
        finals = [s for s in statuses(events, message_id) if s in ("delivered", "failed")]
        assert len(finals) == 1, (message_id, statuses(events, message_id))
    assert len(texts) == len(set(texts)), "a held outcome-unknown message was sent twice"


async def test_graceful_stop_leaves_nothing_half_done(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    async with running_engine(settings):
        await enqueue(redis_client, [message(n) for n in range(200)])
        await asyncio.sleep(0.2)
    # after a clean stop, each message is either submitted (or further) or still pending
    events = await events_by_id(redis_client)
    pending = (await redis_client.xpending("smsgw:outbound", "smsgw"))["pending"]
    done = sum(1 for n in range(200) if "submitted" in statuses(events, f"m{n}"))
    never_read = 200 - len([n for n in range(200) if f"m{n}" in events])
    assert done + pending + never_read >= 200
    async with running_engine(settings):  # the rest goes out on the next run
        await wait_for_statuses(redis_client, [f"m{n}" for n in range(200)], {"submitted"})
    counts: dict[str, int] = {}
    for m in simulator.messages():
        counts[m.text or ""] = counts.get(m.text or "", 0) + 1
    assert max(counts.values()) == 1


async def test_light_traffic_takes_a_carriers_binds_in_turn(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    """One message per tick finds both binds idle each time: it goes to them in turn
    (Carrier.bind_for), not always to the first, so a carrier's per-bind rate is shared."""
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    carrier = dataclasses.replace(settings.carriers[0], binds=2)
    settings = dataclasses.replace(settings, carriers=(carrier,))
    async with running_engine(settings) as engine:
        binds = engine.pool.get("sim").binds
        async with asyncio.timeout(5):
            await asyncio.gather(*(b.wait_bound() for b in binds))
        for n in range(6):  # each alone: submitted before the next is enqueued
            await enqueue(redis_client, [message(n)])
            await wait_for_statuses(redis_client, [f"m{n}"], {"submitted"})
        await wait_for_statuses(redis_client, [f"m{n}" for n in range(6)])
    assert [b.submits_accepted for b in binds] == [3, 3]
