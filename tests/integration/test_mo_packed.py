"""A carrier that delivers packed GSM-7: its MO is unpacked with its profile (issue 13 item 4).

Real pieces: the simulator in this process with `mo_gsm7_packed` (TS 23.038 §6.1.2.1 8-in-7,
packed by its own codec, not ours), a real Bind, CarrierDeliveries writing to a real
redis-server, and the real compliance policy recording the opt-out in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from compliance.encoding import EncodingProfile
from compliance.verdict import Category, ComplianceRequest, MoOutcome, Reason
from gateway.carrier.bind import Bind
from gateway.config import Settings
from gateway.engine.compliance_wiring import build_policy
from gateway.engine.deliveries import CarrierDeliveries
from gateway.store.state_store import StateStore, StateWriter
from tests.conftest import RedisServer
from tests.integration.engine_harness import engine_settings, running_engine
from tests.integration.simulator_fixture import simulator_config, start_simulator
from tests.integration.streams import StreamEntries, stream_entries
from tests.integration.test_state_store import CTX, KEYS
from tests.unit.engine.test_deliveries import FakeObserver

WAIT = 5.0
HANDSET = "447911123456"


class MoObserver(FakeObserver):
    def __init__(self) -> None:
        super().__init__()
        self.received = asyncio.Event()

    def mo_received(self, carrier: str, outcome: MoOutcome | None) -> None:
        self.received.set()


async def inbound_texts(client: aioredis.Redis) -> list[str]:
    entries = await stream_entries(client, KEYS.inbound)
    return [json.loads(fields[b"data"])["text"] for _id, fields in entries]


@pytest.mark.parametrize(("packed", "stop_seen"), [(True, True), (False, False)])
async def test_stop_sent_packed_is_honoured_when_the_carrier_is_configured_packed(
    redis_server: RedisServer, redis_client: aioredis.Redis, packed: bool, stop_seen: bool
) -> None:
    """With `gsm7_packed: true` the STOP the simulator packs is read as STOP and opts the
    handset out; with the profile left unpacked (the old behaviour for every carrier) the
    same octets read as garbage and nothing is opted out."""
    settings = Settings(redis_url=redis_server.url, key_prefix="t:")
    policy = build_policy(settings, redis_client)
    observer = MoObserver()
    handler = CarrierDeliveries(
        carrier="sim",
        receipt_id_mode="auto",
        ctx=CTX,
        writer=StateWriter(StateStore(redis_client, KEYS)),
        mo_policy=policy,
        observer=observer,
        profile=EncodingProfile(gsm7_packed=packed),
    )
    async with start_simulator(simulator_config(mo_gsm7_packed=True)) as simulator:
        bind = Bind(simulator.bind_settings(), on_delivery=handler, rng=random.Random(1))
        bind.start()
        try:
            await asyncio.wait_for(bind.wait_bound(), WAIT)
            assert simulator.inject_mo(source=HANDSET, destination="12345", text="STOP") == 1
            await asyncio.wait_for(observer.received.wait(), WAIT)
        finally:
            await asyncio.wait_for(bind.close(drain_seconds=0.2), WAIT)
    assert (await inbound_texts(redis_client) == ["STOP"]) is stop_seen
    request = ComplianceRequest(to=f"+{HANDSET}", sender="12345", category=Category.marketing,
                                country_hint=None, text="Sale", parts=1)  # fmt: skip
    verdict = await policy.evaluate(request, datetime(2026, 6, 3, 12, tzinfo=UTC), consume=False)
    assert (verdict.reason is Reason.opted_out) is stop_seen


async def test_the_engine_decodes_a_packed_carriers_mo_with_its_profile(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """`smsgw run`'s wiring: the engine hands each carrier's profile to its deliveries, so a
    packed STOP reaches the inbound stream as "STOP" (it arrived unpacked-garbled before)."""
    async with start_simulator(simulator_config(mo_gsm7_packed=True)) as simulator:
        settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
        carrier = dataclasses.replace(
            settings.carriers[0],
            encoding=dataclasses.replace(settings.carriers[0].encoding, gsm7_packed=True),
        )
        settings = dataclasses.replace(settings, carriers=(carrier,))
        async with running_engine(settings):
            assert simulator.inject_mo(source=HANDSET, destination="12345", text="STOP") == 1
            deadline = asyncio.get_running_loop().time() + WAIT
            entries: StreamEntries = []
            while not entries:
                assert asyncio.get_running_loop().time() < deadline, "no MO on the inbound stream"
                entries = await stream_entries(redis_client, "smsgw:inbound")
                await asyncio.sleep(0.02)
    assert json.loads(entries[0][1][b"data"])["text"] == "STOP"
