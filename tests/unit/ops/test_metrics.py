"""GatewayMetrics: naming, HELP text, zero series, bound children, bounds."""

from __future__ import annotations

import enum
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.messages import Status
from gateway.ops.metrics import (
    MESSAGE_STATUSES,
    OTHER,
    GatewayMetrics,
)
from gateway.smpp.constants import CommandStatus

ALLOWED_LABELS = {
    "carrier", "country", "status", "encoding", "command_status", "bind_type", "bind",
    "reason", "queue", "action", "outcome", "component", "version", "python", "command", "state",
}  # fmt: skip


def make(**kwargs: object) -> tuple[CollectorRegistry, GatewayMetrics]:
    registry = CollectorRegistry()
    options: dict[str, object] = {
        "carriers": ["acme", "beta"],
        "version": "1.2.3",
        "countries": ["GB", "fr"],
        "process_collectors": False,
    }
    options.update(kwargs)
    return registry, GatewayMetrics(registry, **options)  # type: ignore[arg-type]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def smsgw_families(registry: CollectorRegistry) -> list[Metric]:
    return [f for f in registry.collect() if f.name.startswith("smsgw_")]


def test_every_metric_follows_prometheus_naming_and_has_help() -> None:
    registry, _ = make()
    families = [f for f in registry.collect() if f.name.startswith("smsgw_")]
    assert len(families) >= 20
    for family in families:
        assert family.documentation.strip(), family.name
        assert re.fullmatch(r"smsgw_[a-z0-9_]+", family.name)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        if family.type == "counter":
            assert not family.name.endswith("_total"), family.name  # the client appends it
            suffixes = {s.name.removeprefix(family.name) for s in family.samples}
            assert suffixes <= {"_total", "_created"}, family.name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= ALLOWED_LABELS, sample


def test_exposition_is_valid_text_format() -> None:
    registry, _ = make(process_collectors=True)
    text = generate_latest(registry).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"smsgw_build_info", "smsgw_message_events", "smsgw_submit_latency_seconds"} <= names
    assert "process_resident_memory_bytes" in text


def test_configured_carriers_have_series_at_zero_before_any_traffic() -> None:
    registry, _ = make()
    for carrier in ("acme", "beta"):
        assert value(registry, "smsgw_submit_latency_seconds_count", carrier=carrier) == 0
        assert value(registry, "smsgw_delivery_latency_seconds_count", carrier=carrier) == 0
        assert value(registry, "smsgw_queue_wait_seconds_count", carrier=carrier) == 0
        assert value(registry, "smsgw_receipts_unmatched_total", carrier=carrier) == 0
        assert value(registry, "smsgw_opt_events_total", carrier=carrier, action="opt_out") == 0
        assert (
            value(
                registry,
                "smsgw_submit_sm_responses_total",
                carrier=carrier,
                command_status="ESME_RTHROTTLED",
            )
            == 0
        )
        for status in MESSAGE_STATUSES:
            for country in ("GB", "FR", OTHER):
                labels = {"carrier": carrier, "country": country, "status": status}
                assert value(registry, "smsgw_message_events_total", **labels) == 0


def test_build_info_carries_version() -> None:
    registry, _ = make(version="9.9.9")
    family = next(f for f in registry.collect() if f.name == "smsgw_build_info")
    (sample,) = family.samples
    assert sample.labels["version"] == "9.9.9"
    assert sample.value == 1


def test_carrier_children_are_bound_and_cached() -> None:
    registry, metrics = make()
    acme = metrics.carrier("acme")
    assert metrics.carrier("acme") is acme
    acme.submit_latency.observe(0.02)
    acme.delivery_latency.observe(12.0)
    acme.receipts_unmatched.inc()
    acme.opt_outs.inc(2)
    acme.throttle_wait.inc(0.5)
    assert value(registry, "smsgw_submit_latency_seconds_count", carrier="acme") == 1
    assert value(registry, "smsgw_submit_latency_seconds_count", carrier="beta") == 0
    assert value(registry, "smsgw_delivery_latency_seconds_sum", carrier="acme") == 12.0
    assert value(registry, "smsgw_receipts_unmatched_total", carrier="acme") == 1
    assert value(registry, "smsgw_opt_events_total", carrier="acme", action="opt_out") == 2
    assert value(registry, "smsgw_throttle_wait_seconds_total", carrier="acme") == 0.5


