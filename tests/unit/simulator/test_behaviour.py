"""The carrier's decisions: prefix rules, TPS limit, error share, outcome mix, receipt rules."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smpp.constants import CommandStatus
from simulator.behaviour import Behaviour, TokenBucket, wants_receipt
from simulator.config import FaultSettings, Outcome, PrefixRule, ReceiptSettings


def make(
    *,
    faults: FaultSettings | None = None,
    rules: tuple[PrefixRule, ...] = (),
    outcomes: dict[Outcome, float] | None = None,
    seed: int = 7,
    delay: float = 0.5,
    jitter: float = 0.0,
) -> Behaviour:
    receipts = ReceiptSettings(
        outcomes=outcomes or {Outcome.DELIVRD: 1.0}, delay=delay, delay_jitter=jitter
    )
    return Behaviour(
        receipts=receipts,
        faults=faults or FaultSettings(),
        prefix_rules=rules,
        rng=random.Random(seed),
    )


def test_token_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.05)  # half a token accrued
    assert bucket.take(0.1)
    assert not bucket.take(0.1)


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(1, 1000),
    times=st.lists(st.floats(0, 10), min_size=1, max_size=300).map(sorted),
)
def test_token_bucket_never_exceeds_rate_plus_burst(rate: float, times: list[float]) -> None:
    bucket = TokenBucket(rate=rate, burst=rate, now=0.0)
    taken = sum(bucket.take(t) for t in times)
    assert taken <= bucket.burst + rate * times[-1] + 1e-6


def test_tps_limit_answers_throttled_per_system_id() -> None:
    behaviour = make(faults=FaultSettings(tps=2))
    answers = [behaviour.submit_status("a", "447700900001", 0.0) for _ in range(3)]
    assert answers == [0, 0, CommandStatus.ESME_RTHROTTLED]
    assert behaviour.submit_status("b", "447700900001", 0.0) == 0  # own bucket
    assert behaviour.submit_status("a", "447700900001", 0.5) == 0  # refilled


def test_error_share_answers_about_that_share_with_the_chosen_status() -> None:
    behaviour = make(faults=FaultSettings(error_share=0.25, error_status=0x14))
    answers = Counter(behaviour.submit_status("a", "1", 0.0) for _ in range(4000))
    assert set(answers) == {0, 0x14}
    assert 800 < answers[0x14] < 1200


def test_prefix_status_rule_wins_over_everything() -> None:
    rule = PrefixRule(prefix="4479", submit_status=CommandStatus.ESME_RINVDSTADR)
    behaviour = make(faults=FaultSettings(error_share=1.0), rules=(rule,))
    assert behaviour.submit_status("a", "447912345678", 0.0) == CommandStatus.ESME_RINVDSTADR
    assert behaviour.submit_status("a", "447812345678", 0.0) == CommandStatus.ESME_RSYSERR


def test_longest_prefix_decides_the_outcome() -> None:
    rules = (
        PrefixRule(prefix="44", outcome=Outcome.EXPIRED),
        PrefixRule(prefix="4470000", outcome=Outcome.UNDELIV, err=42),
    )
    behaviour = make(rules=rules)
    assert behaviour.outcome_for("447000012345") == (Outcome.UNDELIV, 42)
    assert behaviour.outcome_for("447912345678") == (Outcome.EXPIRED, 27)
    assert behaviour.outcome_for("33612345678") == (Outcome.DELIVRD, 0)


def test_outcome_mix_follows_weights_and_seed() -> None:
    mix = {Outcome.DELIVRD: 0.7, Outcome.UNDELIV: 0.2, Outcome.REJECTD: 0.1}
    behaviour = make(outcomes=mix, seed=3)
    counts = Counter(behaviour.outcome_for("1")[0] for _ in range(5000))
    assert 3200 < counts[Outcome.DELIVRD] < 3800
    assert 300 < counts[Outcome.REJECTD] < 700
    assert counts[Outcome.EXPIRED] == 0


def test_same_seed_same_decisions() -> None:
    mix = {Outcome.DELIVRD: 0.5, Outcome.UNDELIV: 0.5}
    a, b = make(outcomes=mix, seed=11), make(outcomes=mix, seed=11)
    assert [a.outcome_for("1") for _ in range(50)] == [b.outcome_for("1") for _ in range(50)]


@pytest.mark.parametrize(
    ("registered_delivery", "outcome", "expected"),
    [
        (0, Outcome.DELIVRD, False),
        (0, Outcome.UNDELIV, False),
        (1, Outcome.DELIVRD, True),
        (1, Outcome.EXPIRED, True),
        (2, Outcome.DELIVRD, False),
        (2, Outcome.UNDELIV, True),
        (2, Outcome.REJECTD, True),
        (3, Outcome.DELIVRD, True),
        (3, Outcome.UNDELIV, False),
        (0x11, Outcome.DELIVRD, True),  # intermediate bit does not hide the final receipt
        (0x10, Outcome.DELIVRD, False),
    ],
)
def test_registered_delivery_bits_decide_the_receipt(
    registered_delivery: int, outcome: Outcome, expected: bool
) -> None:
    assert wants_receipt(registered_delivery, outcome) is expected


def test_receipt_delay_with_jitter_stays_in_range() -> None:
    behaviour = make(delay=1.0, jitter=0.5)
    delays = [behaviour.receipt_delay() for _ in range(200)]
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert len(set(delays)) > 1
    assert make(delay=0.25).receipt_delay() == 0.25


def test_changing_faults_resets_the_buckets() -> None:
    behaviour = make(faults=FaultSettings(tps=1))
    assert behaviour.submit_status("a", "1", 0.0) == 0
    assert behaviour.submit_status("a", "1", 0.0) == CommandStatus.ESME_RTHROTTLED
    behaviour.faults = FaultSettings(tps=1)
    assert behaviour.submit_status("a", "1", 0.0) == 0
    behaviour.faults = FaultSettings()
    assert all(behaviour.submit_status("a", "1", 0.0) == 0 for _ in range(100))
