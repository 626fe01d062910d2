"""One `info` line per message reaching a final status (docs/operations.md, "Logs").

Real redis-server, the real simulator over a socket, the engine in this process with its log
lines captured: messages finished by receipts, refused by the plan, and entries rejected at
the door each get exactly one `message_final` line naming them, with their final status.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import redis.asyncio as aioredis
import structlog

from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    engine_settings,
    enqueue,
    message,
    running_engine,
    wait_for_statuses,
)
from tests.integration.simulator_fixture import RunningSimulator, simulator_config
from tests.integration.test_journey_e2e import _wait_signals_acked

FINAL = {"delivered", "undelivered", "expired", "rejected", "failed", "suppressed"}


async def test_each_final_status_is_logged_once_with_its_message_id(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator: RunningSimulator
) -> None:
    settings = engine_settings(redis_server.url, [("sim", simulator.host, simulator.port)])
    delivered = [message(n) for n in range(20)]
    refused = message("bad-number", to="+44123")
    with structlog.testing.capture_logs() as logs:
        async with running_engine(settings):
            await enqueue(redis_client, [*delivered, refused, b"{not json"])
            events = await wait_for_statuses(
                redis_client, [m["id"] for m in delivered] + ["mbad-number"]
            )
            bad_json = next(k for k, evs in events.items() if evs[0].get("entry_id") == k)
    finals = {k: evs[-1]["status"] for k, evs in events.items() if evs[-1]["status"] in FINAL}
    lines = [line for line in logs if line["event"] == "message_final"]
    assert Counter(line["message_id"] for line in lines) == Counter(list(finals))  # once each
    assert {line["message_id"]: line["status"] for line in lines} == finals
    assert all(line["log_level"] == "info" for line in lines)
    assert finals[bad_json] == "rejected"
    assert finals["mbad-number"] == "rejected"
    assert {finals[m["id"]] for m in delivered} == {"delivered"}
    by_id = {line["message_id"]: line for line in lines}
    assert by_id["m0"]["carrier"] == "sim"
    assert by_id[bad_json]["reason"] == "invalid_json"
    assert json.dumps(lines)  # plain values only: what a JSON log line can carry


async def test_undelivered_failed_and_suppressed_are_logged_once_too(
    redis_server: RedisServer, redis_client: aioredis.Redis, simulator_factory: Any
) -> None:
    """A receipt saying UNDELIV, a submit refused for good (ESME_RINVDSTADR) and marketing to
    an opted-out number: one `message_final` line each, with the status and code recorded."""
    config = simulator_config(
        prefix_rules=[
            {"prefix": "44791123", "outcome": "UNDELIV", "err": 1},
            {"prefix": "44791124", "submit_status": 0x0B},
        ],
        receipts={"delay": 0.05},
    )
    async with simulator_factory(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)])
        items = [
            message("undeliv", to="+447911230001"),
            message("failed", to="+447911240001"),
            message("optedout", to="+447911250001", category="marketing"),
        ]
        with structlog.testing.capture_logs() as logs:
            async with running_engine(settings):
                await redis_client.xadd(
                    "smsgw:signals",
                    {"data": json.dumps({"type": "opt_out", "to": "+447911250001"})},
                )
                await _wait_signals_acked(redis_client, 1)
                await enqueue(redis_client, items)
                events = await wait_for_statuses(redis_client, [m["id"] for m in items])
    finals = {k: evs[-1] for k, evs in events.items() if evs[-1]["status"] in FINAL}
    assert {k: e["status"] for k, e in finals.items()} == {
        "mundeliv": "undelivered",
        "mfailed": "failed",
        "moptedout": "suppressed",
    }
    lines = [line for line in logs if line["event"] == "message_final"]
    assert Counter(line["message_id"] for line in lines) == Counter(list(finals))  # once each
    assert {line["message_id"]: line["status"] for line in lines} == {
        k: e["status"] for k, e in finals.items()
    }
    by_id = {line["message_id"]: line for line in lines}
    assert by_id["moptedout"]["reason"] == "opted_out"
