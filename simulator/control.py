"""The simulator's control endpoint: its routes, served by aiohttp on loopback.

Routes (one request per connection, `Connection: close`, RFC 9112 §9.6):

    GET  /healthz    "ok"
    GET  /metrics    Prometheus text format (the simulator's own registry)
    GET  /stats      JSON: binds, counters, queues, faults in force
    GET  /messages   JSON: recent messages received, concatenations reassembled (?limit=N)
    GET  /faults     JSON: the fault switches
    POST /faults     JSON object of fault keys to change -> the new switches (400 names a bad key)
    POST /mo         JSON {"from", "to", "text", "system_id"?} -> {"parts": n}; 409 when no
                     receiver or transceiver is bound

Errors are JSON `{"error": "..."}`. `common.http_server` serves the routes with the same
defences as the gateway's ops endpoint (request timeout, bounded head); bodies past
`MAX_BODY` bytes get 413.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from common.errors import ConfigError
from common.http_server import DEFAULT_TIMEOUT, HttpServer
from simulator.config import FaultSettings
from simulator.errors import ControlRequestError, NoReceiverError
from simulator.reassembly import ReceivedMessage

MAX_BODY: Final = 65536
REQUEST_TIMEOUT: Final = DEFAULT_TIMEOUT


class Controlled(Protocol):
    """What the control endpoint operates on (SimulatorServer)."""

    @property
    def faults(self) -> FaultSettings: ...
    def patch_faults(self, patch: dict[str, Any]) -> FaultSettings: ...
    def inject_mo(
        self, *, source_addr: str, destination_addr: str, text: str, system_id: str | None = None
    ) -> int: ...
    def stats(self) -> dict[str, object]: ...
    def messages(self) -> Sequence[ReceivedMessage]: ...
    def metrics_text(self) -> bytes: ...


class ControlServer:
    """Serves the routes above for one simulator."""

    def __init__(self, target: Controlled) -> None:
        self._target = target
        self._http: HttpServer | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        gets = {
            "/healthz": self._healthz,
            "/metrics": self._metrics,
            "/stats": self._stats,
            "/messages": self._messages,
            "/faults": self._faults,
        }
        routes = [web.get(path, _answering(h), allow_head=False) for path, h in gets.items()]
        routes.append(web.post("/faults", _answering(self._patch_faults)))
        routes.append(web.post("/mo", _answering(self._inject_mo)))
        http = HttpServer(
            routes, error_body=_error, request_timeout=REQUEST_TIMEOUT, max_body=MAX_BODY
        )
        bound = await http.start(host, port)
        self._http = http
        return bound

    async def close(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n", content_type="text/plain")

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = self._target.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _stats(self, _request: web.Request) -> web.Response:
        return _json(self._target.stats())

    async def _messages(self, request: web.Request) -> web.Response:
        return _json(_messages(self._target.messages(), request.query))

    async def _faults(self, _request: web.Request) -> web.Response:
        return _json(_faults(self._target.faults))

    async def _patch_faults(self, request: web.Request) -> web.Response:
        faults = self._target.patch_faults(await _json_body(request))
        return _json(_faults(faults))

    async def _inject_mo(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        source, destination, text = (body.get(k) for k in ("from", "to", "text"))
        system_id = body.get("system_id")
        if not all(isinstance(v, str) and v for v in (source, destination)) or not isinstance(
            text, str
        ):
            return _error(400, 'expected {"from": str, "to": str, "text": str}')
        if system_id is not None and not isinstance(system_id, str):
            return _error(400, "system_id must be a string")
        try:
            parts = self._target.inject_mo(
                source_addr=str(source), destination_addr=str(destination), text=text,
                system_id=system_id,
            )  # fmt: skip
        except NoReceiverError as error:
            return _error(409, str(error))
        except ValueError as error:  # too long for 255 parts
            return _error(400, str(error))
        return _json({"parts": parts})


def _answering(handler: Handler) -> Handler:
    """`handler`, with a bad request (ControlRequestError) or a bad fault key or value
    (ConfigError, naming the key) answered as a JSON error."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlRequestError as error:
            return _error(error.status, str(error))
        except ConfigError as error:
            return _error(400, str(error))

    return answer


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, read within the request timeout.

    Raises:
        ControlRequestError: too large (413), too slow (408), not JSON or not an object (400).
    """
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ControlRequestError("body too large", status=413)
    try:
        body = await asyncio.wait_for(request.read(), REQUEST_TIMEOUT)
    except web.HTTPRequestEntityTooLarge:
        raise ControlRequestError("body too large", status=413) from None
    except TimeoutError:
        raise ControlRequestError("body not received in time", status=408) from None
    return _json_object(body)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ControlRequestError("body is not JSON") from None
    if not isinstance(value, dict):
        raise ControlRequestError("body must be a JSON object")
    return value


def _json(value: object, status: int = 200) -> web.Response:
    body = json.dumps(value, sort_keys=True, default=str).encode() + b"\n"
    return web.Response(status=status, body=body, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    """A JSON error answer `{"error": message}` (this endpoint's `ErrorBody`)."""
    return _json({"error": message}, status)


def _faults(faults: FaultSettings) -> dict[str, object]:
    return {name: getattr(faults, name) for name in faults.__dataclass_fields__}


def _messages(
    messages: Sequence[ReceivedMessage], query: Mapping[str, str]
) -> list[dict[str, object]]:
    limit_text = query.get("limit", "100")
    if not limit_text.isdigit():
        raise ControlRequestError("limit must be a number")
    limit = int(limit_text)
    chosen = messages[-limit:] if limit else []
    return [
        {
            "system_id": m.system_id,
            "message_ids": list(m.message_ids),
            "source_addr": m.source_addr,
            "destination_addr": m.destination_addr,
            "data_coding": m.data_coding,
            "parts": m.parts,
            "text": m.text,
        }
        for m in chosen
    ]
