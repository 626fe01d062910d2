"""The cost of metrics collection per message, measured directly.

The engine always collects its Prometheus metrics (there is no switch to turn collection off,
so benchmarks/e2e.py can only compare the ops HTTP server on and off). This script runs the
observer hooks one message's life calls, with a real GatewayMetrics on its own registry:
accepted, a submit_sm answered, submitted, its receipt applied, plus one deliver_sm answered
(the receipt), and prints the time per message; compare it with the gateway's CPU per
message that benchmarks/e2e.py prints ("gw ms/msg").

Run: `.venv/bin/python -m benchmarks.metrics_cost`
"""

from __future__ import annotations

import argparse
import time

from prometheus_client import CollectorRegistry

from gateway.carrier.receipts import Receipt, ReceiptState
from gateway.ops.engine_metrics import EngineObserver
from gateway.ops.metrics import GatewayMetrics

MESSAGES = 200_000
PASSES = 5


def one_pass(observer: EngineObserver, receipt: Receipt) -> float:
    start = time.perf_counter()
    for _ in range(MESSAGES):
        observer.accepted(1)
        observer.submit_answered("acme", 0, 0.002)
        observer.submitted("acme", 1, "gsm7", 0.01, "GB")
        observer.receipt_applied("acme", "delivered", receipt, "447700900123")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--gateway-ms", type=float, default=0.5, help="gw ms/msg as benchmarks/e2e.py prints it"
    )
    args = parser.parse_args()
    metrics = GatewayMetrics(CollectorRegistry(), carriers=["acme"], version="bench")
    observer = EngineObserver(metrics)
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    best = min(one_pass(observer, receipt) for _ in range(PASSES))
    per_message_us = best / MESSAGES * 1e6
    print(f"metrics hooks per message (accepted, submit answered, submitted, receipt): "
          f"{per_message_us:.2f} us, best of {PASSES} x {MESSAGES:,}")  # fmt: skip
    share = per_message_us / (args.gateway_ms * 1000) * 100
    print(f"share of {args.gateway_ms} ms gateway CPU per message: {share:.2f}%")


if __name__ == "__main__":
    main()
