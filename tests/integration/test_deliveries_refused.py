"""Deliveries refused while Redis is down: answered ESME_RX_T_APPN, sent again by the carrier,
and logged once per outage rather than once per batch.

Real pieces: the simulator (its deliver_sm queue retries a delivery answered with an error
after `receipts.retry_delay`, as a store-and-forward SMSC does) and a real Bind over loopback.
The delivery handler plays the engine's deliveries with Redis down for its first batches: it
raises QueueUnavailableError, as a receipt write does when Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import structlog

from gateway.carrier.bind import Bind
from gateway.errors import QueueUnavailableError
from gateway.smpp.constants import CommandStatus
from gateway.smpp.pdu import DeliverSm, Pdu
from tests.integration.simulator_fixture import simulator_config, start_simulator

WAIT = 5.0
DOWN_FOR = 3  # batches refused before "Redis" is back


class RedisDownAtFirst:
    """A delivery handler whose first DOWN_FOR batches find Redis unreachable."""

    def __init__(self) -> None:
        self.calls = 0
        self.accepted: list[str] = []
        self.done = asyncio.Event()

    async def __call__(self, batch: Sequence[Pdu]) -> Sequence[int]:
        self.calls += 1
        if self.calls <= DOWN_FOR:
            raise QueueUnavailableError("redis unavailable: connection refused")
        for pdu in batch:
            assert isinstance(pdu, DeliverSm)
            self.accepted.append(pdu.short_message.decode("latin-1"))
        self.done.set()
        return [CommandStatus.ESME_ROK] * len(batch)


async def test_an_mo_refused_while_redis_is_down_comes_again_and_is_logged_once() -> None:
    handler = RedisDownAtFirst()
    config = simulator_config(receipts={"delay": 0.05, "retry_delay": 0.05, "max_attempts": 10})
    async with start_simulator(config) as simulator:
        bind = Bind(simulator.bind_settings(), on_delivery=handler, rng=random.Random(3))
        bind.start()
        try:
            await asyncio.wait_for(bind.wait_bound(), WAIT)
            with structlog.testing.capture_logs() as logs:
                assert simulator.inject_mo(source="447911123456", destination="12345",
                                           text="STOP") == 1  # fmt: skip
                await asyncio.wait_for(handler.done.wait(), WAIT)
        finally:
            await asyncio.wait_for(bind.close(drain_seconds=0.2), WAIT)
    assert handler.calls == DOWN_FOR + 1  # refused 3 times, redelivered each time, then taken
    assert handler.accepted == ["STOP"]
    events = [entry["event"] for entry in logs if entry["log_level"] != "debug"]
    assert events.count("deliveries_refused_redis_unavailable") == 1
    assert events.count("deliveries_accepted_again") == 1
    again = next(e for e in logs if e["event"] == "deliveries_accepted_again")
    assert again["refused"] == DOWN_FOR
    still = [e for e in logs if e["event"] == "deliveries_still_refused"]
    assert len(still) == DOWN_FOR - 1
    assert all(e["log_level"] == "debug" for e in still)
