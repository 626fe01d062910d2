"""The one `info` line per message reaching a final status (docs/operations.md, "Logs").

Every path that makes a message final logs through here, so the line has one shape:
`message_final` with `message_id`, `status`, `reason` (an error code, the receipt's `err`, or
None) and `carrier` (None when no carrier was involved). Receipts finish most messages: their
lines come from the results of the write that applied them (gateway/store/records.py `settled`),
so a line is logged only for a final status actually recorded, once.
"""

from __future__ import annotations

import structlog

from gateway.store.records import Settled

log = structlog.get_logger()


def log_final(message_id: str | None, status: str, *, reason: str | None,
              carrier: str | None) -> None:  # fmt: skip
    """One message reached `status` (final)."""
    log.info("message_final", message_id=message_id, status=status, reason=reason,
             carrier=carrier)  # fmt: skip


def log_settled(done: Settled, carrier: str, error_code: str | None = None) -> None:
    """A receipt finished its message (`error_code`: the receipt's `err`, if any)."""
    reason = error_code if error_code and error_code.strip("0") else None
    log.info("message_final", message_id=done.message_id, status=done.status, reason=reason,
             carrier=carrier, early_receipt=done.early or None)  # fmt: skip
