"""What the engine does with deliver_sm / data_sm from a carrier: receipts and MO messages.

A bind hands over each read's deliveries as one batch. Receipts are matched to messages and
applied by one apply.lua call (ids normalised per the carrier's `receipt_id_mode`; a receipt
that beats its submit_sm_resp is parked and applied when the response is recorded). MO
messages are reassembled when concatenated, appended to the inbound stream and passed to the
compliance layer for STOP/START keywords. Only after that Redis work has succeeded does the
bind answer deliver_sm_resp ESME_ROK; if it fails, the bind answers ESME_RX_T_APPN and the
carrier redelivers, so a receipt or an MO is never acknowledged and then lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from compliance.encoding import Reassembler, decode_short_message
from compliance.verdict import MoOutcome
from gateway.messages import inbound_json, iso_ts
from gateway.receipts import Receipt, parse_receipt, receipt_id_candidates
from gateway.records import RecordContext
from gateway.smpp.constants import CommandStatus, EsmClass, TlvTag
from gateway.smpp.pdu import DataSm, DeliverSm, Pdu
from gateway.state_store import OpBatch, StateWriter

log = structlog.get_logger()


class MoPolicy(Protocol):
    async def handle_mo(
        self, sender_number: str, our_number: str, text: str, now: datetime
    ) -> MoOutcome: ...


class DeliveryObserver(Protocol):
    def receipt_applied(self, carrier: str, result: str, receipt: Receipt) -> None: ...
    def mo_received(self, carrier: str, outcome: MoOutcome | None) -> None: ...


@dataclass(slots=True, kw_only=True)
class CarrierDeliveries:
    """The delivery handler of one carrier's binds (see gateway.bind.DeliveryHandler)."""

    carrier: str
    receipt_id_mode: str
    ctx: RecordContext
    writer: StateWriter
    mo_policy: MoPolicy | None
    observer: DeliveryObserver
    inbound_maxlen: int = 1_000_000
    clock: Callable[[], float] = time.time
    reassembler: Reassembler = field(default_factory=lambda: Reassembler(timeout=600.0))

    async def __call__(self, batch: Sequence[Pdu]) -> Sequence[int]:
        now = self.clock()
        ops = OpBatch()
        receipts: list[Receipt] = []
        mos: list[tuple[str, str, str]] = []
        for pdu in batch:
            if not isinstance(pdu, DeliverSm | DataSm):
                continue
            receipt = parse_receipt(pdu)
            if receipt is not None:
                self._add_receipt(ops, pdu, receipt, now)
                receipts.append(receipt)
                continue
            mo = self._mo_text(pdu, now)
            if mo is not None:
                mos.append(mo)
                ops.xadd(self.ctx.keys.inbound, self.inbound_maxlen,
                         inbound_json(sender=mo[0], to=mo[1], text=mo[2],
                                      carrier=self.carrier, ts=now))  # fmt: skip
        results = await self.writer.write(ops)
        for receipt, result in zip(receipts, results, strict=True):
            self.observer.receipt_applied(self.carrier, result, receipt)
            if result in ("unmatched", "ambiguous"):
                log.warning("dlr_unmatched", carrier=self.carrier, result=result,
                            receipted_message_id=receipt.message_id)  # fmt: skip
        for sender, to, text in mos:
            outcome = None
            if self.mo_policy is not None:
                outcome = await self.mo_policy.handle_mo(
                    sender, to, text, datetime.fromtimestamp(now, UTC)
                )
            self.observer.mo_received(self.carrier, outcome)
        return [CommandStatus.ESME_ROK] * len(batch)

    def _add_receipt(self, ops: OpBatch, pdu: DeliverSm | DataSm, receipt: Receipt,
                     now: float) -> None:  # fmt: skip
        candidates = receipt_id_candidates(receipt.message_id, mode=self.receipt_id_mode)  # type: ignore[arg-type]
        ops.receipt(
            self.ctx.keys.prefix,
            self.carrier,
            candidates,
            receipt.state.value,
            receipt.final,
            receipt.error_code or "",
            iso_ts(now),
            pdu.source_addr,  # a receipt comes from the handset the message went to
            self.ctx.keys.events,
            self.ctx.events_maxlen,
            self.ctx.ttl,
        )

    def _mo_text(self, pdu: DeliverSm | DataSm, now: float) -> tuple[str, str, str] | None:
        """(from, to, text) of a complete MO message, or None while parts are missing."""
        payload = pdu.tlvs.get(TlvTag.message_payload)
        short_message = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        raw = payload if isinstance(payload, bytes) and payload else short_message
        udhi = bool(pdu.esm_class & EsmClass.udhi)
        decoded = decode_short_message(raw, pdu.data_coding, udhi=udhi)
        complete = self.reassembler.add(
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            decoded=decoded,
            sar=_sar(pdu),
            now=now,
        )
        if complete is None:
            return None
        return pdu.source_addr, pdu.destination_addr, complete


def _sar(pdu: DeliverSm | DataSm) -> tuple[int, int, int] | None:
    tlvs = pdu.tlvs
    ref = tlvs.get(TlvTag.sar_msg_ref_num)
    total = tlvs.get(TlvTag.sar_total_segments)
    seq = tlvs.get(TlvTag.sar_segment_seqnum)
    if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int):
        return ref, total, seq
    return None
