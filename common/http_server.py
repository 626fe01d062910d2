"""A thin shell around aiohttp for smsgw's two small HTTP endpoints: start, route, stop.

This module owns how the gateway's ops endpoint and the simulator's control endpoint are
served; aiohttp does the HTTP/1.1 itself (parsing, framing, HEAD, 404 and 405 answers). The
shell adds what both endpoints promise on a port that anything on the network may reach:

- one request per connection: every answer carries `Connection: close` (RFC 9112 §9.6) and
  `Cache-Control: no-store`;
- a client has `request_timeout` seconds from connecting to send its request head (aiohttp's
  idle-connection timer), and the same again to read the answer, else the connection is
  aborted; request line and header lines are bounded by aiohttp (8190 bytes, else 400);
- at most `max_connections` connections are served at once, the rest get 503 `busy`;
- errors aiohttp raises (404, 405, 413) and any exception a handler raises (500, logged with
  its traceback) are answered by the endpoint's own `ErrorBody`, so a JSON endpoint answers
  errors in JSON; nothing a client sends raises out of the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

log = structlog.get_logger()

ErrorBody = Callable[[int, str], web.Response]
"""Builds an endpoint's error answer from an HTTP status and a short lower-case message."""

DEFAULT_TIMEOUT: Final = 5.0


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with a malformed request (the parser's `HttpProcessingError`,
    answered 400 by aiohttp) at warning level and without a traceback: it is the peer's
    misbehaviour, not our bug (style guide §5). Anything else stays an error."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.warning("%s: %s", str(msg) % args, exc_info.message, **kwargs)
        else:
            self.error(msg, *args, exc_info=exc_info, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def text_response(status: int, text: str) -> web.Response:
    """A `text/plain; charset=utf-8` answer of `text` and a newline (also an `ErrorBody`)."""
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


class HttpServer:
    """Serves `routes` on one host and port until `stop()`.

    Args:
        routes: aiohttp route definitions (`web.get("/healthz", handler)`, ...).
        error_body: how this endpoint words an error answer.
        request_timeout: seconds a client has to send its request head, and to read the answer.
        max_connections: connections served at once (None: no limit); more get 503 at once.
        max_body: largest request body accepted, in bytes (aiohttp answers 413 past it).
    """

    def __init__(
        self,
        routes: Iterable[web.RouteDef],
        *,
        error_body: ErrorBody = text_response,
        request_timeout: float = DEFAULT_TIMEOUT,
        max_connections: int | None = None,
        max_body: int = 65536,
    ) -> None:
        self._error_body = error_body
        self._timeout = request_timeout
        self._max_connections = max_connections
        app = web.Application(middlewares=[self._guard], client_max_size=max_body)
        app.add_routes(routes)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            logger=_ServerLog(logging.getLogger("aiohttp.server")),
            keepalive_timeout=request_timeout,
            shutdown_timeout=request_timeout,
        )
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        """The bound port (the one chosen when started with port 0).

        Raises:
            RuntimeError: the server is not started.
        """
        if self._site is None:
            raise RuntimeError("the HTTP server is not started")
        return self._site.port

    async def start(self, host: str, port: int) -> int:
        """Listen on `host`:`port` (0 picks a free port); returns once accepting, with the port.

        Raises:
            OSError: the address cannot be bound.
        """
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self._site = site
        return site.port

    async def stop(self) -> None:
        """Stop listening and close every connection (requests in progress get
        `request_timeout` to finish). Safe to call twice."""
        if self._site is not None:
            self._site = None
            await self._runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._answer(request, handler)
        response.force_close()
        response.headers["Cache-Control"] = "no-store"
        await self._send(request, response)
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._over_limit():
            return self._error_body(503, "busy")
        if request.version < (1, 0):  # HTTP/0.9 has no headers to answer with
            return self._error_body(400, "bad request")
        try:
            return await handler(request)
        except web.HTTPException as error:
            return self._http_error(error)
        except Exception:  # a supervisor boundary: log with traceback and keep serving
            log.exception("http_request_failed", method=request.method, path=request.path)
            return self._error_body(500, "internal error")

    def _over_limit(self) -> bool:
        server = self._runner.server
        limit = self._max_connections
        return limit is not None and server is not None and len(server.connections) > limit

    def _http_error(self, error: web.HTTPException) -> web.Response:
        response = self._error_body(error.status, error.reason.lower())
        if isinstance(error, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(error.allowed_methods))
        return response

    async def _send(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write the answer within the timeout, else abort the connection (a client that
        does not read holds no handler)."""
        try:
            async with asyncio.timeout(self._timeout):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            log.warning("http_client_too_slow", path=request.path)
            if request.transport is not None:
                request.transport.abort()
        except ConnectionError:
            pass  # the client went away; aiohttp finds the transport closed