def test_unknown_carrier_is_a_key_error() -> None:
    _, metrics = make()
    with pytest.raises(KeyError, match="not configured"):
        metrics.carrier("nope")


@pytest.mark.parametrize(
    ("command_status", "label"),
    [
        (CommandStatus.ESME_ROK, "ESME_ROK"),
        (0x58, "ESME_RTHROTTLED"),
        (0x00000014, "ESME_RMSGQFUL"),
        (0x00000400, "vendor"),
        (0x000004FF, "vendor"),
        (0x12345, "unknown"),
    ],
)
def test_submit_sm_responses_are_labelled_by_status_name(command_status: int, label: str) -> None:
    registry, metrics = make()
    metrics.carrier("acme").submit_sm_response(command_status).inc()
    labels = {"carrier": "acme", "command_status": label}
    assert value(registry, "smsgw_submit_sm_responses_total", **labels) == 1


def test_throttled_is_the_esme_rthrottled_child() -> None:
    _, metrics = make()
    acme = metrics.carrier("acme")
    assert acme.throttled is acme.submit_sm_response(CommandStatus.ESME_RTHROTTLED)
    assert acme.submit_sm_response(0x58) is acme.throttled


def test_message_events_map_country_and_carrier_into_closed_sets() -> None:
    registry, metrics = make()
    metrics.message(Status.delivered, carrier="acme", country="gb").inc()
    metrics.message("delivered", carrier="acme", country="DE").inc()
    metrics.message("rejected", carrier=None, country=None).inc()
    metrics.carrier("beta").message("expired", "FR").inc()
    events = "smsgw_message_events_total"
    assert value(registry, events, carrier="acme", country="GB", status="delivered") == 1
    assert value(registry, events, carrier="acme", country=OTHER, status="delivered") == 1
    assert value(registry, events, carrier="none", country=OTHER, status="rejected") == 1
    assert value(registry, events, carrier="beta", country="FR", status="expired") == 1
    assert value(registry, events, carrier="acme", country="DE", status="delivered") is None


def test_message_events_refuse_unknown_status_and_carrier() -> None:
    _, metrics = make()
    with pytest.raises(ValueError, match="status"):
        metrics.message("teleported", carrier="acme", country="GB")
    with pytest.raises(ValueError, match="carrier"):
        metrics.message("delivered", carrier="zeta", country="GB")


class Encoding(enum.Enum):
    gsm7 = "gsm7"
    gsm7_turkish = "gsm7_turkish"


def test_segments_accept_encoding_enums_and_national_tables_only() -> None:
    registry, metrics = make()
    acme = metrics.carrier("acme")
    acme.segments(Encoding.gsm7).inc(3)
    acme.segments(Encoding.gsm7_turkish).inc()
    acme.segments("ucs2").inc(2)
    assert value(registry, "smsgw_segments_total", carrier="acme", encoding="gsm7") == 3
    assert value(registry, "smsgw_segments_total", carrier="acme", encoding="gsm7_turkish") == 1
    assert value(registry, "smsgw_segments_total", carrier="acme", encoding="ucs2") == 2
    with pytest.raises(ValueError, match="encoding"):
        acme.segments("utf-8")


