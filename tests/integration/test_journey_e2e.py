"""Journey rules end to end: STOP from a handset, conversion and opt-out signals, on the real
engine with a real redis-server and the simulator.

Marketing is held by quiet hours in the recipient's local time, so these tests run the engine
on a clock shifted to the next weekday noon in London (the recipients are UK mobiles).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    message,
    running_engine,
    statuses,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import RunningSimulator
from tests.integration.streams import stream_entries


def london_noon_clock() -> Callable[[], float]:
    """time.time shifted so that London's local time is noon on the next weekday."""
    london = ZoneInfo("Europe/London")
    day = dt.datetime.now(london).date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=london).timestamp()
    offset = noon - time.time()
    return lambda: time.time() + offset


def iso_in(clock: Callable[[], float], seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(clock() + seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def signal(client: aioredis.Redis, **fields: object) -> None:
    await client.xadd("smsgw:signals", {"data": json.dumps(fields)})


async def test_stop_suppresses_queued_marketing_but_transactional_still_goes(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    clock = london_noon_clock()
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    to = "+447911290001"
    later = iso_in(clock, 1.5)
    batch = [
        message("mkt1", to=to, category="marketing", send_at=later),
        message("mkt2", to=to, category="marketing", send_at=later),
        message("txn", to=to, category="transactional", send_at=later),
        message("other", to="+447911290002", category="marketing", send_at=later),
    ]
    async with running_engine(settings, clock=clock):
        await enqueue(redis_client, batch)
        await wait_for_statuses(redis_client, ["mmkt1", "mmkt2", "mtxn"], {"deferred"})
        # the handset replies STOP to the sender of the queued messages
        assert simulator.inject_mo(source="447911290001", destination="Acme", text="Stop") == 1
        inbound = await _wait_inbound(redis_client, 1)
        events = await wait_for_statuses(redis_client, ["mmkt1", "mmkt2", "mtxn", "mother"])
        confirmation = await _wait_confirmation(redis_client, "confirm:opt_out:447911290001:")
    assert json.loads(inbound[0])["text"] == "Stop"
    assert confirmation["status"] == "delivered"  # one confirmation goes back to the handset
    replies = [m for m in simulator.messages() if m.text.startswith("You have been unsubscribed")]
    assert [m.destination_addr for m in replies] == ["447911290001"]
    for marketing in ("mmkt1", "mmkt2"):
        final = events[marketing][-1]
        assert final["status"] == "suppressed"
        assert final["error"]["code"] == "opted_out"
    assert statuses(events, "mtxn")[-1] == "delivered"
    assert statuses(events, "mother")[-1] == "delivered"


async def test_conversion_signal_suppresses_marketing_already_deferred(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    clock = london_noon_clock()
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    later = iso_in(clock, 1.5)
    async with running_engine(settings, clock=clock):
        await enqueue(
            redis_client,
            [
                message("promo", to="+447911290011", category="marketing", send_at=later),
                message("otp", to="+447911290011", category="otp", send_at=later),
            ],
        )
        await wait_for_statuses(redis_client, ["mpromo"], {"deferred"})
        await signal(redis_client, type="conversion", to="07911 290011", country="GB")
        events = await wait_for_statuses(redis_client, ["mpromo", "motp"])
    assert events["mpromo"][-1]["status"] == "suppressed"
    assert events["mpromo"][-1]["error"]["code"] == "conversion_suppressed"
    assert statuses(events, "motp")[-1] == "delivered"


async def test_bad_signals_are_acknowledged_and_later_ones_still_apply(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    clock = london_noon_clock()
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    async with running_engine(settings, clock=clock):
        await redis_client.xadd("smsgw:signals", {"data": "{not json"})
        await redis_client.xadd("smsgw:signals", {"other": "no data field"})
        await signal(redis_client, type="teleport", to="+447911290021")
        await signal(redis_client, type="opt_out", to="not a number")
        await signal(redis_client, type="opt_out", to="+447911290021")
        await _wait_signals_acked(redis_client, 5)
        await enqueue(redis_client, [message("after", to="+447911290021", category="marketing")])
        events = await wait_for_statuses(redis_client, ["mafter"])
    assert events["mafter"][-1]["status"] == "suppressed"
    assert events["mafter"][-1]["error"]["code"] == "opted_out"


async def _wait_inbound(client: aioredis.Redis, count: int) -> list[bytes]:
    deadline = time.monotonic() + 10
    while True:
        entries = await stream_entries(client, "smsgw:inbound")
        if len(entries) >= count:
            return [fields[b"data"] for _, fields in entries]
        assert time.monotonic() < deadline, "no MO on the inbound stream"
        await _tick()


async def _wait_confirmation(client: aioredis.Redis, id_prefix: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        for _, fields in await stream_entries(client, "smsgw:events"):
            event = json.loads(fields[b"data"])
            if str(event["id"]).startswith(id_prefix) and event["status"] == "delivered":
                return dict(event)
        assert time.monotonic() < deadline, f"no delivered {id_prefix}* confirmation"
        await _tick()


async def _wait_signals_acked(client: aioredis.Redis, count: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        groups = await client.xinfo_groups("smsgw:signals")
        if groups and groups[0]["entries-read"] == count and groups[0]["pending"] == 0:
            return
        assert time.monotonic() < deadline, f"signals not all acknowledged: {groups}"
        await _tick()


async def _tick() -> None:
    await asyncio.sleep(0.02)
