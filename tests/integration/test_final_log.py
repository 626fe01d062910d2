"""One `info` line per message reaching a final status (docs/operations.md, "Logs").

Real redis-server, the real simulator over a socket, the engine in this process with its log
lines captured: messages finished by receipts, refused by the plan, and entries rejected at
the door each get exactly one `message_final` line naming them, with their final status.
"""

from __future__ import annotations

import json
from collections import Counter

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
from tests.integration.simulator_fixture import RunningSimulator

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
