"""One client session against the simulator on loopback: submit_sm round trips per second.

The simulator runs in its own process (`python -m simulator`); this process runs our Bind on
uvloop. For window 1, 10 and 100, with receipts off (registered_delivery 0) and on (1, the
simulator sends a deliver_sm receipt per message, which the client answers), it prints
messages/s and p50/p99 submit latency. Fixed seed; bounded runs.

    python -m benchmarks.session [--messages 100000] [--windows 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import uvloop

from gateway.carrier.bind import Bind, BindSettings
from gateway.cli.child_process import free_port
from gateway.smpp.constants import BindType, CommandStatus
from gateway.smpp.pdu import Pdu, SubmitSm

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def simulator_process(port: int) -> Iterator[None]:
    args = [sys.executable, "-m", "simulator", "--port", str(port), "--no-control",
            "--system-id", "bench", "--password", "bench", "--dlr-delay", "0",
            "--seed", "1", "--log-level", "warning", "--max-binds", "50"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Receipts:
    """Counts receipts; answers them ESME_ROK (the delivery handler of the bind)."""

    def __init__(self) -> None:
        self.count = 0
        self.all_in = asyncio.Event()
        self.expected = 0

    async def __call__(self, batch: Sequence[Pdu]) -> Sequence[int]:
        self.count += len(batch)
        if self.expected and self.count >= self.expected:
            self.all_in.set()
        return [CommandStatus.ESME_ROK] * len(batch)


async def run_case(port: int, window: int, messages: int, receipts: bool) -> dict[str, float]:
    handler = Receipts()
    settings = BindSettings(host="127.0.0.1", port=port, system_id="bench", password="bench",
                            bind_type=BindType.transceiver, window=window,
                            response_timeout=30.0, enquire_link_interval=60.0)  # fmt: skip
    bind = Bind(settings, on_delivery=handler)
    bind.start()
    await asyncio.wait_for(bind.wait_bound(), 10)
    pdu_template: dict[str, Any] = {
        "source_addr": "Bench", "source_addr_ton": 5, "dest_addr_ton": 1, "dest_addr_npi": 1,
        "registered_delivery": 1 if receipts else 0,
        "short_message": b"Benchmark message for the session layer",
    }  # fmt: skip
    latencies: list[float] = []
    remaining = messages
    perf = time.perf_counter

    async def worker(n: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            pdu = SubmitSm(destination_addr=f"4479111{remaining % 100000:05d}", **pdu_template)
            started = perf()
            response = await bind.submit(pdu)
            latencies.append(perf() - started)
            assert response.command_status == 0, response

    handler.expected = messages if receipts else 0
    started = perf()
    await asyncio.gather(*(worker(n) for n in range(window)))
    submitted = perf() - started
    if receipts:
        await asyncio.wait_for(handler.all_in.wait(), 120)
    total = perf() - started
    await bind.close()
    latencies.sort()
    return {
        "window": window,
        "receipts": receipts,
        "submit_rate": messages / submitted,
        "end_to_end_rate": messages / total,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


async def main(args: argparse.Namespace) -> None:
    windows = [int(w) for w in args.windows.split(",")]
    print(f"benchmarks/session.py: {args.messages} submit_sm per case, client on uvloop, "
          "simulator in its own process")  # fmt: skip
    print(f"{'window':>6} {'receipts':>8} {'submit/s':>10} {'msgs/s (with receipts)':>23} "
          f"{'p50 ms':>8} {'p99 ms':>8}")  # fmt: skip
    for receipts in (False, True):
        for window in windows:
            port = free_port()
            count = args.messages if window >= 10 else min(args.messages, 20_000)
            with simulator_process(port):
                r = await run_case(port, window, count, receipts)
            print(
                f"{window:>6} {'on' if receipts else 'off':>8} {r['submit_rate']:>10,.0f} "
                f"{r['end_to_end_rate']:>23,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--windows", default="1,10,100")
    uvloop.run(main(parser.parse_args()))
