"""Receipts whose SMSC writes the handset otherwise than it was submitted.

The engine submits a recipient as E.164 digits with TON 1, and keys its message, its shard and
its destination index by those digits. Many SMSCs give the handset back in the receipt's
source_addr their own way: nationally (07911123456, TON 2), with the "00" prefix, or with '+'
(the simulator's `receipts.handset_format`). The receipt must still settle its message: in the
recipient's shard (`streams.shards: 4`, one redis-server and the Redis Cluster), and by
destination when the submit's response never came. National numbers are read in
compliance.yaml's `default_region` (gateway/carrier/handset.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.config import Settings
from gateway.store.shards import ShardMap
from gateway.store.state_store import lua_script
from simulator.config import HandsetFormat
from simulator.receipts import handset_address
from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    message,
    running_engine,
    statuses,
    wait_for_statuses,
)
from tests.integration.redis_backends import Backend
from tests.integration.simulator_fixture import (
    RunningSimulator,
    simulator_config,
    start_simulator,
)
from tests.integration.test_shards import enqueue_on_shards, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 4


def compliance_in_gb(tmp_path: Path) -> dict[str, Any]:
    """The repository's compliance config with `default_region: GB`."""
    config_dir = tmp_path / "compliance"
    shutil.copytree(ROOT / "config" / "countries", config_dir / "countries")
    settings = yaml.safe_load((ROOT / "config" / "compliance.yaml").read_text(encoding="utf-8"))
    settings["default_region"] = "GB"
    (config_dir / "compliance.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return {"config_dir": str(config_dir)}


def sharded(backend: Backend, sim: RunningSimulator, **overrides: Any) -> Settings:
    """Engine settings with `streams.shards: 4` on the test's backend, to `sim`."""
    return engine_settings(
        backend.url,
        [("sim", sim.host, sim.port)],
        streams={"shards": SHARDS},
        redis_cluster=backend.cluster,
        **overrides,
    )


def assert_delivered_in_home_shards(
    shards: ShardMap, batch: list[dict[str, Any]], events: dict[str, list[Any]]
) -> None:
    """Each message's events, accepted -> submitted -> delivered, all in its recipient's shard."""
    for item in batch:
        home = shards.of(item["to"]).index
        assert [(shard, status) for shard, status, _ in events[item["id"]]] == [
            (home, "accepted"),
            (home, "submitted"),
            (home, "delivered"),
        ]


async def receipt_counters(registry: CollectorRegistry, *, rerouted: int) -> dict[str, float]:
    """smsgw_receipts_{rerouted,unmatched,matched_late}_total of carrier "sim", once
    `rerouted` have been counted (or after 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        counted = {
            name: registry.get_sample_value(f"smsgw_receipts_{name}_total", {"carrier": "sim"})
            or 0.0
            for name in ("rerouted", "unmatched", "matched_late")
        }
        if counted["rerouted"] >= rerouted or time.monotonic() > deadline:
            return counted
        await asyncio.sleep(0.02)


def as_written(to: str, handset_format: HandsetFormat) -> str:
    """The receipt's source_addr for recipient `to` (E.164 with '+')."""
    return handset_address((1, 1, to.removeprefix("+")), handset_format)[2]


@pytest.mark.parametrize("handset_format", ["national", "idd", "plus"])
async def test_each_receipt_settles_its_message_in_the_recipients_shard(
    backend: Backend, tmp_path: Path, handset_format: HandsetFormat
) -> None:
    """Before the handset was read back to E.164, a receipt written `national` or `idd` was
    looked for in the shard of the number as written: its message stayed `submitted` until its
    receipt timeout (48 h by default) and then said `expired`."""
    config = simulator_config(receipts={"handset_format": handset_format, "delay": 0.02})
    async with start_simulator(config) as sim:
        settings = sharded(backend, sim, compliance=compliance_in_gb(tmp_path))
        shards = ShardMap.from_settings(settings)
        batch = [message(n) for n in range(16)]
        moved = [m for m in batch if shards.of(as_written(m["to"], handset_format)) is not
                 shards.of(m["to"])]  # fmt: skip
        if handset_format != "plus":  # else this test proves nothing
            assert len(moved) >= len(batch) // 2
        async with running_engine(settings):
            await enqueue_on_shards(backend.client, shards, batch)
            events = await wait_for(backend.client, shards, {m["id"]: "delivered" for m in batch})
        sent = sim.messages()
    assert len(sent) == len(batch)
    assert_delivered_in_home_shards(shards, batch, events)


async def test_a_held_message_is_settled_by_a_receipt_from_its_handset_written_nationally(
    redis_server: RedisServer, redis_client: Any, tmp_path: Path
) -> None:
    """The carrier answers each submit after the gateway gave up waiting (outcome unknown: the
    message is held, not resent), and its receipt names the handset nationally. The receipt
    matches no carrier id, so it settles the held message by destination, which needs the
    handset as the message was indexed: before, it matched nothing and each message ended
    `failed` (outcome_unknown) when its hold ran out, although it was delivered."""
    config = simulator_config(
        receipts={"handset_format": "national", "delay": 0.02},
        faults={"response_delay": 0.6},
    )
    async with start_simulator(config) as sim:
        settings = engine_settings(
            redis_server.url,
            [("sim", sim.host, sim.port)],
            compliance=compliance_in_gb(tmp_path),
        )
        carrier = dataclasses.replace(settings.carriers[0], response_timeout=0.2)
        settings = dataclasses.replace(settings, carriers=(carrier,))
        batch = [message(n) for n in range(4)]
        ids = [m["id"] for m in batch]
        async with running_engine(settings):
            await enqueue(redis_client, batch)
            events = await wait_for_statuses(redis_client, ids, within=20)
        sent = sim.messages()
    assert len(sent) == len(batch), "a held message was sent again"
    for message_id in ids:
        assert statuses(events, message_id)[-1] == "delivered", statuses(events, message_id)


LONG_CODE = "+447700900999"  # a numeric sender: no parser can tell it from a handset


def carrier_timeout(settings: Settings, response_timeout: float) -> Settings:
    carrier = dataclasses.replace(settings.carriers[0], response_timeout=response_timeout)
    return dataclasses.replace(settings, carriers=(carrier,))


async def test_receipts_that_name_a_numeric_sender_are_found_in_their_messages_shard(
    backend: Backend,
) -> None:
    """An SMSC that does not swap a receipt's addresses names the sender where the handset
    should be. A long code looks like any handset, so every receipt goes to its shard, where
    most of their messages are not. Parked there, each is tried in the other shards once its
    grace (the carrier's response timeout and a second) has passed, and settles its message
    where it is. Before, those messages stayed `submitted` until their receipt timeout (48 h by
    default), then ended `expired` although delivered."""
    config = simulator_config(receipts={"swap_addresses": False, "delay": 0.02})
    async with start_simulator(config) as sim:
        settings = carrier_timeout(sharded(backend, sim), 1.0)
        shards = ShardMap.from_settings(settings)
        batch = [message(n, **{"from": LONG_CODE}) for n in range(16)]
        elsewhere = [m for m in batch if shards.of(m["to"]) is not shards.of(LONG_CODE)]
        assert len(elsewhere) >= len(batch) // 2  # else this test proves little
        async with running_engine(settings) as engine:
            await enqueue_on_shards(backend.client, shards, batch)
            events = await wait_for(backend.client, shards, {m["id"]: "delivered" for m in batch})
            # counted once the engine has the call's answer, just after the events are in Redis
            counted = await receipt_counters(engine.registry, rerouted=len(elsewhere))
            await orphans_left(backend, shards, 0)  # each unparked once applied
        sent = sim.messages()
    assert len(sent) == len(batch)
    assert all(m.source_addr == LONG_CODE.removeprefix("+") for m in sent)
    assert counted["rerouted"] == len(elsewhere)
    assert counted["unmatched"] == counted["matched_late"]  # none left unmatched
    assert_delivered_in_home_shards(shards, batch, events)
    for shard in shards.shards:  # nothing left parked
        assert await backend.client.keys(f"{shard.prefix}early:*") == []


async def test_receipts_that_name_an_alphanumeric_sender_go_straight_to_their_handsets_shard(
    backend: Backend,
) -> None:
    """A sender like "Acme" cannot be a handset: the receipt's destination_addr is. Each
    receipt goes straight to its message's shard; none is parked or rerouted."""
    config = simulator_config(receipts={"swap_addresses": False, "delay": 0.02})
    async with start_simulator(config) as sim:
        settings = carrier_timeout(sharded(backend, sim), 1.0)
        shards = ShardMap.from_settings(settings)
        batch = [message(n) for n in range(16)]
        async with running_engine(settings) as engine:
            await enqueue_on_shards(backend.client, shards, batch)
            events = await wait_for(backend.client, shards, {m["id"]: "delivered" for m in batch})
            counted = await receipt_counters(engine.registry, rerouted=0)
        sent = sim.messages()
    assert all(m.source_addr == "Acme" for m in sent)
    assert counted == {"rerouted": 0, "unmatched": 0, "matched_late": 0}
    assert_delivered_in_home_shards(shards, batch, events)


@pytest.mark.parametrize("sender", ["Acme", LONG_CODE], ids=["alphanumeric", "long_code"])
async def test_a_held_message_is_settled_by_a_receipt_that_names_its_sender(
    backend: Backend, sender: str
) -> None:
    """The carrier answers each submit after the gateway gave up waiting (outcome unknown: the
    message is held, not resent), and its receipt, not swapped, names the sender as
    source_addr. Matching no carrier id, it can settle its message only by destination: the
    handset, its destination_addr.
    - "Acme" cannot be a handset, so the receipt goes straight to the handset's shard.
    - A long code can: the receipt goes to the long code's shard, and its destination_addr is
      tried by destination there at once, and in the other shards when the orphan is tried.
    Before, it was looked for under the sender only: each message ended `failed`
    (outcome_unknown) when its hold ran out, although it was delivered."""
    config = simulator_config(
        receipts={"swap_addresses": False, "delay": 0.02}, faults={"response_delay": 0.6}
    )
    async with start_simulator(config) as sim:
        settings = carrier_timeout(sharded(backend, sim), 0.2)
        shards = ShardMap.from_settings(settings)
        batch = [message(n, **{"from": sender}) for n in range(12)]
        if sender == LONG_CODE:  # some in the long code's shard, some elsewhere
            assert {shards.of(m["to"]) is shards.of(LONG_CODE) for m in batch} == {True, False}
        async with running_engine(settings):
            await enqueue_on_shards(backend.client, shards, batch)
            events = await wait_for(backend.client, shards, {m["id"]: "delivered" for m in batch})
        sent = sim.messages()
    assert len(sent) == len(batch), "a held message was sent again"
    for item in batch:
        statuses = [status for _, status, _ in events[item["id"]]]
        assert "failed" not in statuses, statuses
        assert statuses[-1] == "delivered", statuses


async def test_orphans_taken_by_an_instance_that_died_before_trying_them_are_tried_later(
    backend: Backend,
) -> None:
    """Another instance took every due orphan (claim_orphans.lua, as its sweep does) and died
    before trying them. Taking one makes it due again later, so this engine's sweep still
    tries each and settles its message. Before, taking removed it: those messages stayed
    `submitted` until their receipt timeout, and then said `expired`."""
    config = simulator_config(receipts={"swap_addresses": False, "delay": 0.02})
    async with start_simulator(config) as sim:
        settings = carrier_timeout(sharded(backend, sim), 1.0)  # orphans due 2 s after parking
        shards = ShardMap.from_settings(settings)
        batch = [message(n, **{"from": LONG_CODE}) for n in range(16)]
        elsewhere = [m for m in batch if shards.of(m["to"]) is not shards.of(LONG_CODE)]
        assert elsewhere
        async with running_engine(settings):
            await enqueue_on_shards(backend.client, shards, batch)
            parked = shards.of(LONG_CODE)
            await orphans_left(backend, shards, len(elsewhere))
            claim = backend.client.register_script(lua_script("claim_orphans"))
            latest = max(s for _, s in await backend.client.zrange(
                f"{parked.prefix}orphans", 0, -1, withscores=True))  # fmt: skip
            taken = await claim(keys=[f"{parked.prefix}orphans"],
                                args=[parked.prefix, latest, 100, 1.0])  # fmt: skip
            assert len(taken) == len(elsewhere)  # all of them, before this engine's sweep
            events = await wait_for(backend.client, shards, {m["id"]: "delivered" for m in batch})
    assert_delivered_in_home_shards(shards, batch, events)


async def orphans_left(backend: Backend, shards: ShardMap, count: int) -> None:
    """Wait (up to 10 s) until the shards' orphans sets hold `count` receipts in all."""
    deadline = time.monotonic() + 10
    while True:
        held = sum([await backend.client.zcard(f"{s.prefix}orphans") for s in shards.shards])
        if held == count:
            return
        assert time.monotonic() < deadline, f"{held} orphans parked, not {count}"
        await asyncio.sleep(0.02)
