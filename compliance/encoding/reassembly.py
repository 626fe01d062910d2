"""Reassembly of concatenated MO messages that arrive in any order (UDH or SAR).

Owns the pending-fragment bookkeeping. Fragments are grouped by (source, destination,
reference) as TS 23.040 §9.2.3.24.1 prescribes; a group is complete when every seq 1..total has
arrived, and is then decoded once from the joined user data, so an escape or a surrogate pair
that a sender split across parts is rejoined. Nothing is dropped silently: a group that times out
(no fragment for `timeout` seconds, measured on the injected clock), is pushed out by
`max_pending`, or is superseded by a new message reusing its reference is returned as a
`ReassembledMessage` with complete=False and its missing seqs. A fragment repeated after its
message completed (an SMSC redelivering after a lost deliver_sm_resp) is recognised for
`timeout` seconds and ignored rather than opening a new group.

Pure and single-threaded: the caller feeds fragments, calls `expire()` on its own schedule
(`next_deadline()` says when) and `flush()` at shutdown. Time comes from an injected clock, or
from a `now` argument on each call (the sans-IO style of Session.receive_data(data, now)).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from compliance.encoding.decode import decode_user_data
from compliance.encoding.model import ConcatInfo, DecodedText, Encoding

_Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReassembledMessage:
    """A whole MO message, or as much of one as arrived.

    Attributes:
        source, destination: the addresses the fragments came with.
        reference: the concatenation reference (None for a message that was never split).
        total: parts announced; missing: seqs that never arrived (empty when complete).
        complete: every part arrived.
        text: the text of the parts that arrived, in order (None for binary data).
        segments: each part's own text by seq, None where missing.
        encoding, data_coding: those of the first part received.
        user_data: the joined user data of the parts that arrived.
        first_received, last_received: clock readings of the first and last fragment.
    """

    source: str
    destination: str
    reference: int | None
    total: int
    complete: bool
    text: str | None
    segments: tuple[str | None, ...]
    missing: tuple[int, ...]
    encoding: Encoding
    data_coding: int
    user_data: bytes
    first_received: float
    last_received: float


@dataclass(slots=True, kw_only=True)
class _Group:
    source: str
    destination: str
    reference: int
    total: int
    first_received: float
    last_received: float
    parts: dict[int, DecodedText] = field(default_factory=dict)


class Reassembler:
    """Collects fragments of concatenated messages until complete or timed out.

    Args:
        clock: seconds (e.g. loop.time), used when a call passes no `now`.
        timeout: seconds without a new fragment after which a group is given up.
        max_pending: groups held at most; the least recently active is given up beyond it.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        timeout: float = 300.0,
        max_pending: int = 10_000,
    ) -> None:
        if timeout <= 0 or max_pending < 1:
            raise ValueError("timeout must be > 0 and max_pending >= 1")
        self._clock = clock
        self._timeout = timeout
        self._max_pending = max_pending
        self._groups: OrderedDict[_Key, _Group] = OrderedDict()
        self._completed: OrderedDict[_Key, tuple[float, dict[int, bytes]]] = OrderedDict()

    @property
    def pending(self) -> int:
        """Groups waiting for more fragments."""
        return len(self._groups)

    def next_deadline(self) -> float | None:
        """Clock reading at which the oldest pending group times out, None when idle."""
        for group in self._groups.values():
            return group.last_received + self._timeout
        return None

    def add(
        self,
        *,
        source: str,
        destination: str,
        decoded: DecodedText,
        sar: ConcatInfo | tuple[int, int, int] | None = None,
        now: float | None = None,
    ) -> list[ReassembledMessage]:
        """Feed one decoded deliver_sm (or data_sm).

        Args:
            source, destination: the PDU's source_addr and destination_addr.
            decoded: the decoded short_message; its UDH concat element is used by default.
            sar: (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) from the SAR TLVs
                (or udh.concat_from_sar's ConcatInfo), used when the UDH has no concat element.
            now: the current time; defaults to the injected clock.

        Returns:
            Messages finished by this fragment: the completed one, a single-part message as
            is, and any group this fragment superseded or pushed out (complete=False).
        """
        now = self._now(now)
        message = decoded
        concat = message.concat or _sar_concat(sar)
        if concat is None or concat.total == 1:
            reference = concat.reference if concat is not None else None
            return [_single(source, destination, reference, message, now)]
        key = (source, destination, concat.reference)
        self._forget_completed(now)
        if self._is_repeat(key, concat, message):
            return []
        done: list[ReassembledMessage] = []
        group = self._groups.get(key)
        if group is not None and _conflicts(group, concat, message):
            done.append(self._give_up(key))
            group = None
        if group is None:
            done += self._make_room()
            group = _Group(
                source=source,
                destination=destination,
                reference=concat.reference,
                total=concat.total,
                first_received=now,
                last_received=now,
            )
            self._groups[key] = group
        group.parts[concat.seq] = message
        group.last_received = now
        self._groups.move_to_end(key)
        if len(group.parts) == group.total:
            del self._groups[key]
            self._remember_completed(key, group, now)
            done.append(_assemble(group, complete=True))
        return done

    def expire(self, now: float | None = None) -> list[ReassembledMessage]:
        """Give up on groups idle for `timeout` seconds; returns them incomplete."""
        now = self._now(now)
        expired: list[ReassembledMessage] = []
        while self._groups:
            key, group = next(iter(self._groups.items()))
            if group.last_received + self._timeout > now:
                break
            expired.append(self._give_up(key))
        return expired

    def flush(self) -> list[ReassembledMessage]:
        """Give up on every pending group (shutdown); returns them incomplete."""
        return [self._give_up(key) for key in list(self._groups)]

    def _now(self, now: float | None) -> float:
        if now is not None:
            return now
        if self._clock is None:
            raise ValueError("Reassembler has no clock: pass now=")
        return self._clock()

    def _is_repeat(self, key: _Key, concat: ConcatInfo, message: DecodedText) -> bool:
        if key in self._groups:
            return False
        completed = self._completed.get(key)
        return completed is not None and completed[1].get(concat.seq) == message.user_data

    def _remember_completed(self, key: _Key, group: _Group, now: float) -> None:
        self._completed[key] = (now, {seq: part.user_data for seq, part in group.parts.items()})
        self._completed.move_to_end(key)
        while len(self._completed) > self._max_pending:
            self._completed.popitem(last=False)

    def _forget_completed(self, now: float) -> None:
        while self._completed:
            completed_at = next(iter(self._completed.values()))[0]
            if completed_at + self._timeout > now:
                break
            self._completed.popitem(last=False)

    def _make_room(self) -> list[ReassembledMessage]:
        evicted: list[ReassembledMessage] = []
        while len(self._groups) >= self._max_pending:
            evicted.append(self._give_up(next(iter(self._groups))))
        return evicted

    def _give_up(self, key: _Key) -> ReassembledMessage:
        return _assemble(self._groups.pop(key), complete=False)


