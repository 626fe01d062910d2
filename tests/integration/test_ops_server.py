"""The ops HTTP server over real loopback sockets: routes, readiness, and hostile clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypedDict, Unpack

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from common.http_server import HttpServer
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.ops_server import make_readiness, start_ops_server
from tests.conftest import free_port

# Generous safety bounds so a broken server fails a test instead of hanging it.
GUARD = 5.0

ReadinessFn = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def always_ready() -> tuple[bool, dict[str, object]]:
    return True, {"redis": "ok"}


@dataclass
class Ops:
    port: int
    registry: CollectorRegistry

    async def raw(self, payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(payload)
            await writer.drain()
            return await asyncio.wait_for(reader.read(), GUARD)
        finally:
            writer.close()
            await writer.wait_closed()

    async def request(self, method: str, path: str) -> Reply:
        data = await self.raw(f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        return parse(data)


def parse(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("ascii").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split(" ")[1]), headers, body)


class ServerOptions(TypedDict, total=False):
    request_timeout: float
    max_connections: int


async def serve(
    readiness: ReadinessFn = always_ready, **options: Unpack[ServerOptions]
) -> tuple[HttpServer, Ops]:
    registry = CollectorRegistry()
    GatewayMetrics(registry, carriers=["acme"], version="1.0.0", process_collectors=False)
    server = await start_ops_server(
        "127.0.0.1", 0, registry=registry, readiness=readiness, **options
    )
    return server, Ops(server.port, registry)


@pytest.fixture
async def ops() -> AsyncIterator[Ops]:
    server, client = await serve()
    try:
        yield client
    finally:
        await server.stop()


async def test_metrics_serves_prometheus_text_format(ops: Ops) -> None:
    reply = await ops.request("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == CONTENT_TYPE_LATEST
    assert int(reply.headers["content-length"]) == len(reply.body)
    names = {f.name for f in text_string_to_metric_families(reply.body.decode())}
    assert {"smsgw_build_info", "smsgw_submit_latency_seconds"} <= names


async def test_metrics_ignores_the_query_string(ops: Ops) -> None:
    reply = await ops.request("GET", "/metrics?name[]=smsgw_build_info")
    assert reply.status == 200
    assert b"smsgw_build_info" in reply.body


async def test_healthz_answers_ok_and_closes(ops: Ops) -> None:
    reply = await ops.request("GET", "/healthz")
    assert (reply.status, reply.body) == (200, b"ok\n")
    assert reply.headers["connection"] == "close"


async def test_head_sends_headers_without_body(ops: Ops) -> None:
    reply = await ops.request("HEAD", "/healthz")
    assert reply.status == 200
    assert reply.headers["content-length"] == "3"
    assert reply.body == b""


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/metricsx", 404),
        ("GET", "/../etc/passwd", 404),
        ("POST", "/metrics", 405),
        ("DELETE", "/healthz", 405),
    ],
)
async def test_unknown_paths_and_methods_are_refused(
    ops: Ops, method: str, path: str, status: int
) -> None:
    reply = await ops.request(method, path)
    assert reply.status == status
    if status == 405:
        assert reply.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "payload",
    [
        b"GET\r\n\r\n",
        b"GET /healthz\r\n\r\n",
        b"GET healthz HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"G\xc3\xa9T /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz SMPP/3.4\r\n\r\n",
    ],
)
async def test_garbage_requests_get_400(ops: Ops, payload: bytes) -> None:
    assert parse(await ops.raw(payload)).status == 400


async def test_blank_lines_before_the_request_line_are_ignored(ops: Ops) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request."""
    reply = parse(await ops.raw(b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"))
    assert (reply.status, reply.body) == (200, b"ok\n")


async def test_oversized_request_head_gets_400(ops: Ops) -> None:
    """aiohttp bounds each request-head line to 8190 bytes and answers 400 past it."""
    payload = b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Fill: " + b"a" * 9000 + b"\r\n\r\n"
    assert parse(await ops.raw(payload)).status == 400


async def test_truncated_request_is_closed_without_reply(ops: Ops) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ops.port)
    writer.write(b"GET /metrics HTTP/1.1\r\n")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), GUARD) == b""
    writer.close()
    await writer.wait_closed()


