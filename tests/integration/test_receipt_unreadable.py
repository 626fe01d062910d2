"""A receipt with an odd digit in it is read, and recorded with the rest of its batch.

Real pieces: a raw-bytes SMSC (tests/integration/test_bind_faults.py) writing two deliver_sm in
one TCP write, so the bind hands them over as one batch, a real Bind, and CarrierDeliveries
writing to a real redis-server. The bad receipt says `sub:²` ('²' is a digit to str.isdigit,
which int() refuses): reading it used to raise, and the whole batch was answered
ESME_RX_T_APPN, so the good receipt beside it came back refused on every redelivery, for
ever. Now the count is read as absent, as any count that is not a number is; and a receipt
that still cannot be read is refused alone (tests/unit/engine/test_deliveries.py).
"""

from __future__ import annotations

import asyncio
import random

import redis.asyncio as aioredis

from gateway.carrier.bind import Bind
from gateway.engine.deliveries import CarrierDeliveries
from gateway.smpp.constants import CommandId, CommandStatus
from gateway.store.state_store import StateStore, StateWriter
from tests.integration.test_bind_faults import RawSmsc, eventually, raw_pdu, raw_receipt_body
from tests.integration.test_state_store import CTX, KEYS
from tests.unit.engine.test_deliveries import FakeObserver

WAIT = 5.0


def latin1_receipt_body(receipted_id: str, *, sub: str) -> bytes:
    """raw_receipt_body's receipt in Latin-1 (data_coding 3), with `sub` as given."""
    body = raw_receipt_body(receipted_id)
    header, _, text = body.partition(b"\x04\x00\x00\x00\x00\x00\x00\x00\x00")
    text = text[1:].replace(b"sub:001", f"sub:{sub}".encode("latin-1"))
    return header + b"\x04\x00\x00\x00\x00\x00\x00\x03\x00" + bytes([len(text)]) + text


async def test_a_receipt_with_an_odd_digit_is_recorded_with_its_batch(
    redis_client: aioredis.Redis,
) -> None:
    handler = CarrierDeliveries(
        carrier="sim", receipt_id_mode="auto", ctx=CTX,
        writer=StateWriter(StateStore(redis_client, KEYS)), mo_policy=None,
        observer=FakeObserver(),
    )  # fmt: skip
    good = raw_receipt_body("7001")
    bad = latin1_receipt_body("7002", sub="00²")
    async with RawSmsc() as smsc:
        bind = Bind(smsc.settings(), rng=random.Random(7), on_delivery=handler)
        bind.start()
        try:
            await asyncio.wait_for(bind.wait_bound(), WAIT)
            smsc.send(raw_pdu(CommandId.deliver_sm, 41, good) +
                      raw_pdu(CommandId.deliver_sm, 42, bad))  # fmt: skip
            await eventually(
                lambda: smsc.count(CommandId.deliver_sm_resp) == 2, "both deliveries answered"
            )
        finally:
            await asyncio.wait_for(bind.close(drain_seconds=0.2), WAIT)
    answers = {s.sequence_number: s.command_status for s in smsc.seen
               if s.command_id == CommandId.deliver_sm_resp}  # fmt: skip
    assert answers == {41: CommandStatus.ESME_ROK, 42: CommandStatus.ESME_ROK}
    # both recorded: nothing is submitted with their ids, so each is parked for its
    # submit_sm_resp (an early receipt), as any receipt that comes first is
    for receipted_id in ("7001", "7002"):
        assert await redis_client.exists(f"{CTX.keys.prefix}early:sim:{receipted_id}") == 1
