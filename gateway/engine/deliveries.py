"""What the engine does with deliver_sm / data_sm from a carrier: receipts and MO messages.

A bind hands over each read's deliveries as one batch. Receipts are matched to messages and
applied by one apply.lua call (ids normalised per the carrier's `receipt_id_mode`; a receipt
that beats its submit_sm_resp is parked and applied when the response is recorded). MO
messages and receipts are decoded as the receiving carrier's encoding profile says (packed
GSM-7, what data_coding 0 means on it); MO messages are reassembled when concatenated,
appended to the inbound stream and passed to the compliance layer for STOP/START keywords.
Only after that Redis work has succeeded does the bind answer deliver_sm_resp ESME_ROK; if it
fails, the bind answers ESME_RX_T_APPN and the carrier redelivers, so a receipt or an MO is
never acknowledged and then lost. A receipt that cannot be read is answered ESME_RX_T_APPN on
its own: the other deliveries of its batch are recorded and acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from common.json_text import compact
from compliance.encoding import (
    EncodingError,
    EncodingProfile,
    ReassembledMessage,
    Reassembler,
    concat_from_sar,
    decode_short_message,
)
from compliance.verdict import MoOutcome
from gateway.carrier.handset import NationalResolver, handset_number, receipt_handsets
from gateway.carrier.receipts import IdMode, Receipt, parse_receipt, receipt_id_candidates
from gateway.messages import inbound_json, iso_ts
from gateway.ops.final_log import log_settled
from gateway.smpp.constants import CommandStatus, EsmClass, TlvTag
from gateway.smpp.pdu import DataSm, DeliverSm, Pdu
from gateway.store.records import RecordContext, record_receipt, settled
from gateway.store.state_store import OpBatch, StateWriter

log = structlog.get_logger()

UNMATCHED_LOG_INTERVAL = 1.0  # seconds between two dlr_unmatched lines of one carrier

# MAXLEN for the confirmations we enqueue: never trim the outbound stream (it is work).
OUTBOUND_NO_TRIM = 2**62


class ShardWriters(Protocol):
    """A handset's shard (gateway/engine/shard_state.py): where its receipts and MO go."""

    @property
    def ctx(self) -> RecordContext: ...
    @property
    def receipt_writer(self) -> StateWriter: ...


class MoPolicy(Protocol):
    async def handle_mo(
        self, sender_number: str, our_number: str, text: str, now: datetime
    ) -> MoOutcome: ...


class DeliveryObserver(Protocol):
    def stage(self, stage: str, since: float) -> None: ...
    def receipt_applied(
        self, carrier: str, result: str, receipt: Receipt | None, handset: str
    ) -> None: ...
    def mo_received(self, carrier: str, outcome: MoOutcome | None) -> None: ...