def _sar_concat(sar: ConcatInfo | tuple[int, int, int] | None) -> ConcatInfo | None:
    if sar is None or isinstance(sar, ConcatInfo):
        return sar
    reference, total, seq = sar
    if total < 1 or not 1 <= seq <= total:
        return None
    return ConcatInfo(reference=reference, total=total, seq=seq, reference_bits=16)


def _conflicts(group: _Group, concat: ConcatInfo, message: DecodedText) -> bool:
    """A fragment that cannot belong to `group`: another message reusing the reference."""
    if concat.total != group.total:
        return True
    previous = group.parts.get(concat.seq)
    return previous is not None and previous.user_data != message.user_data


def _single(
    source: str, destination: str, reference: int | None, message: DecodedText, now: float
) -> ReassembledMessage:
    return ReassembledMessage(
        source=source,
        destination=destination,
        reference=reference,
        total=1,
        complete=True,
        text=message.text,
        segments=(message.text,),
        missing=(),
        encoding=message.encoding,
        data_coding=message.data_coding,
        user_data=message.user_data,
        first_received=now,
        last_received=now,
    )


def _assemble(group: _Group, *, complete: bool) -> ReassembledMessage:
    by_seq = [group.parts.get(seq) for seq in range(1, group.total + 1)]
    present = [part for part in by_seq if part is not None]
    first = present[0]
    user_data = b"".join(part.user_data for part in present)
    uniform = all(
        (part.encoding, part.locking_shift, part.single_shift)
        == (first.encoding, first.locking_shift, first.single_shift)
        for part in present
    )
    if complete and uniform:
        text = decode_user_data(
            user_data, first.encoding, locking=first.locking_shift, single=first.single_shift
        )
    else:
        texts = [part.text for part in present]
        text = None if any(t is None for t in texts) else "".join(t for t in texts if t)
    return ReassembledMessage(
        source=group.source,
        destination=group.destination,
        reference=group.reference,
        total=group.total,
        complete=complete,
        text=text,
        segments=tuple(part.text if part is not None else None for part in by_seq),
        missing=tuple(seq for seq, part in enumerate(by_seq, start=1) if part is None),
        encoding=first.encoding,
        data_coding=first.data_coding,
        user_data=user_data,
        first_received=group.first_received,
        last_received=group.last_received,
    )
