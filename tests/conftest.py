"""Shared fixtures: the event loop (uvloop by default), a real redis-server, loop-error guard."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.cli.child_process import RedisNotReadyError, redis_server_process
from gateway.cli.child_process import (
    free_port as free_port,  # re-exported: tests import it from here
)

# The `simulator` and `simulator_factory` fixtures (an in-process SMSC on a free port),
# `redis_cluster` (a 3-master, 3-replica Redis Cluster on loopback, started on first use), and
# `backend` (a test run on one redis-server and again on that cluster).
pytest_plugins = [
    "tests.integration.simulator_fixture",
    "tests.cluster_fixture",
    "tests.integration.redis_backends",
]


_LOOP_ERRORS: list[dict[str, Any]] = []

# `make test-asyncio-debug` sets PYTHONASYNCIODEBUG=1 for the tests' own loops. Taken out of
# the environment here (and each test loop put in debug mode itself), so the processes the
# tests start (smsgw commands, gateways) do not inherit it: a command run in debug mode
# prints slow-callback warnings on the stderr the tests read.
_ASYNCIO_DEBUG = os.environ.pop("PYTHONASYNCIODEBUG", "") not in ("", "0")


def _record_loop_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    _LOOP_ERRORS.append(context)


# pytest-timeout (pyproject.toml: 120 s, thread method) ends a hung run with the stacks of its
# threads (an asyncio test only shows its loop in select()) and no name in the run's tail.
# Ten seconds before it, the test's own loop prints what each task waits on and cancels them,
# so the test fails by name and the rest of the suite still runs.
_HANG_AFTER = 110.0


def pytest_configure(config: pytest.Config) -> None:
    global _HANG_AFTER
    timeout = float(config.getini("timeout") or 0)
    if timeout > 0:
        _HANG_AFTER = max(1.0, timeout - 10)


def _fail_hung_test() -> None:
    test = os.environ.get("PYTEST_CURRENT_TEST", "?")
    message = f"{test} still running after {_HANG_AFTER:.0f} s: cancelled"
    print(f"\n--- {message}; its tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
        task.cancel(message)


def _new_test_loop() -> asyncio.AbstractEventLoop:
    if os.environ.get("SMSGW_TEST_LOOP", "uvloop") == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    loop.set_exception_handler(_record_loop_error)
    loop.set_debug(_ASYNCIO_DEBUG)
    loop.call_later(_HANG_AFTER, _fail_hung_test)
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every asyncio test on uvloop unless SMSGW_TEST_LOOP=asyncio."""
    return {os.environ.get("SMSGW_TEST_LOOP", "uvloop"): _new_test_loop}


@pytest.fixture(autouse=True)
def fail_on_loop_exception_handler() -> Iterator[None]:
    """Fail any test whose event loop exception handler fired (asyncpg _testbase habit)."""
    _LOOP_ERRORS.clear()
    yield
    if _LOOP_ERRORS:
        # a task destroyed while pending names its coroutine: an earlier test's, whose loop
        # closed under it, when the garbage collector finds it during this one
        found = "; ".join(
            f"{e.get('message')} {e.get('exception')!r} {e.get('task', '')!r}" for e in _LOOP_ERRORS
        )
        _LOOP_ERRORS.clear()
        pytest.fail(f"event loop exception handler fired: {found}")


@dataclass(frozen=True, slots=True)
class RedisServer:
    """A running redis-server on loopback."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Spawn a private redis-server on a free loopback port for the whole session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    port = free_port()
    try:
        with redis_server_process(port, binary=binary, ready_timeout=10.0, stop_timeout=5.0):
            yield RedisServer("127.0.0.1", port)
    except RedisNotReadyError as error:  # raised while starting, never by a test
        pytest.fail(str(error))


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on a freshly flushed database."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=False)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()
