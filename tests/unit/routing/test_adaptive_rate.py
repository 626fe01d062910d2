"""AIMD effective rate on throttle answers, driven by a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.adaptive import AdaptiveRate, RateMeter
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


# --- a carrier with no configured TPS: an episode from the observed rate ------------------------


def test_episode_starts_at_half_the_observed_rate_and_recovers_to_twice_it() -> None:
    aimd = AdaptiveRate.after_throttle(20.0, 100.0)
    assert aimd.rate(100.0) == pytest.approx(10)  # the first throttle answer is the cut
    assert aimd.max_rate == pytest.approx(40)  # headroom 2
    assert aimd.increase == pytest.approx(4)  # half the observed rate regained in 2.5 s
    assert aimd.rate(101.9) == pytest.approx(14)  # per whole quiet second
    assert aimd.rate(103.0) == pytest.approx(22)  # past the observed rate
    assert not aimd.recovered(107.9)
    assert aimd.recovered(108.0)  # up to the headroom: unlimited again
    slow = AdaptiveRate.after_throttle(20.0, 0.0, recovery=10.0)
    assert slow.rate(10.0) == pytest.approx(20)


def test_episode_throttle_answers_cut_again_after_the_cooldown() -> None:
    aimd = AdaptiveRate.after_throttle(20.0, 0.0)
    assert aimd.on_throttled(0.5) is False  # the same window of answers as the first one
    assert aimd.on_throttled(5.0) is True  # 10 + 4 * 4 (since 0.5) = 26 -> 13
    assert aimd.rate(5.0) == pytest.approx(13)
    assert not aimd.recovered(10.0)  # every answer restarts the recovery


def test_episode_with_nothing_observed_starts_at_the_floor() -> None:
    aimd = AdaptiveRate.after_throttle(0.0, 0.0)
    assert aimd.rate(0.0) == 1.0
    assert aimd.max_rate == 2.0
    assert AdaptiveRate.after_throttle(float("nan"), 0.0, floor=5).rate(0.0) == 2.5


@pytest.mark.parametrize(
    "kwargs", [{"headroom": 1.0}, {"floor": 0.0}, {"decrease": 1.5}, {"recovery": 0.0}]
)
def test_bad_episode_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(RoutingError, match="out of range"):
        AdaptiveRate.after_throttle(10.0, 0.0, **kwargs)


# --- the rate a carrier accepted -----------------------------------------------------------------


def test_meter_without_samples_reads_zero() -> None:
    assert RateMeter().rate(10.0, 50) == 0.0


def test_meter_counts_a_fresh_burst_over_the_whole_window() -> None:
    """20 accepted 10 ms after the first sample is 20 per second, not 2000."""
    meter = RateMeter(window=1.0)
    meter.sample(5.0, 0)
    assert meter.rate(5.01, 20) == pytest.approx(20)


def test_meter_steady_rate() -> None:
    meter = RateMeter(window=1.0, resolution=0.1)
    for tick in range(50):  # 30 per second, sampled every 100 ms for 5 s
        meter.sample(tick / 10, tick * 3)
    assert meter.rate(5.0, 150) == pytest.approx(30)


def test_meter_interpolates_across_an_idle_gap() -> None:
    """Idle for 10 s, then a burst: the idle time does not dilute the burst."""
    meter = RateMeter(window=1.0)
    meter.sample(0.0, 100)
    meter.sample(10.0, 100)
    assert meter.rate(10.02, 120) == pytest.approx(20)


def test_meter_interpolates_when_sends_stopped_sampling() -> None:
    """Submits all acquired at 0 (one sample), accepted evenly over 3 s as windows free."""
    meter = RateMeter(window=1.0)
    meter.sample(0.0, 0)
    assert meter.rate(3.0, 60) == pytest.approx(20)


def test_meter_samples_at_most_once_per_resolution() -> None:
    meter = RateMeter(window=1.0, resolution=0.1)
    meter.sample(0.0, 0)
    assert not meter.due(0.05)
    meter.sample(0.05, 1000)  # ignored
    assert meter.due(0.1)
    assert meter.rate(1.0, 10) == pytest.approx(10)


def test_meter_keeps_only_what_the_window_needs() -> None:
    meter = RateMeter(window=1.0, resolution=0.1)
    for tick in range(1000):
        meter.sample(tick / 10, tick)
    assert len(meter._samples) <= 12


@pytest.mark.parametrize(("window", "resolution"), [(0, 0.1), (1, 0), (1, 2), (float("nan"), 1)])
def test_meter_bad_parameters_are_rejected(window: float, resolution: float) -> None:
    with pytest.raises(RoutingError, match="out of range"):
        RateMeter(window=window, resolution=resolution)


@settings(max_examples=200)
@given(
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=2), st.integers(min_value=0, max_value=100)),
        min_size=1, max_size=60,
    ),
)  # fmt: skip
def test_meter_never_reads_more_than_the_window_holds(steps: list[tuple[float, int]]) -> None:
    """Never above the events of the window plus the last sample period (a monotone counter
    that grows evenly between samples), never negative."""
    meter = RateMeter(window=1.0, resolution=0.1)
    now, total = 0.0, 0
    for step, added in steps:
        now += step
        total += added
        meter.sample(now, total)
        assert 0 <= meter.rate(now, total) <= total / 1.0
