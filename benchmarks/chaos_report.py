"""The chaos benchmark's verdict: per-id counts from the carrier's journal and from Redis, and
the printed table. Pure functions of what benchmarks/chaos.py collected (no I/O but print).

Definitions (the bars of benchmarks/chaos.py):

- copies of an id: how many times the carrier accepted it, counted per part (a multi-part
  message's copies are the most times any one of its parts was accepted; a message with a
  part the carrier never got is "incomplete").
- final events: events with a final status (delivered, undelivered, expired, failed,
  rejected, suppressed; `submitted` is not final).
- regression: a final status followed, later in the events stream, by a different status
  (failed -> delivered, delivered -> submitted, ...), or a hash status that disagrees with
  the id's last final event (or is final with no final event behind it).
- delivered with a part missing: a multi-part id whose hash says `delivered` while the carrier
  never accepted one of its parts (a receipt that says more than what arrived).
- crash window: the ids whose record showed `inflight` (marked in flight, submit_sm_resp not
  yet recorded) at a SIGKILL, snapshot right after a gateway or simulator kill and just
  before and right after a Redis kill (README "The remaining window"). Duplicates of these
  are documented; duplicates of any other id are not.
- documented hold: the hash is `deferred` with `outcome: unknown` (held for a receipt,
  `engine.unknown_outcome_hold`) when the run stops waiting.
- lost: no final state and no documented hold at the end. `submitted` ids are shown apart
  ("stuck submitted"): when their last copy went to a simulator that was SIGKILLed later,
  its receipt died with it. They are a documented state only once a carrier has
  `receipt_timeout` (which settles them), and the final wait outlasts that timeout, so any
  left at the end count as lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FINAL = frozenset({"delivered", "undelivered", "expired", "failed", "rejected", "suppressed"})
INCARNATION_SPAN = 10**9  # simulator incarnation k answers ids k*SPAN, k*SPAN+1, ...


@dataclass(frozen=True, slots=True)
class Event:
    status: str
    code: str | None


@dataclass(slots=True)
class CarrierCopies:
    """What the carrier's journal says about one id."""

    parts: Counter[int] = field(default_factory=Counter)  # part seq -> accepted copies
    total: int = 1  # parts the message has (from the concat header), 1 for a single
    refused: int = 0  # submits answered with an error status
    incarnations: list[int] = field(default_factory=list)  # simulator run of each accepted PDU

    @property
    def copies(self) -> int:
        return max(self.parts.values(), default=0)

    @property
    def incomplete(self) -> bool:
        return 0 < len(self.parts) < self.total


@dataclass(slots=True)
class Journal:
    """The carrier's journal, mapped to message ids."""

    by_id: dict[str, CarrierCopies]
    accepted_pdus: int = 0
    refused_pdus: int = 0
    unmapped: int = 0  # lines whose destination is none of ours
    text_mismatch: int = 0  # a first/single part whose text does not name its id


