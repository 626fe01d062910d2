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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gateway.cli.child_process import free_port, logged_process, redis_server_args
from gateway.cli.demo_summary import Enqueued, Tally, progress_line, summary_text
from gateway.cli.recipient_shard import shard_of_number
from gateway.cli.redis_connection import open_redis
from gateway.config import Settings, load_settings
from gateway.engine.compliance_wiring import build_policy
from gateway.store.redis_client import RedisClient
from gateway.store.shards import ShardMap

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".demo"
WAIT_LIMIT = 60.0  # seconds to wait for every message's final status
PROGRESS_EVERY = 0.5  # seconds between progress lines (and one when all are final)


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


async def _drive(settings: Settings, traffic: list[dict[str, Any] | str]) -> str:
    """Enqueue `traffic`, each message on its recipient's shard, print progress every half a
    second until every message has a final status (or WAIT_LIMIT passes), and return the
    summary."""
    client = open_redis(settings)  # the config's Redis, as `smsgw send` opens it
    shards = ShardMap.from_settings(settings)
    numbers = build_policy(settings, client).numbers  # the engine's normaliser
    try:
        started = time.monotonic()
        entry_ids: list[str] = []
        for item in traffic:
            data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            shard = shards[0]  # where the engine rejects what it cannot read
            if isinstance(item, dict):
                shard = shard_of_number(shards, numbers, item["to"], item.get("country"))
            entry_id = await client.xadd(shard.streams.outbound, {"data": data})
            entry_ids.append(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))
        ids = [item["id"] if isinstance(item, dict) else None for item in traffic]
        enqueued = Enqueued.from_ids(ids, entry_ids)
        tally = Tally()
        last = {shard.streams.events: "-" for shard in shards.shards}
        printed = started
        while True:
            for stream in last:
                last[stream] = await _read_events(client, stream, tally, last[stream])
            now = time.monotonic()
            done = enqueued.expected <= tally.final.keys()
            if done or now - started > WAIT_LIMIT or now - printed >= PROGRESS_EVERY:
                print(progress_line(now - started, tally, enqueued), flush=True)
                printed = now
            if done or now - started > WAIT_LIMIT:
                break
            await asyncio.sleep(0.1)
        return summary_text(tally, enqueued, time.monotonic() - started)
    finally:
        await client.aclose()


async def _read_events(client: RedisClient, stream: str, tally: Tally, last: str) -> str:
    """Feed `tally` the events of `stream` after entry `last` ("-": from the start); returns
    the new last."""
    start = "-" if last == "-" else f"({last}"
    entries: Any = await client.xrange(stream, min=start)  # redis-py types are loose
    for entry_id, fields in entries:
        tally.add(json.loads(fields[b"data"]))
        last = entry_id.decode()
    return last


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
        _process("redis", redis_server_args(ports["redis"], redis_server, data_dir=WORK)),
        _process("simulator", [python, "-m", "simulator", "--config", str(sim_config)]),
        _process("gateway", [python, "-m", "gateway.cli", "--config", str(gw_config), "run"]),
    ):  # fmt: skip
        _wait_http(f"http://127.0.0.1:{ports['ops']}/readyz", time.monotonic() + 30)
        print("sending the sample traffic")
        summary = asyncio.run(_drive(load_settings(gw_config), _sample_traffic()))
        print("\n" + summary)
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
