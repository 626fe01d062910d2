"""The simulator's asyncio shell: the listening socket, one thin Protocol per connection, one timer.

`SmscProtocol` is the uvicorn-shaped driver: bytes in -> `Smsc.receive` (which answers and
writes once per read) -> re-arm the timer. Backpressure: when a client stops reading, its
transport pauses our writes, and we stop reading from it until it drains (uvicorn
`flow_control.py`).

`SimulatorServer` owns the lifecycle: listen, arm a single `loop.call_at` for whatever the SMSC
has due next (receipts, delayed responses, retries, batched per tick by `DueQueue`), serve the
control endpoint, export metrics, and close everything on `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from simulator.config import FaultSettings, SimulatorConfig, patch_faults
from simulator.control import ControlServer
from simulator.journal import Journal
from simulator.reassembly import ReceivedMessage
from simulator.smsc import Link, Smsc
from simulator.telemetry import CountsExporter

log = structlog.get_logger()

# uvloop's timers have millisecond resolution and may fire up to a millisecond early;
# work due within this slack runs now rather than re-arming a timer for it.
_TIMER_SLACK = 0.001


class SmscProtocol(asyncio.Protocol):
    """One ESME connection; all the work happens in `Smsc`."""

    __slots__ = ("_link", "_loop", "_server", "_smsc", "_transport")

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._smsc = server.smsc
        self._loop = asyncio.get_running_loop()
        self._link: Link | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        stream: asyncio.Transport = transport  # type: ignore[assignment]
        self._transport = stream
        peer = transport.get_extra_info("peername")
        self._link = self._smsc.connect(
            stream, f"{peer[0]}:{peer[1]}" if peer else "?", self._loop.time()
        )
        self._server.arm()

    def data_received(self, data: bytes) -> None:
        link = self._link
        if link is not None:
            self._smsc.receive(link, data, self._loop.time())
            self._server.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._link is not None:
            self._smsc.disconnect(self._link)
            self._server.arm()

    def pause_writing(self) -> None:
        if self._link is not None and self._transport is not None:
            self._link.writable = False
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._link is not None and self._transport is not None:
            self._transport.resume_reading()
            self._smsc.resume_writing(self._link)
            self._server.arm()


class SimulatorServer:
    """A running SMSC simulator: SMPP listener, control endpoint and metrics.

    Args:
        config: what to simulate; `port` 0 (and `control_port` 0) pick free ports.
        rng: randomness for outcomes, errors and jitter (default: seeded from `config.seed`).
        registry: where metrics go (default: a fresh CollectorRegistry).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        rng: random.Random | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self._rng = rng or random.Random(config.seed)
        self.registry = registry or CollectorRegistry()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._smsc: Smsc | None = None
        self._server: asyncio.Server | None = None
        self._control: ControlServer | None = None
        self._exporter: CountsExporter | None = None
        self._exporter_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._journal: Journal | None = None
        self.port = 0
        self.control_port: int | None = None

    @property
    def smsc(self) -> Smsc:
        """The SMSC behind the listener (available once started)."""
        if self._smsc is None:
            raise RuntimeError("simulator not started")
        return self._smsc

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def control_url(self) -> str | None:
        """http://host:port of the control endpoint, or None when it is disabled."""
        if self.control_port is None:
            return None
        return f"http://{self.config.control_host}:{self.control_port}"

    async def start(self) -> None:
        """Listen (returns once the SMPP and control sockets accept connections)."""
        loop = self._loop = asyncio.get_running_loop()
        config = self.config
        now = loop.time()
        self._smsc = Smsc(config, rng=self._rng, now=now, wall_offset=time.time() - now)
        if config.journal:
            self._journal = Journal(config.journal)
            self._smsc.journal = self._journal.write
        self._exporter = CountsExporter(self._smsc, self.registry)
        self._server = await loop.create_server(
            lambda: SmscProtocol(self), config.host, config.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if config.control_port is not None:
            self._control = ControlServer(self)
            self.control_port = await self._control.start(config.control_host, config.control_port)
        self._exporter_task = loop.create_task(self._export_forever())
        if not config.accounts:
            log.warning("simulator_accepts_any_credentials")
        log.info(
            "simulator_listening",
            host=config.host,
            port=self.port,
            control_url=self.control_url,
            message_id_format=config.message_id_format.value,
            journal=config.journal,
        )

    async def close(self) -> None:
        """Stop listening, close every connection and the control endpoint."""
        if self._server is not None:
            self._server.close()
        if self._smsc is not None:
            for link in list(self._smsc.links):
                link.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._control is not None:
            await self._control.close()
            self._control = None
        if self._exporter_task is not None:
            self._exporter_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._exporter_task
            self._exporter_task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_journal()
        log.info("simulator_stopped")

    def _close_journal(self) -> None:
        if self._smsc is not None:
            self._smsc.journal = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the one timer ------------------------------------------------------------------------

    def arm(self) -> None:
        """Make sure a timer is set for the SMSC's next due work."""
        due = self.smsc.next_due()
        if due is None:
            return
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        assert self._loop is not None  # noqa: S101 - set in start()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        assert self._loop is not None  # noqa: S101 - set in start()
        self.smsc.run_due(self._loop.time() + _TIMER_SLACK)
        self.arm()

    # --- control operations (used by control.py and by tests) ---------------------------------

    def inject_mo(
        self, *, source_addr: str, destination_addr: str, text: str, system_id: str | None = None
    ) -> int:
        """Send an MO deliver_sm to a bound receiver; see `Smsc.inject_mo`."""
        parts = self.smsc.inject_mo(
            source_addr=source_addr, destination_addr=destination_addr, text=text,
            system_id=system_id,
        )  # fmt: skip
        self.arm()
        return parts

    @property
    def faults(self) -> FaultSettings:
        return self.smsc.faults

    def set_faults(self, faults: FaultSettings) -> None:
        """Replace the fault switches (takes effect for the next PDU)."""
        self.smsc.set_faults(faults)

    def patch_faults(self, patch: dict[str, Any]) -> FaultSettings:
        """Change some fault keys; raises ConfigError naming a bad key."""
        faults = patch_faults(self.smsc.faults, patch)
        self.set_faults(faults)
        return faults

    def stats(self) -> dict[str, object]:
        """A JSON-ready snapshot of binds, counters and queues."""
        return self.smsc.stats()

    def messages(self) -> Sequence[ReceivedMessage]:
        """The recent messages received (concatenations reassembled)."""
        return self.smsc.messages()

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of this simulator's registry, counters brought up to date."""
        assert self._exporter is not None  # noqa: S101 - set in start()
        return self._exporter.exposition()

    async def _export_forever(self) -> None:
        """Copy counts into Prometheus once a second (scrapes also copy on demand)."""
        assert self._exporter is not None  # noqa: S101 - set in start()
        while True:
            await asyncio.sleep(1.0)
            self._exporter.export()
