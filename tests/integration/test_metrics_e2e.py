"""Metrics and readiness as an operator sees them: the real engine, its ops HTTP port, scraped.

The ops server is wired to the engine exactly as `gateway/cli/main.py` does (engine.registry,
engine.readiness); every check goes over a loopback socket, with bounded polling only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.engine.runner import Engine
from gateway.ops.metrics import MESSAGE_STATUSES
from gateway.ops.ops_server import start_ops_server
from tests.conftest import RedisServer
from tests.integration.engine_harness import (
    FINAL,
    engine_settings,
    enqueue,
    message,
    running_engine,
)
from tests.integration.simulator_fixture import simulator_config, start_simulator

GUARD = 5.0
"""Seconds any single HTTP exchange may take before the test fails instead of hanging."""

OPS = {"enabled": True, "host": "127.0.0.1", "port": 0}
"""Ops listener for tests: loopback, a port the OS picks (read back from the server)."""

LONG_GSM = "Metrics long message " * 20  # 420 GSM-7 characters: 3 parts
UNDELIVERED_TO = "+447911111123"  # the simulator's prefix rule answers UNDELIV err 11
EXPIRED_TO = "+447911222123"  # ... and EXPIRED
PHONE_LIKE = re.compile(r"\d{8,}")  # an MSISDN has at least 8 digits; bucket bounds do not


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


async def http_get(port: int, path: str) -> Reply:
    """One GET to the ops port (it answers and closes, RFC 9112 §9.6)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), GUARD)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return Reply(int(head.split(b" ", 2)[1]), body)


@contextlib.asynccontextmanager
async def ops_port(engine: Engine) -> AsyncIterator[int]:
    """Serve the engine's /metrics and /readyz as `gateway.cli` does; yield the bound port."""
    ops = engine.settings.ops
    server = await start_ops_server(
        ops.host, ops.port, registry=engine.registry, readiness=engine.readiness
    )
    try:
        yield server.port
    finally:
        await server.stop()


async def scrape(port: int) -> list[Sample]:
    """Every sample /metrics exposes, parsed as Prometheus text."""
    reply = await http_get(port, "/metrics")
    assert reply.status == 200, reply
    families = text_string_to_metric_families(reply.body.decode())
    return [sample for family in families for sample in family.samples]


def totals(samples: Iterable[Sample], name: str, label: str) -> Counter[str]:
    """Counter sample values of `name` summed over every label except `label`."""
    found: Counter[str] = Counter()
    for sample in samples:
        if sample.name == name:
            found[sample.labels[label]] += int(sample.value)
    return found


async def stream_events(client: aioredis.Redis) -> list[dict[str, Any]]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await client.xrange("smsgw:events"))
    return [json.loads(fields[b"data"]) for _, fields in entries]


