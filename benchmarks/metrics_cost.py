"""The cost of metrics collection per message, measured directly.

The engine always collects its Prometheus metrics (there is no switch to turn collection off,
so benchmarks/e2e.py can only compare the ops HTTP server on and off). This script runs the
observer hooks one message's life calls, with a real GatewayMetrics on its own registry:
accepted, a submit_sm answered, submitted, its receipt applied (three histogram observations
in all), plus one deliver_sm answered (the receipt), and prints the time per message; compare
it with the gateway's CPU per message that benchmarks/e2e.py prints ("gw ms/msg").

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
FLUSH_EVERY = 700  # messages in 0.1 s at 7,000 msgs/s
SETTLED = f"delivered {time.time():.3f} m1"  # apply.lua's word for a receipt that settled it


def one_pass(observer: EngineObserver, receipt: Receipt) -> float:
    flush = getattr(observer, "flush", None)  # kept-back counts are added every ~0.1 s
    start = time.perf_counter()
    for n in range(MESSAGES):
        observer.accepted(1)
        observer.verdict("allow", "allowed")
        observer.submit_answered("acme", 0, 0.002)
        observer.submitted("acme", 1, "gsm7", 0.01, "GB")
        observer.receipt_applied("acme", SETTLED, receipt, "447700900123")
        if flush is not None and n % FLUSH_EVERY == 0:
            flush()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--gateway-ms", type=float, default=0.14, help="gw ms/msg as benchmarks/e2e.py prints it"
    )
    args = parser.parse_args()
    metrics = GatewayMetrics(CollectorRegistry(), carriers=["acme"], version="bench")
    observer = EngineObserver(metrics)
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    best = min(one_pass(observer, receipt) for _ in range(PASSES))
    per_message_us = best / MESSAGES * 1e6
    print(f"metrics hooks per message (accepted, verdict, submit answered, submitted, receipt): "
          f"{per_message_us:.2f} us, best of {PASSES} x {MESSAGES:,}")  # fmt: skip
    share = per_message_us / (args.gateway_ms * 1000) * 100
    print(f"share of {args.gateway_ms} ms gateway CPU per message: {share:.2f}%")


if __name__ == "__main__":
    main()
