"""Reloading carriers and routes (SIGHUP) while messages are in flight: nothing dropped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    message,
    running_engine,
    statuses,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import simulator_config, start_simulator


async def test_reload_moves_traffic_to_a_new_carrier_and_finishes_what_was_in_flight(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    slow = simulator_config(faults={"response_delay": 0.5})
    async with start_simulator(slow) as old, start_simulator(simulator_config()) as new:
        settings = engine_settings(redis_server.url, [("old", old.host, old.port)])
        first = [f"m{n}" for n in range(20)]
        async with running_engine(settings) as engine:
            await enqueue(redis_client, [message(n) for n in range(20)])
            await _wait(  # all 20 on the wire, their responses 0.5 s away
                lambda: old.stats()["pdus_received"].get("submit_sm", 0) >= 20, "not all sent"
            )
            summary = await engine.reload(
                engine_settings(redis_server.url, [("new", new.host, new.port)])
            )
            await enqueue(redis_client, [message(n) for n in range(20, 40)])
            events = await wait_for_statuses(redis_client, [f"m{n}" for n in range(40)])
        received_old = Counter(m.destination_addr for m in old.messages())
        received_new = Counter(m.destination_addr for m in new.messages())
    assert summary == {"added": ["new"], "changed": [], "removed": ["old"], "unchanged": []}
    for message_id in first:  # in flight on the old carrier: answered there, not resent
        assert statuses(events, message_id) == ["accepted", "submitted", "delivered"]
        assert events[message_id][1]["carrier"] == "old"
    for n in range(20, 40):
        submitted = next(e for e in events[f"m{n}"] if e["status"] == "submitted")
        assert submitted["carrier"] == "new"
    assert sum(received_old.values()) == 20
    assert sum(received_new.values()) == 20
    assert max((received_old + received_new).values()) == 1


async def test_unchanged_carriers_keep_their_binds(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with start_simulator(simulator_config()) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        async with running_engine(settings) as engine:
            binds_before = list(engine.pool.get("sim").binds)
            summary = await engine.reload(settings)
            assert engine.pool.get("sim").binds == binds_before
            await enqueue(redis_client, [message("after")])
            events = await wait_for_statuses(redis_client, ["mafter"])
    assert summary["unchanged"] == ["sim"]
    assert statuses(events, "mafter")[-1] == "delivered"


async def test_sighup_reloads_the_file_and_a_bad_file_changes_nothing(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with (
        start_simulator(simulator_config()) as first,
        start_simulator(simulator_config()) as second,
    ):
        config = tmp_path / "smsgw.yaml"
        data = _config(redis_server.url, first.port)
        config.write_text(yaml.safe_dump(data))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "--config", str(config), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SMSGW_REDIS_URL": redis_server.url},
        )  # fmt: skip
        try:
            await _wait(lambda: bool(first.stats()["binds"]), "gateway did not bind")
            config.write_text("carriers: [oops")  # not YAML: refused, the gateway carries on
            proc.send_signal(signal.SIGHUP)
            data["carriers"][0]["port"] = second.port
            await asyncio.sleep(0.3)
            config.write_text(yaml.safe_dump(data))
            proc.send_signal(signal.SIGHUP)
            await _wait(lambda: bool(second.stats()["binds"]), "no bind to the new port")
            await enqueue(redis_client, [message("hup")])
            await wait_for_statuses(redis_client, ["mhup"], {"delivered"})
            to = str(message("hup")["to"]).lstrip("+")
            assert [m.destination_addr for m in second.messages()] == [to]
            await _wait(lambda: not first.stats()["binds"], "old binds not closed")
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert b"config_reload_failed" in output
    assert b"config_reloaded" in output


def _config(redis_url: str, port: int) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "consumer": {"name": "hup", "block_ms": 20},
        "engine": {"scheduler_interval": 0.05, "shutdown_drain": 2.0},
        "ops": {"enabled": False},
        "logging": {"level": "info", "json": True},
        "carriers": [
            {"name": "sim", "host": "127.0.0.1", "port": port, "system_id": "smsgw",
             "password": "secret", "reconnect_max": 0.3}
        ],
        "routes": [{"name": "default", "targets": [{"carrier": "sim"}]}],
    }  # fmt: skip


async def _wait(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.02)
