"""The `simulator` fixture: an in-process SMSC simulator on 127.0.0.1, port 0, already listening.

Import the fixtures into a test module (or conftest.py):

    from tests.integration.simulator_fixture import simulator, simulator_factory  # noqa: F401

`simulator` runs the default test config (account smsgw/secret, receipts after 50 ms, a fixed
seed); `simulator_factory(config)` starts one with any config, as an async context manager.
Both return once the SMPP and control sockets accept connections (no sleeps), and close the
server when the test ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from common.config_loader import merge
from gateway.carrier.bind import BindSettings, BindType
from simulator.config import FaultSettings, SimulatorConfig, config_from_mapping
from simulator.reassembly import ReceivedMessage
from simulator.server import SimulatorServer

SYSTEM_ID = "smsgw"
PASSWORD = "secret"

_TEST_DEFAULTS: dict[str, Any] = {
    "port": 0,
    "control_port": 0,
    "accounts": [{"system_id": SYSTEM_ID, "password": PASSWORD}],
    "message_id_start": 1000,
    "seed": 1234,
    "receipts": {"delay": 0.05, "retry_delay": 0.1},
}


def simulator_config(**overrides: Any) -> SimulatorConfig:
    """The test config with YAML-shaped overrides, e.g. `faults={"tps": 5}` (nested keys merge)."""
    return config_from_mapping(merge(_TEST_DEFAULTS, overrides))


@dataclass
class RunningSimulator:
    """A listening simulator and handles to drive it from a test."""

    server: SimulatorServer

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def control_url(self) -> str:
        url = self.server.control_url
        assert url is not None, "this simulator runs without a control endpoint"
        return url

    def bind_settings(self, **changes: Any) -> BindSettings:
        """BindSettings for our client pointing here (test account, transceiver, fast timers)."""
        settings = BindSettings(
            host=self.host,
            port=self.port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            bind_type=BindType.transceiver,
            window=10,
            response_timeout=5.0,
            bind_timeout=5.0,
            connect_timeout=5.0,
            reconnect_initial=0.05,
            reconnect_max=0.5,
            unbind_timeout=1.0,
        )
        return replace(settings, **changes)

    def inject_mo(
        self, *, source: str, destination: str, text: str, system_id: str | None = None
    ) -> int:
        """Send an MO deliver_sm to a bound receiver; returns the number of parts."""
        return self.server.inject_mo(
            source_addr=source, destination_addr=destination, text=text, system_id=system_id
        )

    def set_faults(self, **changes: Any) -> FaultSettings:
        """Change fault switches live, e.g. `set_faults(tps=5, error_status="ESME_RMSGQFUL")`."""
        return self.server.patch_faults(changes)

    def stats(self) -> dict[str, Any]:
        return self.server.stats()

    def messages(self) -> Sequence[ReceivedMessage]:
        return self.server.messages()


@contextlib.asynccontextmanager
async def start_simulator(config: SimulatorConfig | None = None) -> AsyncIterator[RunningSimulator]:
    """Start a simulator (default: `simulator_config()`), yield it listening, close it after."""
    server = SimulatorServer(config or simulator_config())
    await server.start()
    try:
        yield RunningSimulator(server)
    finally:
        await server.close()


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    """A simulator with the default test config."""
    async with start_simulator() as running:
        yield running


@pytest.fixture
def simulator_factory() -> Callable[
    [SimulatorConfig | None], contextlib.AbstractAsyncContextManager[RunningSimulator]
]:
    """`async with simulator_factory(simulator_config(faults={...})) as sim:`."""
    return start_simulator
