"""The simulator's Prometheus export: copies the SMSC's plain counters into `SimulatorMetrics`.

The submit path never touches a metric (a labelled `inc()` costs about a microsecond, a tenth
of the budget for a whole submit). `Smsc.counts` holds plain integers; `CountsExporter.export`
adds what changed since the last export to the children of `simulator.metrics.SimulatorMetrics`
(where every metric is defined), and sets the bound-sessions gauges from the live links. The
server exports once a second and before every scrape.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest

from simulator.metrics import BIND_TYPES, SimulatorMetrics
from simulator.smsc import Smsc


def _version() -> str:
    try:
        return metadata.version("smsgw")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


class CountsExporter:
    """Moves `Smsc.counts` into Prometheus children; safe to call as often as wanted."""

    def __init__(self, smsc: Smsc, registry: CollectorRegistry) -> None:
        self._smsc = smsc
        self._registry = registry
        self.metrics = SimulatorMetrics(registry, version=_version())
        self._seen: dict[tuple[str, int], int] = {}
        self._mo_seen = 0

    def export(self) -> None:
        """Bring every simulator metric up to date with the SMSC's counters."""
        counts = self._smsc.counts
        m = self.metrics
        self._add("pdu", counts.pdus_received, m.pdu_received)
        self._add("response", counts.submit_responses, m.submit_response)
        self._add("receipt", counts.receipts_sent, m.receipt_sent)
        if counts.mo_sent > self._mo_seen:
            m.mo_sent.inc(counts.mo_sent - self._mo_seen)
            self._mo_seen = counts.mo_sent
        bound = dict.fromkeys(BIND_TYPES, 0)
        for link in self._smsc.links:
            if link.bind_kind is not None:
                bound[link.bind_kind] += 1
        for bind_type, value in bound.items():
            m.sessions(bind_type).set(value)

    def exposition(self) -> bytes:
        """Export, then render the registry in the Prometheus text format."""
        self.export()
        return generate_latest(self._registry)

    def _add(self, kind: str, totals: dict[int, int], child_for: Callable[[int], Counter]) -> None:
        seen = self._seen
        for key, total in list(totals.items()):
            before = seen.get((kind, key), 0)
            if total > before:
                child_for(key).inc(total - before)
                seen[(kind, key)] = total
