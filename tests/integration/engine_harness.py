"""Helpers to run the real engine against real redis-server and simulator instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from common.config_loader import merge
from gateway.config import Settings, settings_from_mapping
from gateway.engine.runner import Engine
from gateway.messages import FINAL_STATUSES
from tests.integration.streams import stream_entries

FINAL = {s.value for s in FINAL_STATUSES}


def engine_settings(redis_url: str, carriers: Sequence[tuple[str, str, int]],
                    **overrides: Any) -> Settings:  # fmt: skip
    """Settings for tests: fast timers, no ops port, routes to the first carrier then the rest."""
    data: dict[str, Any] = {
        "redis_url": redis_url,
        "consumer": {
            "name": "test-1",
            "block_ms": 20,
            "claim_idle_ms": 1000,
            "claim_interval": 0.2,
        },
        "engine": {
            "scheduler_interval": 0.05,
            "shutdown_drain": 2.0,
            "unknown_outcome_hold": 2.0,
        },
        "ops": {"enabled": False},
        "logging": {"level": "warning"},
        "retry": {"initial_delay": 0.05, "max_delay": 0.2, "max_attempts": 3},
        "carriers": [
            {
                "name": name,
                "host": host,
                "port": port,
                "system_id": "smsgw",
                "password": "secret",
                "window": 20,
                "response_timeout": 2.0,
                "enquire_link_interval": 5.0,
                "reconnect_max": 0.3,
            }
            for name, host, port in carriers
        ],
        "routes": [
            {
                "name": "default",
                "targets": [{"carrier": carriers[0][0]}],
                "fallbacks": [name for name, _, _ in carriers[1:]],
            }
        ],
    }
    return settings_from_mapping(merge(data, overrides))


@contextlib.asynccontextmanager
async def running_engine(
    settings: Settings, *, wait_bound: bool = True, clock: Callable[[], float] = time.time
) -> AsyncIterator[Engine]:
    """Run an Engine in this loop until the block exits, then stop it gracefully."""
    engine = Engine(settings, clock=clock)
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(engine.run(stop))
    try:
        if wait_bound:
            deadline = time.monotonic() + 10
            while not all(c.available for c in engine.pool):
                assert time.monotonic() < deadline, "binds did not come up"
                assert not task.done(), task.exception()
                await asyncio.sleep(0.01)
        yield engine
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def message(n: int | str, **fields: Any) -> dict[str, Any]:
    """A valid transactional message to a UK mobile; each n its own recipient, so the default
    per-recipient frequency caps (config/compliance.yaml) do not defer test traffic."""
    index = n if isinstance(n, int) else zlib.crc32(n.encode())
    to = f"+4479112{index % 100_000:05d}"
    return {"id": f"m{n}", "to": to, "from": "Acme", "text": f"hello {n}", **fields}


async def enqueue(client: aioredis.Redis, messages: Iterable[dict[str, Any] | bytes],
                  stream: str = "smsgw:outbound") -> None:  # fmt: skip
    for item in messages:
        data = item if isinstance(item, bytes) else json.dumps(item)
        await client.xadd(stream, {"data": data})


async def events_by_id(
    client: aioredis.Redis, stream: str = "smsgw:events"
) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {}
    for _, fields in await stream_entries(client, stream):
        event = json.loads(fields[b"data"])
        found.setdefault(event["id"], []).append(event)
    return found


async def wait_for_statuses(
    client: aioredis.Redis, ids: Iterable[str], wanted: set[str] | None = None,
    within: float = 15.0,
) -> dict[Any, list[dict[str, Any]]]:  # fmt: skip
    """Poll the events stream until every id has an event whose status is in `wanted`."""
    wanted = wanted or FINAL
    ids = set(ids)
    deadline = time.monotonic() + within
    while True:
        events = await events_by_id(client)
        missing = {i for i in ids if not any(e["status"] in wanted for e in events.get(i, []))}
        if not missing:
            return events
        if time.monotonic() > deadline:
            sample = [events.get(i) for i in sorted(missing)[:2]]
            raise AssertionError(
                f"no {sorted(wanted)} event for {len(missing)} ids; e.g. {sample}"
            )  # fmt: skip
        await asyncio.sleep(0.02)


def statuses(events: dict[Any, list[dict[str, Any]]], message_id: str) -> list[str]:
    return [e["status"] for e in events.get(message_id, [])]