@dataclass(slots=True, kw_only=True)
class CarrierDeliveries:
    """The delivery handler of one carrier's binds (see gateway.carrier.bind.DeliveryHandler)."""

    carrier: str
    receipt_id_mode: IdMode
    ctx: RecordContext
    writer: StateWriter
    mo_policy: MoPolicy | None
    # with shards: the shard of a handset number, whose keys its receipts and MO are written
    # under (a receipt comes from the handset the message went to); None: `ctx` and `writer`
    route: Callable[[str], ShardWriters] | None = None
    # a handset number in national format to E.164 digits (gateway/carrier/handset.py)
    national: NationalResolver | None = None
    # with shards: seconds after which a receipt parked unmatched is tried in the other
    # shards (gateway/engine/orphan_receipts.py)
    orphan_grace: float = 11.0
    observer: DeliveryObserver
    # The carrier's profile (gateway.carrier.pool.encoding_profile): how its MO and receipt
    # text is decoded. The default is GSM-7 unpacked for data_coding 0.
    profile: EncodingProfile = field(default_factory=EncodingProfile)
    inbound_maxlen: int = 1_000_000
    clock: Callable[[], float] = time.time
    _unmatched_logged_at: float = field(default=float("-inf"), init=False)
    _unmatched_suppressed: int = field(default=0, init=False)
    reassembler: Reassembler = field(
        default_factory=lambda: Reassembler(clock=time.monotonic, timeout=600.0)
    )

    async def __call__(self, batch: Sequence[Pdu]) -> Sequence[int]:
        started = time.perf_counter()
        now = self.clock()
        ts = iso_ts(now)  # every receipt of the batch is recorded at `now`
        writes: dict[int, _ShardWrite] = {}
        mos: list[ReassembledMessage] = []
        orphan_due = None if self.route is None else now + self.orphan_grace
        profile, national = self.profile, self.national
        statuses = [CommandStatus.ESME_ROK] * len(batch)
        for position, pdu in enumerate(batch):
            if not isinstance(pdu, DeliverSm | DataSm):
                continue
            try:
                receipt = parse_receipt(pdu, profile=profile, now=now)
            except Exception:
                # a receipt we cannot read (our bug) is refused alone, with a temporary error:
                # the carrier sends it again later, and the rest of its batch is recorded
                log.exception("receipt_unreadable", carrier=self.carrier)
                statuses[position] = CommandStatus.ESME_RX_T_APPN
                continue
            if receipt is not None:
                handset, alternative = receipt_handsets(
                    pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr,
                    pdu.dest_addr_ton, national,
                )  # fmt: skip
                write = self._write_for(writes, handset)
                self._add_receipt(write.ops, write.ctx, handset, alternative, receipt, ts,
                                  orphan_due)  # fmt: skip
                write.receipts.append((receipt, handset))
                continue
            write = self._write_for(
                writes, handset_number(pdu.source_addr, pdu.source_addr_ton, self.national)
            )
            for mo in self._reassemble(pdu):
                mos.append(mo)
                data = inbound_json(sender=mo.source, to=mo.destination, text=mo.text or "",
                                    carrier=self.carrier, ts=now, complete=mo.complete)  # fmt: skip
                write.ops.xadd(write.ctx.keys.inbound, self.inbound_maxlen, data)
        self.observer.stage("receipt", started)
        done = [w for w in writes.values() if w.ops.args]
        if len(done) == 1:
            applied = [await done[0].writer.write(done[0].ops)]
        else:
            applied = await asyncio.gather(*(w.writer.write(w.ops) for w in done))
        for write, results in zip(done, applied, strict=True):
            self._receipts_applied(write.receipts, results, now)
        replies: dict[int, _ShardWrite] = {}
        for mo in mos:
            outcome = None
            if self.mo_policy is not None and mo.complete and mo.text:
                outcome = await self.mo_policy.handle_mo(
                    mo.source, mo.destination, mo.text, datetime.fromtimestamp(now, UTC)
                )
                if outcome.reply_text and outcome.msisdn:
                    data = confirmation_json(outcome, our_number=mo.destination, now=now)
                    reply = self._write_for(replies, outcome.msisdn)
                    reply.ops.xadd(reply.ctx.keys.outbound, OUTBOUND_NO_TRIM, data)
            self.observer.mo_received(self.carrier, outcome)
        for reply in replies.values():
            await reply.writer.write(reply.ops)
        return statuses

    def _write_for(self, writes: dict[int, _ShardWrite], handset: str) -> _ShardWrite:
        """The write of `handset`'s shard in `writes`, added when it is the first."""
        if self.route is None:
            ctx, writer = self.ctx, self.writer
        else:
            shard = self.route(handset)
            ctx, writer = shard.ctx, shard.receipt_writer
        write = writes.get(id(writer))
        if write is None:
            write = writes[id(writer)] = _ShardWrite(ctx, writer)
        return write

    def _receipts_applied(
        self, receipts: list[tuple[Receipt, str]], results: Sequence[str], now: float
    ) -> None:
        receipt_applied, carrier = self.observer.receipt_applied, self.carrier
        for (receipt, handset), result in zip(receipts, results, strict=True):
            receipt_applied(carrier, result, receipt, handset)
            if result == "unmatched":  # kept 10 min: see smsgw_receipts_matched_late_total
                self._log_unmatched(receipt, now)
            elif (done := settled(result)) is not None:
                log_settled(done, carrier, receipt.error_code)

    def _log_unmatched(self, receipt: Receipt, now: float) -> None:
        """`dlr_unmatched`, at most once a second per carrier: a fast carrier's receipts often
        beat their submit_sm_resp (parked, then applied: smsgw_receipts_matched_late_total),
        and a line for each cost more than the receipt. `suppressed` counts the receipts not
        logged since the last line; the metric counts every one."""
        if now - self._unmatched_logged_at < UNMATCHED_LOG_INTERVAL:
            self._unmatched_suppressed += 1
            return
        log.warning("dlr_unmatched", carrier=self.carrier, result="unmatched",
                    receipted_message_id=receipt.message_id, kept_seconds=600,
                    suppressed=self._unmatched_suppressed)  # fmt: skip
        self._unmatched_logged_at, self._unmatched_suppressed = now, 0

    def _add_receipt(self, ops: OpBatch, ctx: RecordContext, handset: str, alternative: str,
                     receipt: Receipt, ts: str, orphan_due: float | None) -> None:  # fmt: skip
        candidates = receipt_id_candidates(receipt.ids, mode=self.receipt_id_mode)
        record_receipt(
            ops,
            ctx,
            self.carrier,
            candidates,
            receipt.state.value,
            final=receipt.final,
            error_code=receipt.error_code or "",
            ts=ts,
            destination=handset,  # a receipt comes from the handset the message went to
            orphan_due=orphan_due,
            alternative=alternative,
        )

    def _reassemble(self, pdu: DeliverSm | DataSm) -> list[ReassembledMessage]:
        """The MO messages this PDU completes (none while parts are missing)."""
        payload = pdu.tlvs.get(TlvTag.message_payload)
        short_message = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        raw = payload if isinstance(payload, bytes) and payload else short_message
        try:
            decoded = decode_short_message(
                raw,
                pdu.data_coding,
                udhi=bool(pdu.esm_class & EsmClass.udhi),
                packed=self.profile.gsm7_packed,
                default_alphabet=self.profile.default_alphabet,
            )
        except EncodingError as error:
            log.warning("mo_undecodable", carrier=self.carrier, error=str(error))
            return []
        return self.reassembler.add(
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            decoded=decoded,
            sar=concat_from_sar(pdu.tlvs),
        )


@dataclass(slots=True)
class _ShardWrite:
    """What one delivery batch writes to one shard, and the receipts among it."""

    ctx: RecordContext
    writer: StateWriter
    ops: OpBatch = field(default_factory=OpBatch)
    receipts: list[tuple[Receipt, str]] = field(default_factory=list)  # with their handset


def confirmation_json(outcome: MoOutcome, *, our_number: str, now: float) -> str:
    """The outbound entry answering an opt-out / opt-in / HELP keyword, from the number it was
    sent to. Its id is the idempotency key: one confirmation per number, action and hour, so
    a redelivered or repeated STOP is not answered twice."""
    hour = int(now // 3600)
    message = {
        "id": f"confirm:{outcome.action.value}:{outcome.msisdn}:{hour}",
        "to": f"+{outcome.msisdn}",
        "from": our_number,
        "text": outcome.reply_text,
        "category": "transactional",
        "tags": {"kind": "keyword_confirmation", "keyword": outcome.keyword},
    }
    return compact(message)
