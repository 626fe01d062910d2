"""Histogram observations added in bulk give the samples `observe` gives, value by value."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from common.held_metrics import HeldMetrics, add_observations

BUCKETS = (0.001, 0.005, 0.01, 0.1, 1.0, 10.0)


def histogram(registry: CollectorRegistry) -> Histogram:
    family = Histogram("h_seconds", "a test histogram", ("carrier",), buckets=BUCKETS,
                       registry=registry)  # fmt: skip
    return family.labels("acme")


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


values = st.lists(
    st.one_of(
        st.sampled_from([*BUCKETS, 0.0, -1.0, math.inf]),  # on a bound, below every one, inf
        st.floats(min_value=-5, max_value=50, allow_nan=False),
    ),
    max_size=60,
)


@given(values)
def test_bulk_counts_match_observe_value_by_value(observed: list[float]) -> None:
    one_by_one, bulk = CollectorRegistry(), CollectorRegistry()
    child = histogram(one_by_one)
    for value in observed:
        child.observe(value)
    add_observations(histogram(bulk), observed)
    expected, got = samples(one_by_one), samples(bulk)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-9), key


def test_nan_counts_in_no_bucket_as_with_observe() -> None:
    registry = CollectorRegistry()
    add_observations(histogram(registry), [math.nan, 0.002])
    got = samples(registry)
    assert got[("h_seconds_count", "")] == 1
    assert math.isnan(got[("h_seconds_sum", "")])


def test_held_values_reach_the_histogram_at_flush_only() -> None:
    registry = CollectorRegistry()
    child = histogram(registry)
    held = HeldMetrics()
    held.observe(child, 0.002)
    held.observe(child, 3.0)
    assert samples(registry)[("h_seconds_count", "")] == 0
    held.flush()
    got = samples(registry)
    assert got[("h_seconds_count", "")] == 2
    assert got[("h_seconds_bucket", "0.005")] == 1
    assert got[("h_seconds_bucket", "10.0")] == 2
    held.flush()  # nothing held twice
    assert samples(registry)[("h_seconds_count", "")] == 2


class _Plain:
    """A histogram without prometheus-client's internals: observed value by value."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def observe(self, value: float) -> None:
        self.seen.append(value)


def test_a_histogram_without_the_internals_is_observed_value_by_value() -> None:
    plain = _Plain()
    add_observations(plain, [1.0, 2.0])  # type: ignore[arg-type]
    assert plain.seen == [1.0, 2.0]