def test_bind_metrics_normalise_bind_type_and_start_at_zero() -> None:
    registry, metrics = make()
    bind = metrics.bind("acme", "tx", "acme-0")
    assert metrics.bind("acme", "tx", "acme-0") is bind
    labels = {"carrier": "acme", "bind_type": "transmitter", "bind": "acme-0"}
    assert value(registry, "smsgw_bind_up", **labels) == 0
    assert value(registry, "smsgw_reconnects_total", **labels) == 0
    bind.up.set(1)
    bind.window_size.set(10)
    bind.in_flight.inc(3)
    assert value(registry, "smsgw_bind_up", **labels) == 1
    assert value(registry, "smsgw_window_in_flight", carrier="acme", bind="acme-0") == 3
    assert value(registry, "smsgw_window_size", carrier="acme", bind="acme-0") == 10
    with pytest.raises(ValueError, match="bind_type"):
        metrics.bind("acme", "sideways", "acme-1")
    with pytest.raises(KeyError):
        metrics.bind("zeta", "transceiver", "zeta-0")


def test_queue_compliance_and_internal_error_helpers() -> None:
    registry, metrics = make()
    queue = metrics.queue("outbound")
    queue.depth.set(42)
    queue.lag.set(7)
    queue.pending.set(3)
    metrics.compliance_verdict("reject", "quiet_hours").inc()
    metrics.internal_error("receipt_consumer").inc()
    assert value(registry, "smsgw_queue_depth", queue="outbound") == 42
    assert value(registry, "smsgw_queue_consumer_lag", queue="outbound") == 7
    assert value(registry, "smsgw_queue_pending", queue="outbound") == 3
    labels = {"outcome": "reject", "reason": "quiet_hours"}
    assert value(registry, "smsgw_compliance_verdicts_total", **labels) == 1
    assert value(registry, "smsgw_internal_errors_total", component="receipt_consumer") == 1
    with pytest.raises(ValueError, match="outcome"):
        metrics.compliance_verdict("maybe", "quiet_hours")


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60))
def test_free_text_never_becomes_a_label_value(text: str) -> None:
    """Reasons, components and countries stay in a bounded set whatever a caller passes."""
    registry, metrics = make()
    metrics.carrier("acme").retry(text).inc()
    metrics.internal_error(text).inc()
    metrics.message("failed", carrier="acme", country=text).inc()
    for family in smsgw_families(registry):
        for sample in family.samples:
            for name in ("reason", "component"):
                if name in sample.labels:
                    label = sample.labels[name]
                    assert label == OTHER or re.fullmatch(r"[a-z][a-z0-9_]{0,47}", label)
            if "country" in sample.labels:
                assert sample.labels["country"] in {"GB", "FR", OTHER}


def test_numbers_and_sentences_as_reasons_become_other() -> None:
    registry, metrics = make()
    retry = metrics.carrier("acme").retry
    retry("447700900123").inc()
    retry("Connection refused by 10.0.0.1").inc()
    retry("timeout").inc()
    assert value(registry, "smsgw_retries_total", carrier="acme", reason=OTHER) == 2
    assert value(registry, "smsgw_retries_total", carrier="acme", reason="timeout") == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"carriers": ["a", "a"]}, "duplicate"),
        ({"carriers": ["none"]}, "reserved"),
        ({"carriers": [""]}, "reserved"),
        ({"countries": ["GBR"]}, "alpha-2"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_two_instances_need_two_registries() -> None:
    registry, _ = make()
    _, other = make()
    assert other.registry is not registry
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        GatewayMetrics(registry, carriers=["acme"], version="x", process_collectors=False)


def test_specs_describe_exactly_the_registered_metrics() -> None:
    registry, metrics = make()
    metrics.carrier("acme").retry("timeout").inc()  # give label-only families a sample
    metrics.internal_error("engine").inc()
    metrics.stage_cpu.labels("plan").inc()
    metrics.compliance_verdict("allow", "ok").inc()
    metrics.queue("outbound").depth.set(1)
    metrics.bind("acme", "transceiver", "acme-0")
    families = {f.name: f for f in registry.collect() if f.name.startswith("smsgw_")}
    assert {spec.name for spec in metrics.specs} == set(families)
    for spec in metrics.specs:
        family = families[spec.name]
        assert family.type == spec.kind
        assert family.documentation == spec.documentation
        sample = next(s for s in family.samples if not s.name.endswith("_created"))
        assert set(sample.labels) - {"le"} == set(spec.labels)
