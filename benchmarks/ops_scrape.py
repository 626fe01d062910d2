"""The ops server's CPU per /metrics scrape, measured directly.

benchmarks/e2e.py compares whole runs with the ops server on and off, which on this VM moves
by more than the server costs. This script serves /metrics from `start_ops_server` on a
GatewayMetrics registry (two carriers, two countries), scrapes it from a client thread, and
prints the event loop thread's CPU time per scrape (`time.thread_time`, so the client's work
is not counted). At the benchmark's one scrape a second, the share of a core is this figure
divided by 1000 ms.

Run: `.venv/bin/python -m benchmarks.ops_scrape`
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import time

import uvloop
from prometheus_client import CollectorRegistry

from gateway.ops.metrics import GatewayMetrics
from gateway.ops.ops_server import start_ops_server


def scrape(port: int, count: int) -> None:
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/metrics")
        connection.getresponse().read()
        connection.close()


async def measure(count: int) -> float:
    registry = CollectorRegistry()
    GatewayMetrics(registry, carriers=["a", "b"], version="bench", countries=("GB", "FR"))

    async def ready() -> tuple[bool, dict[str, object]]:
        return True, {}

    server = await start_ops_server("127.0.0.1", 0, registry=registry, readiness=ready)
    started = time.thread_time()
    await asyncio.to_thread(scrape, server.port, count)  # the client in its own thread
    cpu = time.thread_time() - started
    await server.stop()
    return cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=300)
    args = parser.parse_args()
    per_scrape = uvloop.run(measure(args.scrapes))
    print(
        f"ops server: {per_scrape * 1000:.3f} ms of event-loop CPU per /metrics scrape "
        f"({args.scrapes} scrapes); at 1 scrape/s that is {per_scrape * 100:.3f}% of a core"
    )


if __name__ == "__main__":
    main()
