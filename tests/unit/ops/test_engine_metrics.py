"""The engine's metric hooks: final statuses counted once, by carrier and country."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from gateway.carrier.receipts import Receipt, ReceiptState
from gateway.messages import Status
from gateway.ops.engine_metrics import EngineObserver, country_of
from gateway.ops.metrics import GatewayMetrics


@pytest.mark.parametrize(
    ("msisdn", "country"),
    [
        ("447700900123", "GB"),
        ("+33612345678", "FR"),
        ("15551234567", "US"),
        ("79161234567", "RU"),
        ("971501234567", "AE"),
        ("0612345678", None),  # national form: no calling code to read
        ("", None),
        ("ACME", None),
    ],
)
def test_country_of_reads_the_calling_code(msisdn: str, country: str | None) -> None:
    assert country_of(msisdn) == country


def sample(registry: CollectorRegistry, status: str, country: str) -> float:
    value = registry.get_sample_value(
        "smsgw_message_events_total", {"carrier": "acme", "country": country, "status": status}
    )
    return value or 0.0


def test_receipts_count_final_statuses_by_the_handset_country() -> None:
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme"], version="t", countries={"GB", "FR"})
    )
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    observer.receipt_applied("acme", "delivered", receipt, "447700900123")
    observer.receipt_applied("acme", "matched", receipt, "447700900123")  # a part: not final
    observer.receipt_applied("acme", "delivered", receipt, "4915112345678")  # DE: not listed
    assert sample(registry, "delivered", "GB") == 1
    assert sample(registry, "delivered", "other") == 1


def test_receipt_timeouts_count_as_expired_and_timed_out_even_for_a_removed_carrier() -> None:
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme"], version="t", countries={"GB"})
    )
    observer.receipt_timed_out("acme", "447700900123")
    observer.receipt_timed_out("gone", "447700900123")  # removed by a reload since submit
    assert sample(registry, "expired", "GB") == 1
    timed_out = registry.get_sample_value("smsgw_receipts_timed_out_total", {"carrier": "acme"})
    assert timed_out == 1
    labels = {"carrier": "none", "country": "GB", "status": "expired"}
    assert registry.get_sample_value("smsgw_message_events_total", labels) == 1


def test_dispatch_events_carry_the_verdict_country() -> None:
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme"], version="t", countries={"FR"})
    )
    observer.submitted("acme", 2, "gsm7", 0.01, "FR")
    observer.finished(Status.failed, "acme", "ESME_RINVDSTADR", "FR")
    assert sample(registry, "submitted", "FR") == 1
    assert sample(registry, "failed", "FR") == 1


def test_a_finishing_receipt_observes_submit_to_receipt_latency() -> None:
    registry = CollectorRegistry()
    observer = EngineObserver(GatewayMetrics(registry, carriers=["acme"], version="t"))
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    submitted_at = time.time() - 2.5
    observer.receipt_applied("acme", f"delivered {submitted_at}", receipt, "447700900123")
    observer.receipt_applied("acme", "matched", receipt, "447700900123")
    count = registry.get_sample_value("smsgw_delivery_latency_seconds_count", {"carrier": "acme"})
    total = registry.get_sample_value("smsgw_delivery_latency_seconds_sum", {"carrier": "acme"})
    assert count == 1
    assert total is not None
    assert 2.5 <= total < 10


def test_verdicts_and_throttle_waits_are_counted() -> None:
    registry = CollectorRegistry()
    observer = EngineObserver(GatewayMetrics(registry, carriers=["acme"], version="t"))
    observer.verdict("defer", "quiet_hours")
    observer.verdict("allow", "allowed")
    observer.throttle_waited("acme", 0.25)
    observer.throttle_waited("acme", 0.0)
    labels = {"outcome": "defer", "reason": "quiet_hours"}
    assert registry.get_sample_value("smsgw_compliance_verdicts_total", labels) == 1
    waited = registry.get_sample_value("smsgw_throttle_wait_seconds_total", {"carrier": "acme"})
    assert waited == 0.25


def test_stage_time_is_summed_and_reaches_the_counter_in_one_flush() -> None:
    """Per-batch stage timings cost a float addition; the counter is updated per flush."""
    registry = CollectorRegistry()
    observer = EngineObserver(GatewayMetrics(registry, carriers=["c"], version="t"))
    start = time.perf_counter()
    observer.stage("plan", start - 0.25)
    observer.stage("plan", start - 0.5)
    observer.flush()
    value = registry.get_sample_value("smsgw_stage_cpu_seconds_total", {"stage": "plan"})
    assert value is not None
    assert 0.75 <= value < 1.0
    observer.flush()  # nothing new: unchanged
    assert registry.get_sample_value("smsgw_stage_cpu_seconds_total", {"stage": "plan"}) == value


def test_counts_kept_back_for_a_batch_are_added_before_any_read_of_the_registry() -> None:
    """Per-message counts wait for the next flush, yet no reader sees them late: collecting
    the registry (a scrape, get_sample_value) adds them first."""
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme"], version="t", countries={"GB"})
    )
    observer.submitted("acme", 3, "gsm7", 0.01, "GB")
    observer.submit_answered("acme", 0, 0.002)
    assert observer._held._counts  # kept back: no counter touched yet
    assert sample(registry, "submitted", "GB") == 1
    segments = registry.get_sample_value(
        "smsgw_segments_total", {"carrier": "acme", "encoding": "gsm7"}
    )
    assert segments == 3
    assert not observer._held._counts


@pytest.mark.parametrize("kept", [2, 4096])
def test_settled_receipts_count_by_country_whatever_counters_are_kept(
    kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """receipt_applied keeps the counter of each (carrier, status, first three digits):
    handsets that share a prefix share a country, '+' changes nothing, and a full cache
    (odd handsets) is emptied without losing a count."""
    monkeypatch.setattr("gateway.ops.engine_metrics.CHILDREN_KEPT", kept)
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme"], version="t", countries={"GB", "FR", "US"})
    )
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    handsets = ["447700900123", "+447700900999", "33612345678", "14155550100", "ACME", "",
                "0612345678", "4915112345678", "447700900123", "+33612345678"]  # fmt: skip
    for n, handset in enumerate(handsets):
        status = "delivered" if n % 2 else "undelivered"
        observer.receipt_applied("acme", f"{status} 1 m{n}", receipt, handset)
        observer.receipt_applied("acme", f"early:{status} 1 m{n}", receipt, handset)
    counts = {
        (status, country): sample(registry, status, country)
        for status in ("delivered", "undelivered")
        for country in ("GB", "FR", "US", "other")
    }
    assert counts == {
        ("delivered", "GB"): 2, ("delivered", "FR"): 2, ("delivered", "US"): 2,
        ("delivered", "other"): 4, ("undelivered", "GB"): 4, ("undelivered", "FR"): 2,
        ("undelivered", "US"): 0, ("undelivered", "other"): 4,
    }  # fmt: skip
    assert len(observer._settled_counters) <= kept


@pytest.mark.parametrize("kept", [1, 4096])
def test_submits_and_verdicts_count_by_their_labels_whatever_children_are_kept(
    kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submitted, submit_answered and verdict keep their metric children by their labels; a
    full cache is emptied without losing a count or an observation."""
    monkeypatch.setattr("gateway.ops.engine_metrics.CHILDREN_KEPT", kept)
    registry = CollectorRegistry()
    observer = EngineObserver(
        GatewayMetrics(registry, carriers=["acme", "beta"], version="t", countries={"GB"})
    )
    for carrier, encoding, country in [("acme", "gsm7", "GB"), ("beta", "ucs2", None),
                                       ("acme", "ucs2", "GB"), ("acme", "gsm7", "GB")]:  # fmt: skip
        observer.submitted(carrier, 2, encoding, 0.5, country)
        observer.submit_answered(carrier, 0, 0.25)
        observer.submit_answered(carrier, 0x58, 0.25)  # ESME_RTHROTTLED
        observer.verdict("allow", "allowed")
    observer.verdict("suppress", "opted_out")
    observer.flush()

    def value(name: str, labels: dict[str, str]) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert sample(registry, "submitted", "GB") == 3
    segments = "smsgw_segments_total"
    assert value(segments, {"carrier": "acme", "encoding": "gsm7"}) == 4
    assert value(segments, {"carrier": "acme", "encoding": "ucs2"}) == 2
    assert value(segments, {"carrier": "beta", "encoding": "ucs2"}) == 2
    responses = "smsgw_submit_sm_responses_total"
    assert value(responses, {"carrier": "acme", "command_status": "ESME_ROK"}) == 3
    assert value(responses, {"carrier": "acme", "command_status": "ESME_RTHROTTLED"}) == 3
    assert value(responses, {"carrier": "beta", "command_status": "ESME_ROK"}) == 1
    assert value("smsgw_submit_latency_seconds_count", {"carrier": "acme"}) == 6
    assert value("smsgw_queue_wait_seconds_sum", {"carrier": "acme"}) == 1.5
    verdicts = "smsgw_compliance_verdicts_total"
    assert value(verdicts, {"outcome": "allow", "reason": "allowed"}) == 4
    assert value(verdicts, {"outcome": "suppress", "reason": "opted_out"}) == 1
    assert len(observer._submitted_children) <= kept


def test_a_receipt_for_an_unconfigured_carrier_is_refused_as_before() -> None:
    observer = EngineObserver(GatewayMetrics(CollectorRegistry(), carriers=["acme"], version="t"))
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    observer.receipt_applied("acme", "delivered 1 m", receipt, "447700900123")
    for result in ("delivered 1 m", "matched", "unmatched"):
        with pytest.raises(KeyError):
            observer.receipt_applied("gone", result, receipt, "447700900123")
