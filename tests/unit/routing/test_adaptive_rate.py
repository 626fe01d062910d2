"""AIMD effective rate on throttle answers, driven by a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.adaptive import AdaptiveRate
from routing.errors import RoutingError


def test_starts_at_the_configured_rate() -> None:
    assert AdaptiveRate(max_rate=100).rate(0.0) == 100


def test_throttle_answer_halves_the_rate() -> None:
    aimd = AdaptiveRate(max_rate=100, increase=5)
    assert aimd.on_throttled(10.0) is True
    assert aimd.rate(10.0) == 50


def test_answers_within_cooldown_are_one_congestion_event() -> None:
    """A window of submits answered 'throttled' at once cuts once, not once per answer."""
    aimd = AdaptiveRate(max_rate=100, increase=5, cooldown=1.0)
    assert aimd.on_throttled(10.0) is True
    assert [aimd.on_throttled(10.0 + i / 100) for i in range(1, 10)] == [False] * 9
    assert aimd.rate(10.09) == pytest.approx(50)
    assert aimd.on_throttled(11.05) is True  # cooldown over; under a second since 10.09
    assert aimd.rate(11.05) == pytest.approx(25)


def test_recovers_additively_per_second_without_throttle_answers() -> None:
    aimd = AdaptiveRate(max_rate=100, increase=5)
    aimd.on_throttled(10.0)
    assert aimd.rate(10.99) == pytest.approx(50)  # grows per whole quiet second
    assert aimd.rate(11.0) == pytest.approx(55)
    assert aimd.rate(14.5) == pytest.approx(70)
    assert aimd.rate(20.0) == 100
    assert aimd.rate(500.0) == 100  # never above the configured TPS


def test_throttle_answer_restarts_recovery_even_without_a_cut() -> None:
    aimd = AdaptiveRate(max_rate=100, increase=10, cooldown=5.0)
    aimd.on_throttled(0.0)  # 50
    assert aimd.on_throttled(2.0) is False  # within cooldown: no cut, but 70 is the new base
    assert aimd.rate(2.0) == pytest.approx(70)
    assert aimd.rate(3.0) == pytest.approx(80)


def test_cuts_never_go_below_the_floor() -> None:
    aimd = AdaptiveRate(max_rate=100, min_rate=10, increase=1, cooldown=0.0)
    for i in range(20):
        aimd.on_throttled(float(i))
    assert aimd.rate(19.0) == 10


def test_default_floor_and_increase() -> None:
    aimd = AdaptiveRate(max_rate=0.5, cooldown=0.0)
    for _ in range(10):
        aimd.on_throttled(0.0)
    assert aimd.rate(0.0) == 0.5  # the default floor is min(1, max_rate)
    assert AdaptiveRate(max_rate=200).increase == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_rate": 0},
        {"max_rate": float("inf")},
        {"max_rate": 10, "min_rate": 11},
        {"max_rate": 10, "decrease": 1.0},
        {"max_rate": 10, "increase": 0},
        {"max_rate": 10, "cooldown": -1},
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(RoutingError, match="out of range"):
        AdaptiveRate(**kwargs)


@settings(max_examples=200)
@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5), st.booleans()), min_size=1, max_size=50
    ),
    max_rate=st.floats(min_value=0.5, max_value=5000),
)
def test_rate_stays_between_floor_and_configured_tps(
    events: list[tuple[float, bool]], max_rate: float
) -> None:
    aimd = AdaptiveRate(max_rate=max_rate)
    now = 0.0
    for step, throttled in events:
        now += step
        if throttled:
            aimd.on_throttled(now)
        assert aimd.min_rate <= aimd.rate(now) <= max_rate
