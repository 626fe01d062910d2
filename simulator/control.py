"""The simulator's control endpoint: a small HTTP/1.1 server on loopback.

Routes (one request per connection, `Connection: close`, RFC 9112 §9.6):

    GET  /healthz    "ok"
    GET  /metrics    Prometheus text format (the simulator's own registry)
    GET  /stats      JSON: binds, counters, queues, faults in force
    GET  /messages   JSON: recent messages received, concatenations reassembled (?limit=N)
    GET  /faults     JSON: the fault switches
    POST /faults     JSON object of fault keys to change -> the new switches (400 names a bad key)
    POST /mo         JSON {"from", "to", "text", "system_id"?} -> {"parts": n}; 409 when no
                     receiver or transceiver is bound

`gateway/ops_server.py` serves GET only, so the simulator keeps its own listener; it borrows the
same defences: a bounded request head and body, a deadline for the whole request, and nothing
a client sends can raise out of the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any, Final, Protocol

import structlog
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.errors import ConfigError
from simulator.config import FaultSettings
from simulator.errors import ControlRequestError, NoReceiverError
from simulator.reassembly import ReceivedMessage

log = structlog.get_logger()

MAX_REQUEST_HEAD: Final = 8192
MAX_BODY: Final = 65536
REQUEST_TIMEOUT: Final = 5.0

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_JSON: Final = "application/json"
_TEXT: Final = "text/plain; charset=utf-8"
_ROUTES: Final = {
    "/healthz": ("GET",),
    "/metrics": ("GET",),
    "/stats": ("GET",),
    "/messages": ("GET",),
    "/faults": ("GET", "POST"),
    "/mo": ("POST",),
}


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
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_REQUEST_HEAD)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The top of its connection's task: cancellation at shutdown ends it quietly, and any
        # bug is logged and answered with 500 rather than raised into the loop.
        try:
            status, content_type, body = await asyncio.wait_for(
                self._serve(reader), REQUEST_TIMEOUT
            )
            await self._send(writer, status, content_type, body)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # a supervisor boundary: log with traceback and keep serving
            log.exception("control_request_failed")
            with contextlib.suppress(Exception):
                await self._send(writer, 500, _TEXT, b"internal error\n")
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), REQUEST_TIMEOUT)

    async def _serve(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return _error(431, "request head too large")
        try:
            method, path, query, length = _parse_head(head)
            if length > MAX_BODY:
                return _error(413, "body too large")
            body = await reader.readexactly(length) if length else b""
            return self._route(method, path, query, body)
        except ControlRequestError as error:
            return _error(error.status, str(error))

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        allowed = _ROUTES.get(path)
        if allowed is None:
            return _error(404, "not found")
        if method not in allowed:
            return _error(405, "method not allowed")
        t = self._target
        if path == "/healthz":
            return 200, _TEXT, b"ok\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, t.metrics_text()
        if path == "/stats":
            return _json(t.stats())
        if path == "/messages":
            return _json(_messages(t.messages(), query))
        if path == "/faults":
            if method == "POST":
                return self._patch_faults(body)
            return _json(_faults(t.faults))
        return self._inject_mo(body)

    def _patch_faults(self, body: bytes) -> tuple[int, str, bytes]:
        patch = _json_object(body)
        try:
            faults = self._target.patch_faults(patch)
        except ConfigError as error:
            return _error(400, str(error))
        return _json(_faults(faults))

    def _inject_mo(self, body: bytes) -> tuple[int, str, bytes]:
        request = _json_object(body)
        source, destination, text = (request.get(k) for k in ("from", "to", "text"))
        system_id = request.get("system_id")
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

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str], int]:
    """(method, path, query, content length) from a request head (RFC 9112 §3, §6.3)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise ControlRequestError("bad request line")
    target = urllib.parse.urlsplit(parts[1])
    query = dict(urllib.parse.parse_qsl(target.query))
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                raise ControlRequestError("bad Content-Length")
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise ControlRequestError("chunked bodies are not supported; send Content-Length")
    return parts[0], target.path, query, length


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ControlRequestError("body is not JSON") from None
    if not isinstance(value, dict):
        raise ControlRequestError("body must be a JSON object")
    return value


def _json(value: object, status: int = 200) -> tuple[int, str, bytes]:
    return status, _JSON, json.dumps(value, sort_keys=True, default=str).encode() + b"\n"


def _error(status: int, message: str) -> tuple[int, str, bytes]:
    return _json({"error": message}, status)


def _faults(faults: FaultSettings) -> dict[str, object]:
    return {name: getattr(faults, name) for name in faults.__dataclass_fields__}


def _messages(
    messages: Sequence[ReceivedMessage], query: dict[str, str]
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
