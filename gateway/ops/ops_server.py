"""The operations HTTP endpoint: `/metrics`, `/healthz` and `/readyz`.

This module owns the ops listener that Prometheus scrapes and that orchestrators probe: its
routes and the readiness rule. aiohttp serves them through `common.http_server`, which answers
one request per connection and defends the port (request timeout, connection limit, bounded
request head; see there). `GET` and `HEAD` are served; other methods get 405, other paths 404.

`/readyz` calls the injected `readiness()` coroutine (bounded by `request_timeout`) and
answers 200 or 503 with its details as JSON. `make_readiness` builds the gateway's rule:
Redis answers and every required carrier has at least one bind up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from common.http_server import DEFAULT_TIMEOUT, HttpServer, text_response

log = structlog.get_logger()

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]
"""A coroutine function answering (ready, details); details become the /readyz JSON body."""

DEFAULT_MAX_CONNECTIONS: Final = 32


class _OpsRoutes:
    """The three handlers, over the registry and readiness check they expose."""

    def __init__(self, registry: CollectorRegistry, readiness: Readiness, timeout: float) -> None:
        self._registry = registry
        self._readiness = readiness
        self._timeout = timeout

    def definitions(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self.healthz),
            web.get("/metrics", self.metrics),
            web.get("/readyz", self.readyz),
        ]

    async def healthz(self, _request: web.Request) -> web.Response:
        return text_response(200, "ok")

    async def metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def readyz(self, _request: web.Request) -> web.Response:
        try:
            ready, details = await asyncio.wait_for(self._readiness(), self._timeout)
        except TimeoutError:
            ready, details = False, {"error": "readiness check timed out"}
        except Exception as exc:  # noqa: BLE001 - a failing check means "not ready", said in the body
            log.warning("readiness_check_failed", error=repr(exc))
            ready, details = False, {"error": type(exc).__name__}
        body = json.dumps({"ready": ready, **details}, default=str, sort_keys=True).encode()
        return web.Response(
            status=200 if ready else 503, body=body + b"\n", content_type="application/json"
        )


async def start_ops_server(
    host: str,
    port: int,
    *,
    registry: CollectorRegistry,
    readiness: Readiness,
    request_timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> HttpServer:
    """Start serving /metrics, /healthz and /readyz; the caller stops the returned server.

    Args:
        host: address to listen on (e.g. `0.0.0.0` in a container, `127.0.0.1` in tests).
        port: TCP port; 0 picks a free one (read it from `server.port`).
        registry: the registry `/metrics` exposes.
        readiness: coroutine function answering (ready, details) for `/readyz`.
        request_timeout: seconds a client has to send its request head, and to read the reply;
            also bounds the readiness check.
        max_connections: connections served at once; more get 503 straight away.

    Returns:
        The listening server (`port`, `stop()`).

    Raises:
        OSError: the address cannot be bound.
    """
    routes = _OpsRoutes(registry, readiness, request_timeout)
    server = HttpServer(
        routes.definitions(), request_timeout=request_timeout, max_connections=max_connections
    )
    bound = await server.start(host, port)
    log.info("ops_server_started", host=host, port=bound)
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
