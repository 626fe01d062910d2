"""Concatenated messages put back together for the simulator's log and message history.

Parts are recognised by a concatenation information element in the UDH (IEI 0x00, 8-bit
reference; IEI 0x08, 16-bit reference; 3GPP TS 23.040 §9.2.3.24.1 and .8) when esm_class has
UDHI, or by the SAR TLVs sar_msg_ref_num / sar_total_segments / sar_segment_seqnum (SMPP 3.4
§5.3.2.22-24). Parts are keyed by (system_id, source, destination, reference, total) and joined
in sequence order once all have arrived. Pure: the server logs what `add` returns.

Single messages are kept as a cheap tuple and decoded only when someone reads the history.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from gateway.smpp.constants import EsmClass, TlvTag
from simulator.store import SubmittedPdu
from simulator.text import decode_text, split_udh

_IEI_CONCAT_8: Final = 0x00
_IEI_CONCAT_16: Final = 0x08
_UDHI: Final = int(EsmClass.udhi)
_SAR_REF: Final = int(TlvTag.sar_msg_ref_num)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    """One message as the SMSC received it: a single PDU, or every part of a concatenated one."""

    system_id: str
    message_ids: tuple[str, ...]
    source_addr: str
    destination_addr: str
    data_coding: int
    body: bytes
    parts: int

    @property
    def text(self) -> str:
        """The body decoded by data_coding (see simulator.text.decode_text)."""
        return decode_text(self.data_coding, self.body)


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Where one part sits in its message."""

    reference: int
    total: int
    seq: int


def payload_of(pdu: SubmittedPdu) -> bytes:
    """short_message, or the message_payload TLV when short_message is empty (§5.3.2.32)."""
    short_message = getattr(pdu, "short_message", b"")
    if short_message:
        return bytes(short_message)
    payload = pdu.tlvs.get(TlvTag.message_payload, b"")
    return payload if isinstance(payload, bytes) else b""


def concat_info(
    esm_class: int, payload: bytes, tlvs: dict[int, int | str | bytes]
) -> ConcatInfo | None:
    """The part's position from its UDH concat IE or SAR TLVs; None for a single message."""
    if esm_class & _UDHI:
        udh, _ = split_udh(esm_class, payload)
        found = _concat_from_udh(udh)
        if found is not None:
            return found
    if _SAR_REF in tlvs:
        ref = tlvs.get(_SAR_REF)
        total = tlvs.get(TlvTag.sar_total_segments)
        seq = tlvs.get(TlvTag.sar_segment_seqnum)
        if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int):
            return ConcatInfo(ref, total, seq)
    return None


def _concat_from_udh(udh: bytes) -> ConcatInfo | None:
    pos = 1
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if iei == _IEI_CONCAT_8 and len(data) == 3:
            return ConcatInfo(data[0], data[1], data[2])
        if iei == _IEI_CONCAT_16 and len(data) == 4:
            return ConcatInfo(int.from_bytes(data[:2], "big"), data[2], data[3])
        pos += 2 + length
    return None


_Key = tuple[str, str, str, int, int]
_Single = tuple[str, str, SubmittedPdu]


class Reassembler:
    """Collects parts; keeps the last `history` messages and at most `max_pending` partial ones."""

    def __init__(self, *, history: int = 1000, max_pending: int = 10_000) -> None:
        self._pending: collections.OrderedDict[_Key, dict[int, tuple[str, SubmittedPdu]]] = (
            collections.OrderedDict()
        )
        self._max_pending = max_pending
        self._history: collections.deque[ReceivedMessage | _Single] = collections.deque(
            maxlen=history
        )
        self.abandoned = 0

    @property
    def pending(self) -> int:
        """Messages with some but not all parts received."""
        return len(self._pending)

    def add(self, system_id: str, message_id: str, pdu: SubmittedPdu) -> ReceivedMessage | None:
        """Record one accepted PDU; returns the whole message when it completes a concatenation."""
        tlvs = pdu.tlvs
        if not (pdu.esm_class & _UDHI or (tlvs and _SAR_REF in tlvs)):
            self._history.append((system_id, message_id, pdu))
            return None
        info = concat_info(pdu.esm_class, payload_of(pdu), tlvs)
        if info is None or not 1 <= info.seq <= info.total:
            self._history.append((system_id, message_id, pdu))
            return None
        return self._add_part(system_id, message_id, pdu, info)

    def history(self) -> Iterator[ReceivedMessage]:
        """The retained messages, oldest first."""
        for entry in list(self._history):
            yield entry if isinstance(entry, ReceivedMessage) else _single(*entry)

    def _add_part(
        self, system_id: str, message_id: str, pdu: SubmittedPdu, info: ConcatInfo
    ) -> ReceivedMessage | None:
        destination = _destination_of(pdu)
        key = (system_id, pdu.source_addr, destination, info.reference, info.total)
        parts = self._pending.get(key)
        if parts is None:
            parts = self._pending[key] = {}
            if len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
                self.abandoned += 1
        parts[info.seq] = (message_id, pdu)
        if len(parts) < info.total:
            return None
        del self._pending[key]
        ordered = [parts[seq] for seq in range(1, info.total + 1)]
        first = ordered[0][1]
        message = ReceivedMessage(
            system_id=system_id,
            message_ids=tuple(mid for mid, _ in ordered),
            source_addr=first.source_addr,
            destination_addr=destination,
            data_coding=first.data_coding,
            body=b"".join(split_udh(p.esm_class, payload_of(p))[1] for _, p in ordered),
            parts=info.total,
        )
        self._history.append(message)
        return message


def _destination_of(pdu: SubmittedPdu) -> str:
    destination = getattr(pdu, "destination_addr", None)
    if isinstance(destination, str):
        return destination
    for address in getattr(pdu, "dest_addresses", ()):
        return str(getattr(address, "destination_addr", getattr(address, "dl_name", "")))
    return ""


def _single(system_id: str, message_id: str, pdu: SubmittedPdu) -> ReceivedMessage:
    return ReceivedMessage(
        system_id=system_id,
        message_ids=(message_id,),
        source_addr=pdu.source_addr,
        destination_addr=_destination_of(pdu),
        data_coding=pdu.data_coding,
        body=split_udh(pdu.esm_class, payload_of(pdu))[1],
        parts=1,
    )
