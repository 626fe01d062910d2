"""fold_answers and judge_attempt: what submit answers mean, without I/O or a clock."""

from __future__ import annotations

import random

import pytest

from gateway.engine.outcomes import (
    Attempt,
    Fail,
    Failover,
    Hold,
    Retry,
    Submitted,
    fold_answers,
    judge_attempt,
)
from gateway.errors import ConnectionLostError, NotBoundError, ResponseTimeoutError
from gateway.smpp.constants import CommandStatus
from gateway.smpp.pdu import SubmitSmResp
from routing.retry import Disposition, RetryPolicy

POLICY = RetryPolicy(max_attempts=3, initial_delay=1.0, max_delay=30.0, multiplier=2.0)


def resp(status: int = 0, message_id: str = "") -> SubmitSmResp:
    return SubmitSmResp(command_status=status, sequence_number=1, message_id=message_id)


def judged(answers: list[object], *, attempt: int = 1, on_unknown: str = "hold") -> object:
    result = Attempt([None] * len(answers))
    fold_answers(result, range(len(answers)), answers, POLICY.classify)
    return judge_attempt(result, attempt=attempt, retry=POLICY, on_unknown_outcome=on_unknown,
                         rng=random.Random(1))  # fmt: skip


def test_every_part_accepted_is_submitted_with_its_ids_in_part_order() -> None:
    assert judged([resp(0, "a"), resp(0, "b")]) == Submitted(("a", "b"))


def test_a_lost_response_is_held_for_a_receipt_unless_the_carrier_says_resend() -> None:
    """No submit_sm_resp: the carrier may have the message. Resending risks a duplicate, so
    it is held (README, Outcome unknown); `on_unknown_outcome: resend` trades that away."""
    timeout = ResponseTimeoutError("no response within 5 s")
    assert judged([resp(0, "a"), timeout]) == Hold("no response within 5 s")
    resent = judged([ConnectionLostError("gone")], on_unknown="resend")
    assert isinstance(resent, Retry)
    assert resent.code == "outcome_unknown"


def test_nothing_sent_fails_over_and_is_not_counted_as_an_attempt() -> None:
    assert judged([NotBoundError("down")]) == Failover(
        "failover", "bind went down before sending", counted=False, remembered=False
    )


def test_a_transient_status_retries_with_backoff_until_the_attempts_are_used_up() -> None:
    """ESME_RSYSERR is transient (SMPP 3.4 §5.1.3; reference README: usually transient)."""
    first = judged([resp(CommandStatus.ESME_RSYSERR)], attempt=1)
    assert isinstance(first, Retry)
    assert (first.code, first.delay > 0) == ("ESME_RSYSERR", True)
    last = judged([resp(CommandStatus.ESME_RSYSERR)], attempt=3)
    assert isinstance(last, Fail)
    assert last.reason.startswith("gave up after 3 attempts")


def test_a_permanent_status_fails_at_once() -> None:
    assert judged([resp(CommandStatus.ESME_RINVMSGLEN)]) == Fail(
        "ESME_RINVMSGLEN", "carrier answered ESME_RINVMSGLEN"
    )


def test_the_worst_answer_of_a_multi_part_round_decides() -> None:
    """A refused part outranks a throttled one and an accepted one: the message cannot be
    complete on this attempt."""
    result = Attempt([None, None, None])
    folded = fold_answers(
        result,
        [0, 1, 2],
        [resp(0, "a"), resp(CommandStatus.ESME_RTHROTTLED), resp(CommandStatus.ESME_RINVMSGLEN)],
        POLICY.classify,
    )
    assert folded.throttled
    assert folded.statuses == (0, CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RINVMSGLEN)
    assert (result.disposition, result.cids) == (Disposition.PERMANENT, ["a", None, None])


def test_an_answer_no_submit_gives_is_raised_as_it_came() -> None:
    with pytest.raises(KeyError):
        fold_answers(Attempt([None]), [0], [KeyError("bug")], POLICY.classify)