def event_counts(events: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(e["status"] for e in events)


def as_dict(counts: Counter[str]) -> dict[str, int]:
    """Every public status with its count, zeros included, so comparisons name each one."""
    return {status: counts[status] for status in MESSAGE_STATUSES}


async def scrape_until_settled(
    port: int, client: aioredis.Redis, within: float = 5.0
) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Scrape until no message counter lags the events stream (metrics are updated just
    after the state write), or the deadline passes; returns the last scrape and events."""
    deadline = time.monotonic() + within
    while True:
        samples = await scrape(port)
        events = await stream_events(client)
        metric = totals(samples, "smsgw_message_events_total", "status")
        counted = event_counts(events)
        caught_up = all(metric[s] >= counted[s] for s in MESSAGE_STATUSES)
        if caught_up or time.monotonic() > deadline:
            return samples, events
        await asyncio.sleep(0.05)


async def test_metrics_scraped_during_a_run_agree_with_the_events_stream(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    config = simulator_config(
        prefix_rules=[
            {"prefix": UNDELIVERED_TO[1:10], "outcome": "UNDELIV", "err": 11},
            {"prefix": EXPIRED_TO[1:10], "outcome": "EXPIRED"},
        ],
        faults={"error_share": 0.0},
    )
    batch: list[dict[str, Any] | bytes] = [
        *(message(f"metrics-ok-{n}") for n in range(5)),
        message("metrics-long", text=LONG_GSM),
        message("metrics-undeliv", to=UNDELIVERED_TO),
        message("metrics-expired", to=EXPIRED_TO),
        message("metrics-bad-number", to="+44123"),
        b"{not json",
    ]
    ids = [item["id"] for item in batch if isinstance(item, dict)]
    async with start_simulator(config) as sim:
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim.port)], ops=OPS)
        async with running_engine(settings) as engine, ops_port(engine) as port:
            await enqueue(redis_client, batch)
            scrapes, during = 0, list[Sample]()
            deadline = time.monotonic() + 15
            while not await _all_final(redis_client, ids):
                assert time.monotonic() < deadline, "messages did not reach a final status"
                during = await scrape(port)  # scraped while messages are in flight
                scrapes += 1
                await asyncio.sleep(0.02)
            samples, events = await scrape_until_settled(port, redis_client)
    assert scrapes > 0, "the run ended before a single scrape"
    # The bad number is accepted, then rejected; the invalid JSON is rejected unaccepted.
    expected = Counter(
        accepted=len(ids), submitted=8, delivered=6, undelivered=1, expired=1, rejected=2
    )
    assert as_dict(event_counts(events)) == as_dict(expected)
    # each accepted message is judged by compliance exactly once (the bad number included)
    verdicts = totals(samples, "smsgw_compliance_verdicts_total", "outcome")
    assert verdicts == {"allow": len(ids) - 1, "reject": 1}, verdicts
    parts = sum(e["parts"] for e in events if e["status"] == "submitted")
    assert parts == 5 + 3 + 1 + 1
    assert sum(totals(samples, "smsgw_segments_total", "encoding").values()) == parts
    assert_bounded_labels(samples, ids, [m["to"] for m in batch if isinstance(m, dict)])
    metric = as_dict(totals(samples, "smsgw_message_events_total", "status"))
    during_counts = totals(during, "smsgw_message_events_total", "status")
    assert all(during_counts[s] <= metric[s] for s in MESSAGE_STATUSES), during_counts
    counted = as_dict(event_counts(events))
    assert metric == counted  # the 3-part message counts once, when its last part is delivered


async def _all_final(client: aioredis.Redis, ids: Iterable[str]) -> bool:
    """Every id final, and the unreadable entry rejected (under its stream entry id)."""
    events = await stream_events(client)
    final: set[str | None] = {e["id"] for e in events if e["status"] in FINAL}
    return all(i in final for i in ids) and any("entry_id" in e for e in events)


def assert_bounded_labels(samples: Iterable[Sample], ids: Iterable[str],
                          numbers: Iterable[str]) -> None:  # fmt: skip
    """No label value carries a message id or an MSISDN (docs/metrics.md, Label values)."""
    forbidden = [*ids, *(n.lstrip("+") for n in numbers)]
    values = {(k, v) for sample in samples for k, v in sample.labels.items()}
    for key, value in values:
        assert not any(f in value for f in forbidden), (key, value)
        assert not PHONE_LIKE.search(value), (key, value)
    carriers = {v for k, v in values if k == "carrier"}
    assert carriers <= {"sim", "none"}, carriers
    assert {v for k, v in values if k == "status"} <= set(MESSAGE_STATUSES)


async def wait_readyz(port: int, status: int, within: float = 10.0) -> dict[str, Any]:
    """Poll /readyz until it answers `status`; return its JSON body."""
    deadline = time.monotonic() + within
    while True:
        reply = await http_get(port, "/readyz")
        if reply.status == status:
            body: dict[str, Any] = json.loads(reply.body)
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {reply.status}: {reply.body!r}"
        await asyncio.sleep(0.05)


async def test_readyz_flips_when_the_simulator_goes_away_and_comes_back(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """A required carrier with no bind up makes /readyz 503 naming it, until it binds again."""
    ready = {"ready": True, "redis": "ok", "carriers_down": []}
    async with start_simulator() as sim:
        sim_port = sim.port  # picked by the OS at first start; the restart reuses it
        settings = engine_settings(redis_server.url, [("sim", sim.host, sim_port)], ops=OPS)
        assert settings.carrier("sim").required
        assert settings.carrier("sim").reconnect_max <= 0.5
        async with running_engine(settings) as engine, ops_port(engine) as port:
            assert await wait_readyz(port, 200) == ready
            await sim.server.close()
            down = await wait_readyz(port, 503)
            assert down == {"ready": False, "redis": "ok", "carriers_down": ["sim"]}
            assert (await http_get(port, "/healthz")).status == 200  # alive, just not ready
            async with start_simulator(simulator_config(port=sim_port)) as again:
                assert again.port == sim_port
                assert await wait_readyz(port, 200) == ready
