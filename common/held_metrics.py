"""Per-message metric updates kept back and added in bulk (`HeldMetrics`).

A counter's `inc` takes a lock and a method call; a histogram's `observe` takes two locks and
scans the bucket bounds: about 1 us, three times in a message's life. `HeldMetrics` keeps
counts in a dict and observed values in a list instead, and `flush` adds them: each counter's
sum once, and each histogram's values in one go (`add_observations`: a bisect per value, then
one increment per bucket touched and one of the sum). The engine flushes every 0.1 s under
traffic and before every scrape (gateway/ops/engine_metrics.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from prometheus_client import Counter, Histogram


class HeldMetrics:
    """Counts per counter and values per histogram (labelled children), not yet added."""

    def __init__(self) -> None:
        self._counts: dict[Counter, float] = {}
        self._observed: dict[Histogram, list[float]] = {}

    def count(self, counter: Counter, amount: float = 1.0) -> None:
        """`counter.inc(amount)`, at the next `flush` (a dict addition now: the per-message
        metrics hooks cost 6.96 -> 5.48 us with counts held, benchmarks/metrics_cost.py)."""
        counts = self._counts
        counts[counter] = counts.get(counter, 0.0) + amount

    def observe(self, histogram: Histogram, value: float) -> None:
        """`histogram.observe(value)`, at the next `flush`."""
        observed = self._observed.get(histogram)
        if observed is None:
            self._observed[histogram] = [value]
        else:
            observed.append(value)

    def flush(self) -> None:
        """Add every count and value held to its metric."""
        counts, self._counts = self._counts, {}
        for counter, amount in counts.items():
            counter.inc(amount)
        observed, self._observed = self._observed, {}
        for histogram, values in observed.items():
            add_observations(histogram, values)


def add_observations(histogram: Histogram, values: Sequence[float]) -> None:
    """What `histogram.observe(v)` for each of `values` does, with one increment per bucket
    touched (tests/unit/common/test_held_metrics.py checks the two agree).

    It reads prometheus-client's `_upper_bounds`, `_buckets` and `_sum` (0.20-0.26: a
    histogram child counts each value in the first bucket whose bound is at least the value);
    a client without them gets `observe` per value.
    """
    bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(buckets) != len(bounds):
        for value in values:
            histogram.observe(value)
        return
    counts: dict[int, int] = {}
    for value in values:
        if value == value:  # NaN is in no bucket (observe's `<=` is false for it)
            index = bisect.bisect_left(bounds, value)
            counts[index] = counts.get(index, 0) + 1
    total.inc(sum(values))
    for index, count in counts.items():
        buckets[index].inc(count)
