"""Histogram observations kept back per message and added in bulk.

`Histogram.observe` takes two locks and scans the bucket bounds for every value: about 1 us,
three times in a message's life. `HeldObservations` keeps the values in a list instead and
`flush` adds each histogram's in one go (`add_observations`): a bisect per value, then one
increment per bucket touched and one of the sum. The engine flushes them with its per-message
counts (gateway/ops/engine_metrics.py): every 0.1 s under traffic and before every scrape.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from prometheus_client import Histogram


class HeldObservations:
    """Values observed per histogram (a labelled child), not yet added to it."""

    def __init__(self) -> None:
        self._held: dict[Histogram, list[float]] = {}

    def observe(self, histogram: Histogram, value: float) -> None:
        """`histogram.observe(value)`, at the next `flush`."""
        held = self._held.get(histogram)
        if held is None:
            self._held[histogram] = [value]
        else:
            held.append(value)

    def flush(self) -> None:
        """Add every value held to its histogram."""
        held, self._held = self._held, {}
        for histogram, values in held.items():
            add_observations(histogram, values)


def add_observations(histogram: Histogram, values: Sequence[float]) -> None:
    """What `histogram.observe(v)` for each of `values` does, with one increment per bucket
    touched (tests/unit/ops/test_held_observations.py checks the two agree).

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
