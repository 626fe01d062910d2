"""What `make demo` prints about its traffic: a progress line while it runs, then a summary.

Pure: a `Tally` is fed the events read from the events stream, and the text is built from it
and the traffic that was enqueued; no Redis, no clock (elapsed seconds are arguments). The
summary counts final statuses in a small table, names every message that was not delivered
with its reason, and explains a repeated id: the engine acknowledges the second entry with no
event, by design (README "Delivery guarantees": sent once per id), so it never shows up as a
final status and must not read as a loss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.messages import FINAL_STATUSES, Status

# Table order: the happy path first, then the ways a message ends otherwise.
STATUS_ORDER = ("delivered", "undelivered", "expired", "failed", "rejected", "suppressed")
_FINAL = frozenset(status.value for status in FINAL_STATUSES)
_REASON_WIDTH = 72


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A message's final event: its status and, unless delivered, the error it carried."""

    status: str
    code: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class Tally:
    """Per id, whether it was submitted and how it ended, from the events seen so far."""

    submitted: set[str] = field(default_factory=set)
    final: dict[str, Outcome] = field(default_factory=dict)

    def add(self, event: Mapping[str, Any]) -> None:
        """Count one event (the JSON `data` of a smsgw:events entry)."""
        message_id, status = str(event.get("id")), event.get("status")
        if status == Status.submitted.value:
            self.submitted.add(message_id)
        elif status in _FINAL and message_id not in self.final:
            error = event.get("error") or {}
            self.final[message_id] = Outcome(
                status=str(status), code=error.get("code"), reason=error.get("reason")
            )

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.add(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    """What the demo put on the stream.

    Attributes:
        entries: how many stream entries were added.
        expected: the ids to expect a final event for: each distinct message id, and the
            stream entry id of each entry with no readable id (its events stand under it).
        repeated: each id enqueued more than once, with how many extra entries carried it.
    """

    entries: int
    expected: frozenset[str]
    repeated: Mapping[str, int]

    @classmethod
    def from_ids(cls, ids: Sequence[str | None], entry_ids: Sequence[str]) -> Enqueued:
        """`ids[i]` is the message id of the entry added as `entry_ids[i]` (None: unreadable)."""
        counts = Counter(i for i in ids if i is not None)
        unreadable = {entry for i, entry in zip(ids, entry_ids, strict=True) if i is None}
        return cls(
            entries=len(entry_ids),
            expected=frozenset(counts) | unreadable,
            repeated={i: n - 1 for i, n in counts.items() if n > 1},
        )


def progress_line(elapsed: float, tally: Tally, enqueued: Enqueued) -> str:
    """One line while traffic runs: seconds so far, submitted and final counts."""
    final = len(enqueued.expected & tally.final.keys())
    submitted = len(enqueued.expected & tally.submitted)
    return (
        f"  {elapsed:5.1f} s  submitted {submitted:>4}  final {final:>4} of "
        f"{len(enqueued.expected)}"
    )


def summary_text(tally: Tally, enqueued: Enqueued, elapsed: float) -> str:
    """The end-of-demo summary (see the module docstring)."""
    finished = {i: o for i, o in tally.final.items() if i in enqueued.expected}
    pending = sorted(enqueued.expected - finished.keys())
    lines = [
        f"{enqueued.entries} entries enqueued for {len(enqueued.expected)} messages; "
        f"{len(finished)} reached a final status in {elapsed:.1f} s"
        + (f", {len(pending)} did not" if pending else ""),
        "",
        *_status_table(Counter(o.status for o in finished.values())),
    ]
    lines += _not_delivered(finished)
    lines += _duplicates(enqueued.repeated)
    if pending:
        lines += ["", f"still without a final status: {', '.join(pending)}"]
    return "\n".join(lines)


def _status_table(counts: Counter[str]) -> list[str]:
    order = [s for s in STATUS_ORDER if counts[s]] + sorted(set(counts) - set(STATUS_ORDER))
    rows = [f"{'status':<13} {'messages':>8}"]
    rows += [f"{status:<13} {counts[status]:>8}" for status in order]
    rows.append(f"{'total':<13} {sum(counts.values()):>8}")
    return rows


def _not_delivered(finished: Mapping[str, Outcome]) -> list[str]:
    misses = sorted(
        ((i, o) for i, o in finished.items() if o.status != Status.delivered.value),
        key=lambda item: (STATUS_ORDER.index(item[1].status), item[0]),
    )
    if not misses:
        return []
    width = max(len(i) for i, _ in misses)
    lines = ["", "not delivered, and why:"]
    for message_id, outcome in misses:
        reason = _shorten(outcome.reason or "")
        why = f"{outcome.code or '-'}" + (f" ({reason})" if reason else "")
        lines.append(f"  {message_id:<{width}}  {outcome.status:<11}  {why}")
    return lines


def _duplicates(repeated: Mapping[str, int]) -> list[str]:
    lines = []
    for message_id, extra in sorted(repeated.items()):
        entries = "1 entry was a duplicate" if extra == 1 else f"{extra} entries were duplicates"
        lines.append(f"{entries} of id {message_id}: acknowledged with no event, by design")
        lines.append("  (an id is sent once: the events of its first entry stand for it)")
    return ["", *lines] if lines else []


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_WIDTH else text[: _REASON_WIDTH - 3] + "..."
