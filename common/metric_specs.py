"""Defining Prometheus metrics with their specs kept: the shared toolkit of metrics modules.

`gateway.ops.metrics` and `simulator.metrics` each define their own metrics (names, HELP text,
labels) on an injected `CollectorRegistry`; this module owns how a definition is registered
and recorded as a `MetricSpec` (docs and config checks compare the specs with what is
exported), and the capped cache of bound children that hot paths use.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)

CACHE_LIMIT: Final = 4096
"""Bound children kept per cache; past it a child is built per call (a label bug, not load)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """One metric as defined: base name (counters without `_total`), type, HELP, labels."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    documentation: str
    labels: tuple[str, ...]


class MetricDefiner:
    """Registers metrics on a registry and keeps their specs (for docs and config checks)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.specs: list[MetricSpec] = []


def counter(r: MetricDefiner, name: str, doc: str, labels: Sequence[str]) -> Counter:
    """Define a counter (`_total` is appended by prometheus-client)."""
    r.specs.append(MetricSpec(name=name, kind="counter", documentation=doc, labels=(*labels,)))
    return Counter(name, doc, labels, registry=r.registry)


def gauge(r: MetricDefiner, name: str, doc: str, labels: Sequence[str]) -> Gauge:
    """Define a gauge."""
    r.specs.append(MetricSpec(name=name, kind="gauge", documentation=doc, labels=(*labels,)))
    return Gauge(name, doc, labels, registry=r.registry)


def histogram(
    r: MetricDefiner, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
) -> Histogram:
    """Define a histogram with explicit buckets."""
    r.specs.append(MetricSpec(name=name, kind="histogram", documentation=doc, labels=(*labels,)))
    return Histogram(name, doc, labels, buckets=buckets, registry=r.registry)


def cached(cache: dict[_K, _T], key: _K, make: Callable[[], _T]) -> _T:
    """Return `cache[key]`, building it with `make()` on a miss (cache size is capped)."""
    try:
        return cache[key]
    except KeyError:
        child = make()
        if len(cache) < CACHE_LIMIT:
            cache[key] = child
        return child
