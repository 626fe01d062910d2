"""The cost of metrics collection per message, measured directly.

The engine always collects its Prometheus metrics (there is no switch to turn collection off,
so benchmarks/e2e.py can only compare the ops HTTP server on and off). This script runs the
observer hooks one message's life calls, with a real GatewayMetrics on its own registry, in
benchmarks/e2e.py's mix (about 1.2 parts per message: every fifth message has two): its
verdict, each part's submit_sm answered, submitted, each part's receipt applied (the last one
settles it), and its share of a read's `accepted` (one call per 256 messages); and prints the
time per message. Compare it with the gateway's CPU per message that benchmarks/e2e.py
prints ("gw ms/msg"), which prints the share too.

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
READ = 256  # messages per read, each read one `accepted` call
SETTLED = f"delivered {time.time():.3f} m1"  # apply.lua's word for a receipt that settled it


def one_pass(observer: EngineObserver, receipt: Receipt, messages: int = MESSAGES) -> float:
    flush = getattr(observer, "flush", None)  # kept-back counts are added every ~0.1 s
    start = time.perf_counter()
    for n in range(messages):
        if n % READ == 0:
            observer.accepted(READ)
        observer.verdict("allow", "allowed")
        parts = 2 if n % 5 == 0 else 1
        for _ in range(parts):
            observer.submit_answered("acme", 0, 0.002)
        observer.submitted("acme", parts, "gsm7", 0.01, "GB")
        if parts == 2:
            observer.receipt_applied("acme", "matched", receipt, "447700900123")
        observer.receipt_applied("acme", SETTLED, receipt, "447700900123")
        if flush is not None and n % FLUSH_EVERY == 0:
            flush()
    return time.perf_counter() - start


def hooks_us_per_message(messages: int = MESSAGES, passes: int = PASSES) -> float:
    """The hooks of one message's life, in us: the best of `passes` runs of `messages`."""
    metrics = GatewayMetrics(CollectorRegistry(), carriers=["acme"], version="bench")
    observer = EngineObserver(metrics)
    receipt = Receipt(ids=("1",), state=ReceiptState.delivered)
    best = min(one_pass(observer, receipt, messages) for _ in range(passes))
    return best / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--gateway-ms", type=float, default=0.10, help="gw ms/msg as benchmarks/e2e.py prints it"
    )
    args = parser.parse_args()
    per_message_us = hooks_us_per_message()
    print(f"metrics hooks per message (benchmarks/e2e's mix, ~1.2 parts): "
          f"{per_message_us:.2f} us, best of {PASSES} x {MESSAGES:,}")  # fmt: skip
    share = per_message_us / (args.gateway_ms * 1000) * 100
    print(f"share of {args.gateway_ms} ms gateway CPU per message: {share:.2f}%")


if __name__ == "__main__":
    main()
