"""SimulatorMetrics: prefixed names, HELP text, bounded labels, specs matching the registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from gateway.smpp.constants import CommandId, MessageState
from simulator.metrics import SimulatorMetrics


def smsgw_families(registry: CollectorRegistry) -> list[Metric]:
    return [f for f in registry.collect() if f.name.startswith("smsgw_")]


def test_simulator_metrics_are_prefixed_and_bounded() -> None:
    registry = CollectorRegistry()
    sim = SimulatorMetrics(registry, version="1.0")
    sim.sessions("trx").inc()
    sim.pdu_received(CommandId.submit_sm).inc(2)
    sim.pdu_received(0x0BADF00D).inc()
    sim.throttled.inc()
    sim.submit_response(0).inc()
    sim.receipt_sent(MessageState.UNDELIVERABLE).inc()
    sim.receipt_sent(99).inc()
    sim.mo_sent.inc()
    families = smsgw_families(registry)
    assert all(f.name.startswith("smsgw_simulator_") for f in families)
    assert all(f.documentation for f in families)
    get = registry.get_sample_value
    assert get("smsgw_simulator_sessions_bound", {"bind_type": "transceiver"}) == 1
    assert get("smsgw_simulator_sessions_bound", {"bind_type": "receiver"}) == 0
    assert get("smsgw_simulator_pdus_received_total", {"command": "submit_sm"}) == 2
    assert get("smsgw_simulator_pdus_received_total", {"command": "unknown"}) == 1
    throttled = {"command_status": "ESME_RTHROTTLED"}
    assert get("smsgw_simulator_submit_responses_total", throttled) == 1
    assert get("smsgw_simulator_submit_responses_total", {"command_status": "ESME_ROK"}) == 1
    assert get("smsgw_simulator_receipts_sent_total", {"state": "UNDELIVERABLE"}) == 1
    assert get("smsgw_simulator_receipts_sent_total", {"state": "unknown"}) == 1
    assert get("smsgw_simulator_mo_sent_total", {}) == 1
    assert get("smsgw_simulator_build_info", {"version": "1.0"}) == 1


def test_specs_describe_exactly_the_registered_metrics() -> None:
    registry = CollectorRegistry()
    sim = SimulatorMetrics(registry, version="1.0")
    sim.mo_sent.inc()
    names = {f.name for f in registry.collect() if f.name.startswith("smsgw_")}
    assert {spec.name for spec in sim.specs} == names


def test_an_unknown_bind_type_is_a_programming_error() -> None:
    sim = SimulatorMetrics(CollectorRegistry(), version="1.0")
    with pytest.raises(ValueError, match="bind_type"):
        sim.sessions("outbound")
