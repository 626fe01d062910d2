"""The operations HTTP endpoint: `/metrics`, `/healthz` and `/readyz` on a tiny asyncio server.

This module owns the ops listener that Prometheus scrapes and that orchestrators probe. It
speaks just enough HTTP/1.1 (RFC 9112) for that: one `GET` or `HEAD` request per connection,
answered and closed (`Connection: close`, RFC 9112 §9.6), so no keep-alive state exists.

It defends itself, since the port may be reachable by anything on the network:
- the request head is bounded (`MAX_REQUEST_HEAD` bytes, else 431) and must arrive within
  `request_timeout` seconds (else the connection is closed: slow clients hold no slot long);
- writes must drain within the same timeout; at most `max_connections` are served at once
  and the rest get a 503 at once;
- a malformed request line gets 400, other methods 405, other paths 404, and nothing a
  client sends can raise out of the handler.

`/readyz` calls the injected `readiness()` coroutine (bounded by `request_timeout`) and
answers 200 or 503 with its details as JSON. `make_readiness` builds the gateway's rule:
Redis answers and every required carrier has at least one bind up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

log = structlog.get_logger()

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]
"""A coroutine function answering (ready, details); details become the /readyz JSON body."""

MAX_REQUEST_HEAD: Final = 8192
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 32

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT: Final = "text/plain; charset=utf-8"
_JSON: Final = "application/json"


class _Response:
    """A status, content type and body, plus any extra header lines."""

    __slots__ = ("body", "content_type", "extra", "status")

    def __init__(
        self, status: int, body: bytes, content_type: str = _TEXT, extra: str = ""
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra

    def encode(self, *, head_only: bool) -> bytes:
        head = (
            f"HTTP/1.1 {self.status} {_REASONS[self.status]}\r\n"
            f"Content-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\n"
            f"Cache-Control: no-store\r\n{self.extra}"
            "Connection: close\r\n\r\n"
        )
        return head.encode("ascii") + (b"" if head_only else self.body)


def _text(status: int, text: str, extra: str = "") -> _Response:
    return _Response(status, text.encode() + b"\n", _TEXT, extra)


class _OpsHandler:
    """Serves one connection at a time per call; shared state is the connection count."""

    def __init__(
        self,
        registry: CollectorRegistry,
        readiness: Readiness,
        timeout: float,
        max_connections: int,
    ) -> None:
        self._registry = registry
        self._readiness = readiness
        self._timeout = timeout
        self._max_connections = max_connections
        self._active = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # This task is the top of its connection: nothing awaits it, and on Python 3.11 the
        # stream protocol's done-callback calls task.exception(), which raises for a cancelled
        # task. So cancellation (loop shutdown) ends it quietly instead of propagating.
        self._active += 1
        try:
            if self._active > self._max_connections:
                await self._send(writer, _text(503, "busy"), head_only=False)
            else:
                await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass
        except Exception:  # a supervisor boundary: log with traceback and keep serving
            log.exception("ops_request_failed")
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), self._timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._timeout)
        except asyncio.LimitOverrunError:
            await self._send(writer, _text(431, "request head too large"), head_only=False)
            return
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return  # slow, truncated or vanished client: nothing useful to answer
        method, path = _parse_request_line(head)
        response = await self._respond(method, path)
        await self._send(writer, response, head_only=method == "HEAD")

    async def _respond(self, method: str | None, path: str | None) -> _Response:
        if method is None or path is None:
            return _text(400, "bad request")
        if path not in ("/metrics", "/healthz", "/readyz"):
            return _text(404, "not found")
        if method not in ("GET", "HEAD"):
            return _text(405, "method not allowed", "Allow: GET, HEAD\r\n")
        if path == "/healthz":
            return _text(200, "ok")
        if path == "/metrics":
            return _Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        return await self._ready()

    async def _ready(self) -> _Response:
        try:
            ready, details = await asyncio.wait_for(self._readiness(), self._timeout)
        except TimeoutError:
            ready, details = False, {"error": "readiness check timed out"}
        except Exception as exc:  # noqa: BLE001 - a failing check means "not ready", said in the body
            log.warning("readiness_check_failed", error=repr(exc))
            ready, details = False, {"error": type(exc).__name__}
        body = json.dumps({"ready": ready, **details}, default=str, sort_keys=True).encode()
        return _Response(200 if ready else 503, body + b"\n", _JSON)

    async def _send(
        self, writer: asyncio.StreamWriter, response: _Response, *, head_only: bool
    ) -> None:
        writer.write(response.encode(head_only=head_only))
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(writer.drain(), self._timeout)


def _parse_request_line(head: bytes) -> tuple[str | None, str | None]:
    """(method, path without query) from an HTTP/1.x request line, or (None, None)."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):  # RFC 9112 §3: 3 fields
        return None, None
    method, target = parts[0], parts[1]
    if not (method.isascii() and method.isalpha() and target.startswith(b"/")):
        return None, None
    path = target.split(b"?", 1)[0]
    return method.decode("ascii"), path.decode("ascii", errors="replace")


