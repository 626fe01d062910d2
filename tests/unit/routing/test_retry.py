"""Retry policy: default classification, backoff schedule, and the config loader's errors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smpp.constants import CommandStatus
from routing.errors import RoutingError
from routing.retry import Disposition, RetryPolicy, retry_policy_from_mapping

S = CommandStatus
D = Disposition
POLICY = RetryPolicy()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.ESME_ROK, D.SUCCESS),
        (S.ESME_RTHROTTLED, D.THROTTLED),
        (S.ESME_RMSGQFUL, D.THROTTLED),
        (S.ESME_RSYSERR, D.RETRY),
        (S.ESME_RX_T_APPN, D.RETRY),
        (S.ESME_RINVBNDSTS, D.RETRY),
        (S.ESME_RDELIVERYFAILURE, D.RETRY),
        (S.ESME_RINVDSTADR, D.FAILOVER),
        (S.ESME_RSUBMITFAIL, D.FAILOVER),
        (S.ESME_RUNKNOWNERR, D.FAILOVER),
        (0x400, D.FAILOVER),
        (0x4FF, D.FAILOVER),
        (S.ESME_RINVSRCADR, D.PERMANENT),
        (S.ESME_RINVMSGLEN, D.PERMANENT),
        (S.ESME_RINVDSTTON, D.PERMANENT),
        (S.ESME_RINVSCHED, D.PERMANENT),
        (S.ESME_RX_P_APPN, D.PERMANENT),
        (S.ESME_RINVOPTPARAMVAL, D.PERMANENT),
        (0x101, D.PERMANENT),  # SMPP 5.0 ESME_RPROHIBITED from a 3.4 peer
        (0x3FF, D.PERMANENT),
        (0x500, D.PERMANENT),
        (0xFFFFFFFF, D.PERMANENT),
    ],
)
def test_default_classification(status: int, expected: Disposition) -> None:
    assert POLICY.classify(status) is expected


@pytest.mark.parametrize(
    ("reason", "expected"), [(0, D.RETRY), (1, D.PERMANENT), (2, D.PERMANENT), (3, D.RETRY)]
)
def test_delivery_failure_reason_refines_0xfe(reason: int, expected: Disposition) -> None:
    got = POLICY.classify(S.ESME_RDELIVERYFAILURE, delivery_failure_reason=reason)
    assert got is expected


def test_delivery_failure_reason_is_ignored_for_other_statuses() -> None:
    assert POLICY.classify(S.ESME_RSYSERR, delivery_failure_reason=1) is D.RETRY


def test_unknown_outcome_holds_by_default_and_resends_when_configured() -> None:
    assert POLICY.unknown_outcome() is D.UNKNOWN_OUTCOME
    assert RetryPolicy(on_unknown_outcome="resend").unknown_outcome() is D.RETRY


def test_delay_grows_exponentially_within_equal_jitter_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0)
    rng = random.Random(5)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (50, 10.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # actually jittered


@settings(max_examples=200)
@given(
    attempt=st.integers(min_value=-5, max_value=10**6),
    initial=st.floats(min_value=0.001, max_value=100),
    multiplier=st.floats(min_value=1.0, max_value=100.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_never_exceeds_max_or_overflows(
    attempt: int, initial: float, multiplier: float, seed: int
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=initial * 50, multiplier=multiplier)
    delay = policy.delay(attempt, random.Random(seed))
    assert initial / 2 <= delay <= initial * 50


def test_loader_accepts_names_numbers_and_ranges() -> None:
    policy = retry_policy_from_mapping(
        {
            "max_attempts": 3,
            "initial_delay": 2,
            "throttle": ["esme_rthrottled", 0x14, "0x401"],
            "failover": ["0x410-0x41F", "ESME_RSUBMITFAIL"],
            "on_unknown_outcome": "resend",
        },
        "carriers[0].retry",
    )
    assert policy.max_attempts == 3
    assert policy.initial_delay == 2
    assert policy.throttle == {0x58, 0x14, 0x401}
    assert policy.failover == set(range(0x410, 0x420)) | {0x45}
    assert policy.transient == RetryPolicy().transient  # untouched class keeps its default
    assert policy.classify(0x401) is D.THROTTLED
    assert policy.classify(0x400) is D.PERMANENT  # failover was replaced, not extended
    assert policy.unknown_outcome() is D.RETRY


def test_loader_moves_an_explicit_status_out_of_default_classes() -> None:
    policy = retry_policy_from_mapping(
        {"transient": ["ESME_RSUBMITFAIL"], "permanent": ["0x400", "ESME_RINVDSTADR"]}, "retry"
    )
    assert policy.classify(S.ESME_RSUBMITFAIL) is D.RETRY
    assert policy.classify(0x400) is D.PERMANENT
    assert policy.classify(S.ESME_RINVDSTADR) is D.PERMANENT
    assert policy.classify(0x401) is D.FAILOVER  # rest of the vendor range unchanged
    assert policy.classify(S.ESME_RSYSERR) is D.PERMANENT  # transient list was replaced


def test_loader_builds_on_a_base_policy() -> None:
    base = retry_policy_from_mapping({"max_attempts": 2, "throttle": [0x58]}, "retry")
    carrier = retry_policy_from_mapping({"initial_delay": 5.0}, "carriers[1].retry", base=base)
    assert carrier.max_attempts == 2
    assert carrier.initial_delay == 5.0
    assert carrier.throttle == {0x58}


def test_loader_with_empty_mapping_is_the_default() -> None:
    assert retry_policy_from_mapping({}, "retry") == RetryPolicy()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"throttle": "ESME_RTHROTTLED"}, "retry.throttle: expected a list"),
        ({"failover": [True]}, r"retry.failover\[0\]: expected a command_status name or number"),
        ({"failover": [0]}, r"retry.failover\[0\]: ESME_ROK \(0\) is always success"),
        ({"failover": [2**32]}, r"retry.failover\[0\]: command_status 0x100000000 is out of range"),
        ({"failover": ["0x4FF-0x400"]}, r"retry.failover\[0\]: empty range"),
        ({"failover": ["0x4GG"]}, r"retry.failover\[0\]: unknown command_status '0x4GG'"),
        (
            {"transient": [0x45], "failover": ["ESME_RSUBMITFAIL"]},
            r"retry.failover\[0\]: ESME_RSUBMITFAIL \(0x45\) is also listed under transient",
        ),
        ({"retries": 3}, r"retry.retries: unknown key"),
        ({"max_attempts": 0}, "retry.max_attempts: expected int >= 1, got 0"),
        ({"max_attempts": "ten"}, "retry.max_attempts: expected int >= 1, got 'ten'"),
        ({"initial_delay": 0}, r"retry.initial_delay: expected a number > 0.0"),
        ({"initial_delay": 10, "max_delay": 5}, r"retry.max_delay: expected a number >= 10"),
        ({"multiplier": 0.5}, r"retry.multiplier: expected a number >= 1.0"),
        ({"max_delay": float("nan")}, r"retry.max_delay"),
        ({"on_unknown_outcome": "drop"}, r"retry.on_unknown_outcome: expected 'hold' or 'resend'"),
    ],
)
def test_loader_errors_name_the_key_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        retry_policy_from_mapping(data, "retry")


def test_unknown_status_name_error_is_exact() -> None:
    with pytest.raises(RoutingError) as info:
        retry_policy_from_mapping({"transient": ["ESME_RSYSERR", 0x64, "ESME_RFOO"]}, "retry")
    assert str(info.value) == "retry.transient[2]: unknown command_status 'ESME_RFOO'"


def test_policy_rejects_overlapping_classes() -> None:
    with pytest.raises(RoutingError, match=r"failover: ESME_RTHROTTLED \(0x58\) is also listed"):
        RetryPolicy(failover=frozenset({0x58}))


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_every_status_gets_exactly_one_disposition(status: int) -> None:
    disposition = POLICY.classify(status)
    assert disposition is not D.UNKNOWN_OUTCOME
    assert (disposition is D.SUCCESS) == (status == 0)
