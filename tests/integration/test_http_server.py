"""common.http_server over real loopback sockets: port 0, error bodies, failures, slow readers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs
from structlog.typing import EventDict

from common.http_server import HttpServer

GUARD = 5.0
BIG = 32 * 1024 * 1024  # past any loopback socket buffers, so a reader that stops blocks us


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def broken(_request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a handler")


async def big(_request: web.Request) -> web.Response:
    return web.Response(body=bytes(BIG))


@contextlib.contextmanager
def logged(event: str) -> Iterator[asyncio.Event]:
    """An event set when structlog logs `event` (structlog's config is restored after)."""
    seen = asyncio.Event()

    def notice(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
        if event_dict.get("event") == event:
            seen.set()
        raise structlog.DropEvent

    saved = structlog.get_config()
    structlog.configure(processors=[notice], cache_logger_on_first_use=False)
    try:
        yield seen
    finally:
        structlog.configure(**saved)


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    routes = [web.get("/hello", hello), web.post("/hello", hello), web.get("/broken", broken)]
    http = HttpServer(routes, error_body=json_error)
    await http.start("127.0.0.1", 0)
    try:
        yield http
    finally:
        await http.stop()


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_port_zero_reports_the_bound_port(server: HttpServer) -> None:
    assert server.port > 0
    status, headers, body = await get(server.port, "/hello")
    assert (status, body) == (200, b"hello")
    assert headers["Connection"] == "close"
    assert headers["Cache-Control"] == "no-store"


async def test_errors_use_the_endpoints_error_body(server: HttpServer) -> None:
    status, _, body = await get(server.port, "/nowhere")
    assert (status, json.loads(body)) == (404, {"error": "not found"})
    status, headers, body = await get(server.port, "/hello", method="DELETE")
    assert (status, json.loads(body)) == (405, {"error": "method not allowed"})
    assert headers["Allow"] == "GET, HEAD, POST"


async def test_a_failing_handler_is_logged_and_answered_500(server: HttpServer) -> None:
    with capture_logs() as logs:
        status, _, body = await get(server.port, "/broken")
    assert (status, json.loads(body)) == (500, {"error": "internal error"})
    failed = [e for e in logs if e["event"] == "http_request_failed"]
    assert failed[0]["path"] == "/broken"
    assert failed[0]["log_level"] == "error"
    status, _, _ = await get(server.port, "/hello")  # and the server carries on
    assert status == 200


async def test_a_client_that_stops_reading_is_cut_off_after_the_timeout() -> None:
    http = HttpServer([web.get("/big", big)], request_timeout=0.2)
    await http.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    try:
        with logged("http_client_too_slow") as cut:
            writer.write(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
            # The client reads nothing until the server gives up on it.
            await asyncio.wait_for(cut.wait(), GUARD)
        received = 0
        with contextlib.suppress(ConnectionResetError):  # aborted: usually a reset
            async with asyncio.timeout(GUARD):
                while chunk := await reader.read(1 << 20):
                    received += len(chunk)
        assert received < BIG
    finally:
        writer.close()
        await http.stop()


async def test_start_on_a_port_in_use_raises_and_stop_is_idempotent(server: HttpServer) -> None:
    other = HttpServer([web.get("/hello", hello)])
    with pytest.raises(OSError, match=r"(?i)in use"):
        await other.start("127.0.0.1", server.port)
    with pytest.raises(RuntimeError, match="not started"):
        _ = other.port
    await other.stop()
    await server.stop()
    await server.stop()


async def test_a_malformed_request_is_a_warning_not_an_error(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The peer's fault (aiohttp's parser answers 400): logged at warning, no traceback."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /hello SMPP/3.4\r\nHost: test\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), GUARD)
    finally:
        writer.close()
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert records[0].exc_info is None