async def start_ops_server(
    host: str,
    port: int,
    *,
    registry: CollectorRegistry,
    readiness: Readiness,
    request_timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> asyncio.Server:
    """Start serving /metrics, /healthz and /readyz; the caller closes the returned server.

    Args:
        host: address to listen on (e.g. `0.0.0.0` in a container, `127.0.0.1` in tests).
        port: TCP port; 0 picks a free one (read it from `server.sockets[0].getsockname()`).
        registry: the registry `/metrics` exposes.
        readiness: coroutine function answering (ready, details) for `/readyz`.
        request_timeout: seconds a client has to send its request head, and to read the reply;
            also bounds the readiness check.
        max_connections: connections served at once; more get 503 straight away.

    Returns:
        The listening `asyncio.Server`.

    Raises:
        OSError: the address cannot be bound.
    """
    handler = _OpsHandler(registry, readiness, request_timeout, max_connections)
    server = await asyncio.start_server(handler, host, port, limit=MAX_REQUEST_HEAD)
    bound = [sock.getsockname()[1] for sock in server.sockets]
    log.info("ops_server_started", host=host, port=bound[0] if bound else port)
    return server


def make_readiness(
    *,
    ping: Callable[[], Awaitable[object]],
    binds_up: Callable[[], Mapping[str, int]],
    required_carriers: Collection[str],
    failing_tasks: Callable[[], Mapping[str, str]] = dict,
) -> Readiness:
    """Build the gateway's readiness rule: Redis answers and each required carrier has a bind up.

    Args:
        ping: coroutine function that raises (or returns False) when Redis is unreachable,
            e.g. `redis_client.ping`.
        binds_up: returns the number of bound binds per carrier name.
        required_carriers: carriers that must have at least one bind up.
        failing_tasks: the engine tasks failing right now (name -> last error), such as an
            ingest that cannot read the stream; any makes the gateway not ready.

    Returns:
        A coroutine function for `start_ops_server(readiness=...)`; its details name the
        state of Redis and the carriers with no bind up.
    """

    async def readiness() -> tuple[bool, dict[str, object]]:
        try:
            redis_ok = await ping() is not False
        except (RedisError, OSError, TimeoutError) as exc:
            redis_ok = False
            log.warning("readiness_redis_unreachable", error=repr(exc))
        counts = binds_up()
        missing = sorted(c for c in required_carriers if counts.get(c, 0) < 1)
        failing = dict(failing_tasks())
        details: dict[str, object] = {
            "redis": "ok" if redis_ok else "unreachable",
            "carriers_down": missing,
        }
        if failing:
            details["tasks_failing"] = failing
        return redis_ok and not missing and not failing, details

    return readiness