async def test_slow_client_is_disconnected_after_the_request_timeout() -> None:
    server, client = await serve(request_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"GET /metrics HTTP/1.1\r\n")  # and never finishes the head
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), GUARD) == b""
        assert loop.time() - started < GUARD
        writer.close()
        await writer.wait_closed()
        reply = await client.request("GET", "/healthz")  # the server is still serving
        assert reply.status == 200
    finally:
        await server.stop()


async def test_connections_over_the_limit_get_503_at_once() -> None:
    server, client = await serve(max_connections=2)
    idle = [await asyncio.open_connection("127.0.0.1", client.port) for _ in range(2)]
    try:
        # Connections are accepted in backlog order, so this third one is over the limit.
        reply = parse(await client.raw(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"))
        assert reply.status == 503
        assert reply.body == b"busy\n"
    finally:
        for _, writer in idle:
            writer.close()
            await writer.wait_closed()
        await server.stop()


async def test_readyz_reports_ready_as_json(ops: Ops) -> None:
    reply = await ops.request("GET", "/readyz")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert json.loads(reply.body) == {"ready": True, "redis": "ok"}


async def test_readyz_is_503_when_not_ready() -> None:
    async def not_ready() -> tuple[bool, dict[str, object]]:
        return False, {"carriers_down": ["acme"]}

    server, client = await serve(not_ready)
    try:
        reply = await client.request("GET", "/readyz")
        assert reply.status == 503
        assert json.loads(reply.body) == {"ready": False, "carriers_down": ["acme"]}
    finally:
        await server.stop()


async def test_readyz_is_503_when_the_check_raises_or_hangs() -> None:
    async def broken() -> tuple[bool, dict[str, object]]:
        raise RuntimeError("redis pool exploded")

    never = asyncio.Event()

    async def hanging() -> tuple[bool, dict[str, object]]:
        await never.wait()
        return True, {}

    for check, error in ((broken, "RuntimeError"), (hanging, "readiness check timed out")):
        server, client = await serve(check, request_timeout=0.2)
        try:
            reply = await client.request("GET", "/readyz")
            assert reply.status == 503
            assert json.loads(reply.body) == {"ready": False, "error": error}
        finally:
            await server.stop()


async def test_concurrent_scrapes_are_all_answered(ops: Ops) -> None:
    replies = await asyncio.gather(*(ops.request("GET", "/metrics") for _ in range(20)))
    assert {reply.status for reply in replies} == {200}


async def test_start_fails_on_a_port_in_use(ops: Ops) -> None:
    with pytest.raises(OSError, match=r"(?i)in use"):
        await start_ops_server("127.0.0.1", ops.port, registry=ops.registry, readiness=always_ready)


async def test_make_readiness_needs_redis_and_a_bind_per_required_carrier(
    redis_client: aioredis.Redis,
) -> None:
    bound = {"acme": 1, "beta": 0}
    readiness = make_readiness(
        ping=redis_client.ping, binds_up=lambda: bound, required_carriers=["acme", "beta"]
    )
    assert await readiness() == (False, {"redis": "ok", "carriers_down": ["beta"]})
    bound["beta"] = 2
    assert await readiness() == (True, {"redis": "ok", "carriers_down": []})


async def test_make_readiness_reports_unreachable_redis() -> None:
    dead = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
    )
    try:
        readiness = make_readiness(
            ping=dead.ping, binds_up=lambda: {"acme": 1}, required_carriers=["acme"]
        )
        assert await readiness() == (False, {"redis": "unreachable", "carriers_down": []})
    finally:
        await dead.aclose()


async def test_readyz_end_to_end_with_real_redis(redis_client: aioredis.Redis) -> None:
    readiness = make_readiness(
        ping=redis_client.ping, binds_up=lambda: {"acme": 1}, required_carriers=["acme"]
    )
    server, client = await serve(readiness)
    try:
        reply = await client.request("GET", "/readyz")
        assert reply.status == 200
        assert json.loads(reply.body) == {"ready": True, "redis": "ok", "carriers_down": []}
    finally:
        await server.stop()
