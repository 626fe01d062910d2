"""`make demo`: redis-server + SMSC simulator + `smsgw run` as real processes, sample traffic,
a summary by status, then everything it started is stopped.

Everything listens on 127.0.0.1 on free ports; files go to .demo/ (logs and generated config).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from gateway.child_process import free_port, logged_process, redis_server_args

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "suppressed"}


def _sample_traffic() -> list[dict[str, Any] | str]:
    """GSM-7, UCS-2, long, failing destinations, bad input, an OTP and a duplicate."""

    def batch(kind: str, count: int, prefix: str, text: str) -> list[dict[str, Any] | str]:
        return [
            {"id": f"demo-{kind}{n}", "to": f"+44{prefix}{n:04d}", "from": "Acme",
             "text": text.format(n=n)}
            for n in range(count)
        ]  # fmt: skip

    traffic = batch("", 150, "791110", "Your order {n} has shipped.")
    traffic += batch("ucs2-", 20, "791120", "Заказ {n} отправлен 🚚")
    traffic += batch("long-", 10, "791125", "A long message that needs concatenation. " * 8)
    traffic += batch("undeliv-", 10, "791100", "This one will not arrive.")
    traffic += [
        {"id": "demo-refused", "to": "+447911090001", "from": "Acme", "text": "x"},
        {"id": "demo-otp", "to": "+447911200001", "from": "Acme", "text": "Code 123456",
         "category": "otp"},
        {"id": "demo-0", "to": "+447911100000", "from": "Acme", "text": "a duplicate id"},
        {"id": "demo-bad-number", "to": "+44123", "from": "Acme", "text": "x"},
        "{this is not json",
    ]  # fmt: skip
    return traffic


def _write_configs(ports: dict[str, int]) -> tuple[Path, Path]:
    WORK.mkdir(exist_ok=True)
    simulator = {
        "port": ports["smpp"],
        "control_port": ports["control"],
        "accounts": [{"system_id": "smsgw", "password": "secret"}],
        "seed": 42,
        "receipts": {"delay": 0.3, "delay_jitter": 0.5},
        "prefix_rules": [
            {"prefix": "447911000", "outcome": "UNDELIV", "err": 1},
            {"prefix": "447911090", "submit_status": "ESME_RINVDSTADR"},
        ],
    }
    gateway = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text())
    gateway["redis_url"] = f"redis://127.0.0.1:{ports['redis']}/0"
    gateway["ops"]["port"] = ports["ops"]
    gateway["consumer"]["name"] = "demo"
    gateway["carriers"][0].update(port=ports["smpp"], binds=2, window=50)
    gateway["compliance"]["config_dir"] = str(ROOT / "config")
    sim_path, gw_path = WORK / "simulator.yaml", WORK / "smsgw.yaml"
    sim_path.write_text(yaml.safe_dump(simulator))
    gw_path.write_text(yaml.safe_dump(gateway))
    return sim_path, gw_path


@contextlib.contextmanager
def _process(name: str, args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    started: subprocess.Popen[bytes] | None = None
    try:
        with logged_process(args, WORK / f"{name}.log", cwd=ROOT) as started:
            yield started
    finally:
        if started is not None:
            print(f"  stopped {name} (exit {started.returncode}); log: .demo/{name}.log")


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 - loopback
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"demo: {url} did not become ready; see .demo/*.log")


async def _drive(redis_url: str, traffic: list[dict[str, Any] | str]) -> Counter[str]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        started = time.monotonic()
        for item in traffic:
            data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            await client.xadd("smsgw:outbound", {"data": data})
        ids = {item["id"] for item in traffic if isinstance(item, dict)}
        final: dict[str | None, str] = {}
        while time.monotonic() - started < 60:
            final = {}
            entries: Any = await client.xrange("smsgw:events")  # redis-py types are loose
            for _, fields in entries:
                event = json.loads(fields["data"])
                if event["status"] in FINAL:
                    final[event["id"]] = event["status"]
            if ids <= set(final):
                break
            await asyncio.sleep(0.25)
        elapsed = time.monotonic() - started
        print(f"\n{len(traffic)} entries enqueued; {len(final)} reached a final status "
              f"in {elapsed:.1f} s")  # fmt: skip
        return Counter(final.values())
    finally:
        await client.aclose()


def main() -> int:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print("demo: redis-server not found (make demo installs it)", file=sys.stderr)
        return 1
    ports = {k: free_port() for k in ("redis", "smpp", "control", "ops")}
    sim_config, gw_config = _write_configs(ports)
    python = sys.executable
    print("smsgw demo: starting redis-server, the SMSC simulator and the gateway")
    with (
        _process("redis", redis_server_args(ports["redis"], redis_server)),
        _process("simulator", [python, "-m", "simulator", "--config", str(sim_config)]),
        _process("gateway", [python, "-m", "gateway.cli", "--config", str(gw_config), "run"]),
    ):  # fmt: skip
        _wait_http(f"http://127.0.0.1:{ports['ops']}/readyz", time.monotonic() + 30)
        counts = asyncio.run(_drive(f"redis://127.0.0.1:{ports['redis']}/0", _sample_traffic()))
        print("\nstatus        messages")
        for status, count in sorted(counts.items()):
            print(f"{status:<13} {count:>8}")
        print(f"\nmetrics were at http://127.0.0.1:{ports['ops']}/metrics (a sample):")
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['ops']}/metrics") as response:
            for line in response.read().decode().splitlines():
                wanted = line.startswith(("smsgw_message_events_total{", "smsgw_segments_total{"))
                if wanted and not line.endswith(" 0.0"):
                    print("  " + line)
        print("\nstopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
