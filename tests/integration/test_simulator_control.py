"""The simulator's control endpoint over loopback: routes, JSON errors, limits (aiohttp-served)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from simulator.control import MAX_BODY
from tests.integration.simulator_fixture import RunningSimulator


async def call(
    sim: RunningSimulator, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.control_url + path, data=body) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def call_json(
    sim: RunningSimulator, method: str, path: str, value: Any = None
) -> tuple[int, Any]:
    body = None if value is None else json.dumps(value).encode()
    status, headers, answer = await call(sim, method, path, body)
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(answer)


async def test_healthz_and_metrics(simulator: RunningSimulator) -> None:
    status, headers, body = await call(simulator, "GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Connection"] == "close"
    assert headers["Cache-Control"] == "no-store"
    status, headers, body = await call(simulator, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert b"smsgw_simulator_build_info" in body


async def test_stats_and_messages_are_json(simulator: RunningSimulator) -> None:
    status, stats = await call_json(simulator, "GET", "/stats")
    assert status == 200
    assert isinstance(stats, dict)
    assert await call_json(simulator, "GET", "/messages?limit=5") == (200, [])
    status, answer = await call_json(simulator, "GET", "/messages?limit=many")
    assert (status, answer) == (400, {"error": "limit must be a number"})


async def test_faults_read_and_patch(simulator: RunningSimulator) -> None:
    status, faults = await call_json(simulator, "GET", "/faults")
    assert (status, faults["tps"]) == (200, 0.0)
    status, faults = await call_json(simulator, "POST", "/faults", {"tps": 50})
    assert (status, faults["tps"]) == (200, 50)
    assert simulator.server.faults.tps == 50


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"tps_bust": 1}', "faults.tps_bust: unknown key"),
        (b'{"tps": "fast"}', "faults.tps: expected float"),
        (b"not json", "body is not JSON"),
        (b"[1]", "body must be a JSON object"),
    ],
)
async def test_a_bad_fault_patch_is_400_naming_the_problem(
    simulator: RunningSimulator, body: bytes, error: str
) -> None:
    status, headers, answer = await call(simulator, "POST", "/faults", body)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert json.loads(answer)["error"].startswith(error)


async def test_mo_needs_from_to_and_text(simulator: RunningSimulator) -> None:
    status, answer = await call_json(simulator, "POST", "/mo", {"from": "447700900123"})
    assert (status, answer) == (400, {"error": 'expected {"from": str, "to": str, "text": str}'})


async def test_unknown_paths_and_methods_get_json_errors(simulator: RunningSimulator) -> None:
    assert await call_json(simulator, "GET", "/nowhere") == (404, {"error": "not found"})
    status, headers, body = await call(simulator, "DELETE", "/faults")
    assert (status, json.loads(body)) == (405, {"error": "method not allowed"})
    assert headers["Allow"] == "GET, POST"
    status, _, _ = await call(simulator, "HEAD", "/stats")
    assert status == 405


async def test_a_body_over_the_limit_gets_413_declared_or_chunked(
    simulator: RunningSimulator,
) -> None:
    body = b'{"text": "' + b"a" * MAX_BODY + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    for data in (body, chunks()):
        async with (
            aiohttp.ClientSession() as session,
            session.post(simulator.control_url + "/mo", data=data) as response,
        ):
            assert response.status == 413
            assert await response.json() == {"error": "body too large"}
