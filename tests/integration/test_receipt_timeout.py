"""A carrier that never sends receipts (as after its crash): `smsgw run` settles its submitted
messages `expired` with code receipt_timeout once the carrier's `receipt_timeout` passes, and
leaves alone the messages of a carrier whose receipts come in time.

Real redis-server, two in-process simulators (one never sends a receipt within the test),
and one gateway started with the console entry point and a generated config file.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime
from pathlib import Path

import redis.asyncio as aioredis
import yaml

from tests.conftest import RedisServer, free_port
from tests.integration.engine_harness import enqueue, events_by_id, message, wait_for_statuses
from tests.integration.simulator_fixture import simulator_config, start_simulator
from tests.integration.test_engine_crash import (
    check_one_final_each,
    final_events,
    gateway_process,
    hash_statuses,
    instance_metric,
    wait_for_binds,
    write_gateway_config,
)

TIMEOUT = 2  # seconds: the gateway's receipt_timeout for both carriers
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def test_messages_without_a_receipt_expire_after_receipt_timeout_and_others_are_untouched(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    dead_ids = [f"m{n}" for n in range(20)]
    live = [message(f"live{n}", to=f"+44791129{n:04d}") for n in range(20)]
    live_ids = [m["id"] for m in live]
    ops_port = free_port()
    never = simulator_config(receipts={"delay": 86_400})  # the crashed carrier's receipts
    prompt = simulator_config(receipts={"delay": 0.05})
    async with start_simulator(never) as dead_sim, start_simulator(prompt) as live_sim:
        config = write_gateway_config(
            tmp_path / "gw.yaml", dead_sim, consumer="gw", ops_port=ops_port,
            carrier={"name": "dead", "receipt_timeout": TIMEOUT},
        )  # fmt: skip
        data = yaml.safe_load(config.read_text())
        data["carriers"].append(
            {**data["carriers"][0], "name": "live", "host": live_sim.host, "port": live_sim.port}
        )
        data["routes"] = [
            {"name": "live", "prefixes": ["44791129"], "targets": [{"carrier": "live"}]},
            {"name": "default", "targets": [{"carrier": "dead"}]},
        ]
        config.write_text(yaml.safe_dump(data))
        log = tmp_path / "gw.log"
        async with gateway_process(config, redis_server.url, log) as gw:
            await wait_for_binds(dead_sim, 1, [(gw, log)])
            await wait_for_binds(live_sim, 1, [(gw, log)])
            await enqueue(redis_client, [message(n) for n in range(20)] + live)
            # Before the fix the dead carrier's messages stay `submitted` and this times out.
            events = await wait_for_statuses(redis_client, dead_ids + live_ids, within=20)
            # Past the live messages' own deadline and a few sweeps: still delivered, once.
            live_submitted = max(
                _epoch(e["ts"]) for i in live_ids for e in events[i] if e["status"] == "submitted"
            )
            await asyncio.sleep(max(0.0, live_submitted + TIMEOUT + 0.5 - time.time()))
            events = await events_by_id(redis_client)
            timed_out = {
                carrier: await asyncio.to_thread(
                    instance_metric, ops_port, "smsgw_receipts_timed_out_total", carrier=carrier
                )
                for carrier in ("dead", "live")
            }
            expired_metric = await asyncio.to_thread(
                instance_metric, ops_port, "smsgw_message_events_total",
                carrier="dead", status="expired",
            )  # fmt: skip
        assert dead_sim.stats()["messages_stored"] == len(dead_ids)

    records = await hash_statuses(redis_client, dead_ids + live_ids)
    check_one_final_each(events, records)
    for message_id in live_ids:
        assert final_events(events, message_id)[0]["status"] == "delivered", events[message_id]
    for message_id in dead_ids:
        [final] = final_events(events, message_id)
        [submitted] = [e for e in events[message_id] if e["status"] == "submitted"]
        assert final["status"] == "expired", final
        assert final["error"] == {
            "code": "receipt_timeout",
            "reason": "no final delivery receipt within the carrier's receipt_timeout",
        }
        assert final["carrier"] == "dead"
        assert final["carrier_message_id"] == submitted["carrier_message_id"] != ""
        assert (final["parts"], final["attempt"]) == (1, 1)
        assert ISO_MS.fullmatch(final["ts"]), final
        waited = _epoch(final["ts"]) - _epoch(submitted["ts"])
        assert TIMEOUT <= waited < TIMEOUT + 5, f"settled {waited:.3f} s after submit"
        record = await redis_client.hgetall(f"smsgw:msg:{message_id}")
        assert record[b"status"] == b"expired"
        assert record[b"error_code"] == b"receipt_timeout"
        history = await redis_client.lrange(f"smsgw:msg:{message_id}:history", 0, -1)
        assert json.loads(history[-1]) == final
    assert await redis_client.zcard("smsgw:receipt_due") == 0
    assert timed_out == {"dead": len(dead_ids), "live": 0}
    assert expired_metric == len(dead_ids)
