"""What a round of submit answers means for a message, decided without I/O.

`fold_answers` folds one round's answers (submit_sm_resp PDUs, or the errors a bind raised)
into an `Attempt`; `judge_attempt` turns a finished attempt into the one thing to do next:
- `Submitted`: every part accepted, record it;
- `Hold`: the outcome is unknown (no response, or an unreadable one): hold the message for a
  receipt (the carrier's `on_unknown_outcome: hold`);
- `Failover`: the carrier refused the message as a carrier (or its bind went down before
  anything was sent): try the next carrier of the route;
- `Retry`: a transient refusal: try again after `delay` seconds;
- `Fail`: a permanent refusal, or the retries are used up.

Each `command_status` is classified once, by the carrier's retry policy (routing/retry.py).
The dispatcher carries the decision out (records, metrics, logs); the batch path judges its
common case with the same function.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.errors import NotBoundError, OutcomeUnknownError
from gateway.smpp.constants import status_name
from routing.retry import Disposition, RetryPolicy

_SEVERITY = {
    Disposition.SUCCESS: 0,
    Disposition.THROTTLED: 1,
    Disposition.RETRY: 2,
    Disposition.UNKNOWN_OUTCOME: 3,
    Disposition.FAILOVER: 4,
    Disposition.PERMANENT: 5,
}


@dataclass(slots=True)
class Attempt:
    """What the rounds of submits on one carrier produced so far (the worst answer wins)."""

    cids: list[str | None]
    disposition: Disposition = Disposition.SUCCESS
    status: int = 0
    detail: str = ""
    unknown: bool = False
    not_sent: bool = False

    def accepted_all(self) -> bool:
        """Every part accepted by the carrier."""
        return self.disposition is Disposition.SUCCESS and None not in self.cids


@dataclass(slots=True)
class Folded:
    """One round folded in: whether some part was throttled, and the command_status of each
    answer that was a response (for the metrics).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    throttled: bool
    statuses: tuple[int, ...] = field(default=())


def fold_answers(
    result: Attempt,
    todo: Sequence[int],
    answers: Sequence[object],
    classify: Callable[[int], Disposition],
) -> Folded:
    """Fold one round's `answers` (for the parts `todo`) into `result`.

    Raises:
        BaseException: an answer that no submit should give (our bug), as it came.
    """
    throttled = False
    statuses: list[int] = []
    for index, answer in zip(todo, answers, strict=True):
        if isinstance(answer, OutcomeUnknownError):
            result.unknown = True
            result.detail = str(answer)
        elif isinstance(answer, NotBoundError):
            result.not_sent = True
        elif isinstance(answer, BaseException):
            raise answer
        else:
            status = getattr(answer, "command_status", 0)
            statuses.append(status)
            if status == 0:
                result.cids[index] = getattr(answer, "message_id", "") or ""
                continue
            disposition = classify(status)
            if disposition is Disposition.THROTTLED:
                throttled = True
            elif _SEVERITY[disposition] > _SEVERITY[result.disposition]:
                result.disposition, result.status = disposition, status
                result.detail = f"carrier answered {status_name(status)}"
    if result.unknown and result.disposition is Disposition.SUCCESS:
        result.disposition = Disposition.UNKNOWN_OUTCOME
    elif result.not_sent and result.disposition is Disposition.SUCCESS:
        result.disposition = Disposition.FAILOVER
        result.detail = "bind went down before sending"
    return Folded(throttled, tuple(statuses))


@dataclass(frozen=True, slots=True)
class Submitted:
    """Every part accepted: `cids` in part order."""

    cids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hold:
    """Outcome unknown: hold for a receipt."""

    detail: str


@dataclass(frozen=True, slots=True)
class Failover:
    """Try the next carrier. `counted` is False when nothing reached this one (not an
    attempt); `remembered` says whether the refusal is the message's last word if no other
    carrier takes it."""

    code: str
    detail: str
    counted: bool
    remembered: bool


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after `delay` seconds."""

    code: str
    detail: str
    delay: float


@dataclass(frozen=True, slots=True)
class Fail:
    """Final: `failed` with `code`."""

    code: str
    reason: str


Decision = Submitted | Hold | Failover | Retry | Fail


def judge_attempt(
    result: Attempt,
    *,
    attempt: int,
    retry: RetryPolicy,
    on_unknown_outcome: str,
    rng: random.Random,
) -> Decision:
    """The next step for a message whose attempt number `attempt` (counting this one)
    ended with `result`; `retry` and `on_unknown_outcome` are its carrier's."""
    if result.accepted_all():
        return Submitted(tuple(c for c in result.cids if c is not None))
    code = status_name(result.status) if result.status else result.disposition.name.lower()
    disposition = result.disposition
    if disposition is Disposition.UNKNOWN_OUTCOME:
        if on_unknown_outcome == "resend":
            return retry_later(attempt, "outcome_unknown", result.detail, retry, rng)
        return Hold(result.detail)
    if disposition is Disposition.FAILOVER:
        counted = not (result.not_sent and not result.unknown)
        return Failover(code, result.detail, counted=counted, remembered=not result.not_sent)
    if disposition is Disposition.PERMANENT:
        return Fail(code, result.detail)
    return retry_later(attempt, code, result.detail, retry, rng)


def retry_later(
    attempt: int, code: str, detail: str, retry: RetryPolicy, rng: random.Random
) -> Retry | Fail:
    """A retry after the policy's backoff, or the final failure when attempts are used up."""
    if attempt >= retry.max_attempts:
        return Fail(code, f"gave up after {attempt} attempts: {detail}")
    return Retry(code, detail, retry.delay(max(1, attempt), rng))