def map_journal(
    records: Iterable[Mapping[str, Any]], id_by_destination: Mapping[str, str]
) -> Journal:
    """Each accepted submit_sm, per id (each id has its own destination) and part."""
    journal = Journal(by_id={})
    for record in records:
        message_id = id_by_destination.get(str(record["destination"]))
        if message_id is None:
            journal.unmapped += 1
            continue
        copies = journal.by_id.setdefault(message_id, CarrierCopies())
        if record["status"] != 0:
            copies.refused += 1
            journal.refused_pdus += 1
            continue
        journal.accepted_pdus += 1
        concat = record.get("concat")
        seq = 1 if not concat else int(concat[2])
        copies.total = 1 if not concat else int(concat[1])
        copies.parts[seq] += 1
        copies.incarnations.append(int(record["message_id"]) // INCARNATION_SPAN)
        if seq == 1 and f"chaos {message_id} " not in str(record["text"]):
            journal.text_mismatch += 1
    return journal


@dataclass(frozen=True, slots=True, kw_only=True)
class Kills:
    """What the chaos did."""

    gateway: int
    simulator: int
    redis: int
    gateway_exits: int  # gateway processes that exited by themselves (restarted)
    simulator_exits: int
    windows: Mapping[str, frozenset[str]]  # kind -> ids in flight at a SIGKILL of that kind
    killed_incarnations: frozenset[int]  # simulator runs that ended with SIGKILL


@dataclass(slots=True)
class Verdict:
    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed whatever the verdict

    def row(self, label: str, value: object) -> None:
        self.rows.append((label, str(value)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """Everything collected at the end of a run."""

    ids: Sequence[str]
    journal: Journal
    events: Mapping[str, Sequence[Event]]
    hashes: Mapping[str, Mapping[str, str]]
    kills: Kills
    receipt_timeout: float | None
    wall_seconds: float
    enqueue_retries: int
    settled: str  # why the final wait ended


def _regressed(events: Sequence[Event]) -> bool:
    first_final = next((i for i, e in enumerate(events) if e.status in FINAL), None)
    if first_final is None:
        return False
    settled = events[first_final].status
    return any(e.status != settled for e in events[first_final + 1 :])


def _disagrees(events: Sequence[Event], hash_status: str) -> bool:
    finals = [e.status for e in events if e.status in FINAL]
    if finals:
        return hash_status != finals[-1]
    return hash_status in FINAL


def _examples(label: str, ids: Iterable[str], describe: Any, limit: int = 3) -> list[str]:
    return [f"{label} {i}: {describe(i)}" for i in sorted(ids)[:limit]]


def judge(out: Outcome) -> Verdict:
    """The table rows, the failed bars and a few examples of each failure."""
    v = Verdict()
    ids, by_id = out.ids, out.journal.by_id
    empty = CarrierCopies()
    copies = {i: by_id.get(i, empty).copies for i in ids}
    window = {i for ids_ in out.kills.windows.values() for i in ids_}
    status = {i: out.hashes.get(i, {}).get("status", "") for i in ids}
    events = {i: out.events.get(i, ()) for i in ids}

    def story(i: str) -> str:
        trail = " > ".join(e.status + (f"({e.code})" if e.code else "") for e in events[i])
        return f"carrier copies {copies[i]}, hash {status[i] or '-'}, events {trail or '-'}"

    v.row("messages", len(ids))
    v.row("submit_sm accepted by the carrier (PDUs)", out.journal.accepted_pdus)
    v.row("submit_sm refused by the carrier (PDUs)", out.journal.refused_pdus)
    if out.journal.unmapped or out.journal.text_mismatch:
        v.row("journal lines unmapped / text not naming its id",
              f"{out.journal.unmapped} / {out.journal.text_mismatch}")  # fmt: skip
    zero = {i for i in ids if copies[i] == 0}
    v.row("ids with 0 copies at the carrier", len(zero))
    v.row("ids with 1 copy", sum(1 for i in ids if copies[i] == 1))
    dup = {i for i in ids if copies[i] > 1}
    dup_in = dup & window
    dup_out = dup - window
    v.row("ids with >1 copies, inside the crash window", len(dup_in))
    for kind, members in sorted(out.kills.windows.items()):
        v.row(f"  ... in flight at a {kind} kill (window size {len(members)})",
              len(dup & members))  # fmt: skip
    v.row("ids with >1 copies, OUTSIDE the crash window", len(dup_out))
    extra = sum(copies[i] - 1 for i in dup_out)
    v.row("  extra copies outside the window (max for one id)",
          f"{extra} ({max((copies[i] for i in dup_out), default=0)})")  # fmt: skip
    incomplete = {i for i in ids if by_id.get(i, empty).incomplete}
    _incomplete(v, incomplete, status, by_id, story)

    final_counts = Counter(min(2, sum(1 for e in events[i] if e.status in FINAL)) for i in ids)
    v.row("ids with 0 / 1 / >1 final events",
          f"{final_counts[0]} / {final_counts[1]} / {final_counts[2]}")  # fmt: skip
    states = Counter(status[i] or "(no record)" for i in ids)
    for name, count in sorted(states.items(), key=lambda kv: -kv[1]):
        v.row(f"final state: {name}" if name in FINAL else f"not final: {name}", count)
    codes = Counter(
        (status[i], _last_final_code(events[i])) for i in ids if status[i] in FINAL - {"delivered"}
    )
    for (name, code), count in sorted(codes.items(), key=lambda kv: -kv[1]):
        v.row(f"  {name} with code {code}", count)

    hold = {i for i in ids if status[i] == "deferred" and out.hashes[i].get("outcome") == "unknown"}
    stuck = {i for i in ids if status[i] == "submitted"}
    stuck_lost_receipt = {
        i for i in stuck
        if by_id.get(i, empty).incarnations
        and by_id[i].incarnations[-1] in out.kills.killed_incarnations
    }  # fmt: skip
    not_final = {i for i in ids if status[i] not in FINAL}
    lost = not_final - hold
    v.row("documented holds (deferred, outcome unknown)", len(hold))
    v.row("stuck submitted (no receipt)", len(stuck))
    v.row("  ... last copy sent to a simulator later SIGKILLed", len(stuck_lost_receipt))
    v.row("LOST (no final state, no documented hold)", len(lost))
    regressed = {i for i in ids if _regressed(events[i])}
    disagree = {i for i in ids if _disagrees(events[i], status[i])}
    v.row("state regressions (a final status followed by another)", len(regressed))
    v.row("hash status disagreeing with the last final event", len(disagree))
    phantom = {i for i in ids if status[i] == "delivered" and copies[i] == 0}
    v.row("(check) delivered with 0 copies at the carrier", len(phantom))

    k = out.kills
    v.row("kills: gateway / simulator / redis", f"{k.gateway} / {k.simulator} / {k.redis}")
    v.row("unplanned exits: gateway / simulator", f"{k.gateway_exits} / {k.simulator_exits}")
    v.row("XADD retries (Redis down)", out.enqueue_retries)
    rt = (
        "not set (key not supported)"
        if out.receipt_timeout is None
        else f"{out.receipt_timeout:g} s"
    )
    v.row("carrier receipt_timeout", rt)
    v.row("final wait ended", out.settled)
    v.row("wall time", f"{out.wall_seconds:.1f} s")

    if lost:
        why = f"{len(lost)} lost"
        if stuck and out.receipt_timeout is None:
            why += f" ({len(stuck)} stuck submitted: no receipt_timeout to settle them)"
        v.failures.append(why)
        v.examples += _examples("lost", lost, story)
    if dup_out:
        v.failures.append(f"{len(dup_out)} duplicated outside the crash window ({extra} extra)")
        v.examples += _examples("duplicate", dup_out, story)
    if regressed or disagree:
        v.failures.append(f"{len(regressed)} state regressions, {len(disagree)} disagreements")
        v.examples += _examples("regression", regressed | disagree, story)
    if out.journal.unmapped or out.journal.text_mismatch:
        v.failures.append("the journal does not map to our ids")
    return v


def _incomplete(
    v: Verdict,
    incomplete: set[str],
    status: Mapping[str, str],
    by_id: Mapping[str, CarrierCopies],
    story: Any,
) -> None:
    """The multi-part ids the carrier got only some parts of: a row, their final states, a
    line each, and a failed bar for any that ended `delivered` (a receipt that says the whole
    text arrived when the carrier never had all of it)."""

    def parts_story(i: str) -> str:
        got = by_id[i]
        return (f"parts at the carrier {dict(sorted(got.parts.items()))} of {got.total}, "
                f"simulator runs {got.incarnations}, {story(i)}")  # fmt: skip

    v.row("multi-part ids missing a part at the carrier", len(incomplete))
    states = Counter(status[i] or "(no record)" for i in incomplete)
    v.row(
        "  ... their final states", ", ".join(f"{n} {c}" for n, c in sorted(states.items())) or "-"
    )
    v.notes += _examples("missing a part:", incomplete, parts_story)
    half_told = {i for i in incomplete if status[i] == "delivered"}
    if half_told:
        v.failures.append(f"{len(half_told)} delivered with a part missing at the carrier")
        v.examples += _examples("half delivered", half_told, parts_story)


def _last_final_code(events: Sequence[Event]) -> str:
    finals = [e for e in events if e.status in FINAL]
    return (finals[-1].code or "-") if finals else "(no final event)"


def print_verdict(v: Verdict) -> None:
    width = max(len(label) for label, _ in v.rows)
    print()
    for label, value in v.rows:
        print(f"  {label:<{width}}  {value}")
    for note in v.notes:
        print(f"  {note}")
    print()
    if v.failures:
        print("BARS MISSED: " + "; ".join(v.failures))
        for line in v.examples:
            print(f"  e.g. {line}")
    else:
        print(
            "all bars met: 0 lost, 0 duplicates outside the crash window, 0 regressions, "
            "0 delivered with a part missing"
        )
