"""The processes of one end-to-end scenario: redis-server, SMSC simulator and `smsgw run`.

Each runs on 127.0.0.1 on free ports with its config and log in the scenario's directory, and
all three are stopped when the scenario ends, whatever happens. Used by benchmarks/e2e.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gateway.cli.child_process import free_port, logged_process, redis_server_process

if TYPE_CHECKING:
    from benchmarks.e2e import Options

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_ID, PASSWORD = "smsgw", "secret"
READY_TIMEOUT = 30.0  # seconds for each process to become ready
STOP_TIMEOUT = 20.0  # seconds from SIGTERM to SIGKILL


@dataclass(frozen=True, slots=True, kw_only=True)
class Stack:
    """The three running processes of one scenario and where to reach them."""

    redis_url: str
    ops_port: int | None
    control_url: str
    gateway: subprocess.Popen[bytes]
    pids: dict[str, int]


def _process(
    workdir: Path, name: str, args: list[str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return logged_process(args, workdir / f"{name}.log", cwd=ROOT, stop_timeout=STOP_TIMEOUT)


def _write_configs(
    workdir: Path, ports: dict[str, int], opts: Options, *, ops: bool
) -> tuple[Path, Path]:
    simulator = {
        "port": ports["smpp"],
        "control_port": ports["control"],
        "seed": opts.seed,
        "accounts": [{"system_id": SYSTEM_ID, "password": PASSWORD}],
        "max_binds": max(10, opts.binds),
        "log_level": "warning",
        "store_size": max(100_000, 4 * opts.messages + 4 * int(opts.rate * opts.seconds)),
        "receipts": {"delay": 0.0, "delay_jitter": 0.0},
    }
    gateway = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text())
    gateway["redis_url"] = f"redis://127.0.0.1:{ports['redis']}/0"
    gateway["ops"].update(enabled=ops, port=ports["ops"])
    gateway["consumer"]["name"] = "bench"
    gateway["logging"].update(level=opts.log_level, json=True)
    gateway["engine"]["shutdown_drain"] = 2.0
    gateway["compliance"]["config_dir"] = str(ROOT / "config")
    gateway["carriers"][0].update(
        port=ports["smpp"],
        system_id=SYSTEM_ID,
        password=PASSWORD,
        binds=opts.binds,
        window=opts.window,
        tps=opts.tps,
        registered_delivery=1,
    )
    sim_path, gw_path = workdir / "simulator.yaml", workdir / "smsgw.yaml"
    sim_path.write_text(yaml.safe_dump(simulator))
    gw_path.write_text(yaml.safe_dump(gateway))
    return sim_path, gw_path


@contextlib.contextmanager
def running_stack(workdir: Path, opts: Options, *, ops: bool) -> Iterator[Stack]:
    """redis-server, simulator and gateway, each its own process; stopped on exit."""
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    ports = {k: free_port() for k in ("redis", "smpp", "control", "ops")}
    sim_config, gw_config = _write_configs(workdir, ports, opts, ops=ops)
    python = sys.executable
    with contextlib.ExitStack() as stack:
        redis_proc = stack.enter_context(
            redis_server_process(
                ports["redis"],
                binary=redis_server,
                log_path=workdir / "redis.log",
                cwd=ROOT,
                ready_timeout=READY_TIMEOUT,
                stop_timeout=STOP_TIMEOUT,
            )
        )
        sim = stack.enter_context(
            _process(workdir, "simulator", [python, "-m", "simulator", "--config", str(sim_config)])
        )
        control_url = f"http://127.0.0.1:{ports['control']}"
        _wait_until(lambda: _http_ok(control_url + "/stats"), sim, "simulator")
        gateway = stack.enter_context(
            _process(
                workdir, "gateway", [python, "-m", "gateway.cli", "--config", str(gw_config), "run"]
            )
        )
        _wait_until(lambda: _binds_up(control_url) >= opts.binds, gateway, "gateway binds")
        pids = {"gateway": gateway.pid, "simulator": sim.pid, "redis": redis_proc.pid}
        pids["driver"] = os.getpid()
        yield Stack(
            redis_url=f"redis://127.0.0.1:{ports['redis']}/0",
            ops_port=ports["ops"] if ops else None,
            control_url=control_url,
            gateway=gateway,
            pids=pids,
        )


def _wait_until(
    check: Any, proc: subprocess.Popen[bytes], what: str, within: float = READY_TIMEOUT
) -> None:
    deadline = time.monotonic() + within
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready (exit code {proc.poll()})")
        time.sleep(0.05)


def http_get(url: str, timeout: float = 2) -> bytes:
    """The body of a GET of `url` (raises OSError on failure)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
        return body


def _http_ok(url: str) -> bool:
    try:
        http_get(url)
    except OSError:
        return False
    return True


def _binds_up(control_url: str) -> int:
    try:
        stats = json.loads(http_get(control_url + "/stats"))
    except OSError:
        return 0
    return sum(stats["binds"].get(SYSTEM_ID, {}).values())
