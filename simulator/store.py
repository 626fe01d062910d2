"""The simulator's message store, what query_sm / cancel_sm / replace_sm see (SMPP 3.4 §4.8-4.10).

A bounded, insertion-ordered map from message_id to `MessageRecord`; the oldest records are
evicted first, so memory stays flat under any load. A record holds a reference to the submitted
PDU rather than copies of its fields (the submit hot path pays one small object and two
container appends). Receipts hold their record directly, so eviction never loses a receipt.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from gateway.smpp.constants import MessageState
from gateway.smpp.pdu import DataSm, SubmitMulti, SubmitSm
from simulator.config import Outcome

SubmittedPdu = SubmitSm | DataSm | SubmitMulti


class MessageRecord:
    """One accepted message (one per submit_sm / data_sm; one per submit_multi)."""

    __slots__ = (
        "destination",
        "error_code",
        "final_at",
        "message_id",
        "pdu",
        "planned",
        "receipts_due",
        "state",
        "submitted_at",
        "system_id",
    )

    def __init__(
        self,
        message_id: str,
        system_id: str,
        pdu: SubmittedPdu,
        destination: tuple[int, int, str],
        submitted_at: float,
    ) -> None:
        self.message_id = message_id
        self.system_id = system_id
        self.pdu = pdu
        self.destination = destination
        self.submitted_at = submitted_at
        self.state = MessageState.ENROUTE
        self.final_at: float | None = None
        self.error_code = 0
        self.receipts_due = 0  # receipts scheduled and not yet sent
        self.planned: tuple[Outcome, int] | None = None  # outcome decided, no receipt wanted

    @property
    def is_final(self) -> bool:
        return self.state != MessageState.ENROUTE

    @property
    def source(self) -> tuple[int, int, str]:
        pdu = self.pdu
        return pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr

    def finish(self, state: MessageState, at: float, error_code: int = 0) -> None:
        """Move to a final state (delivered, undeliverable, deleted, ...)."""
        self.state = state
        self.final_at = at
        self.error_code = error_code


class MessageStore:
    """At most `capacity` records; adding past it evicts the oldest."""

    __slots__ = ("_order", "_records", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("store capacity must be at least 1")
        self.capacity = capacity
        self._records: dict[str, MessageRecord] = {}
        self._order: collections.deque[str] = collections.deque()

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: MessageRecord) -> None:
        """Keep `record` under its message_id (ids are unique per simulator run)."""
        order = self._order
        if len(order) >= self.capacity:
            self._records.pop(order.popleft(), None)
        message_id = record.message_id
        self._records[message_id] = record
        order.append(message_id)

    def get(self, message_id: str, system_id: str) -> MessageRecord | None:
        """The record for `message_id` if `system_id` submitted it (accounts never see others')."""
        record = self._records.get(message_id)
        if record is None or record.system_id != system_id:
            return None
        return record

    def matching(
        self, system_id: str, source_addr: str, destination_addr: str
    ) -> Iterator[MessageRecord]:
        """Records of `system_id` from `source_addr` to `destination_addr` (cancel_sm, §4.9)."""
        for record in self._records.values():
            if (
                record.system_id == system_id
                and record.pdu.source_addr == source_addr
                and record.destination[2] == destination_addr
            ):
                yield record
