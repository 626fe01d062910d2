"""The processes of one end-to-end scenario: redis-server, SMSC simulator and `smsgw run`.

Each runs on 127.0.0.1 on free ports with its config and log in the scenario's directory, and
all are stopped when the scenario ends, whatever happens. By default one redis-server and one
gateway; a `Layout` asks for several gateway instances (one consumer group, each its own
consumer name and ops port), `streams.shards`, a replica attached to the redis-server, or a
3-master, 3-replica Redis Cluster in place of it (gateway/cli/cluster_process.py, without
persistence like the single server). Used by benchmarks/e2e.py and benchmarks/e2e_cluster.py.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import yaml

from gateway.cli.child_process import (
    free_port,
    logged_process,
    redis_server_args,
    redis_server_process,
)
from gateway.cli.cluster_process import LocalRedisCluster, running_cluster
from gateway.config import Settings, StreamsConfig
from gateway.store.shards import ShardMap

if TYPE_CHECKING:
    from benchmarks.e2e import Options

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SYSTEM_ID, PASSWORD = "smsgw", "secret"
READY_TIMEOUT = 30.0  # seconds for each process to become ready
STOP_TIMEOUT = 20.0  # seconds from SIGTERM to SIGKILL
# A cluster node is failed after this long without answering its peers; well above any stall a
# node may see on a busy 2-core machine, so no failover happens in the middle of a run.
CLUSTER_NODE_TIMEOUT_MS = 15_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """How many `smsgw run` instances and shards, on one redis-server or a Redis Cluster."""

    instances: int = 1
    shards: int = 1
    cluster: bool = False
    replica: bool = False  # a replica of the redis-server attached (of each master, a cluster)
    redis_wait: int = 0  # redis_wait.replicas


@dataclass(frozen=True, slots=True, kw_only=True)
class Stack:
    """The running processes of one scenario and where to reach them.

    `pids` names every process: "gateway" (or "gateway-1", "gateway-2", ... with several
    instances), "simulator", "redis" (or "redis-<port>" for each node of a cluster) and
    "driver" (this process). `gateway` and `ops_port` are the first instance's.
    """

    redis_url: str
    ops_port: int | None
    control_url: str
    gateway: subprocess.Popen[bytes]
    pids: dict[str, int]
    gateways: tuple[subprocess.Popen[bytes], ...] = ()
    ops_ports: tuple[int, ...] = ()  # every instance's, when the ops server is on
    redis_ports: dict[str, int] = field(default_factory=dict)  # pids name -> port, each Redis
    masters: tuple[str, ...] = ()  # pids names of the Redis processes that are masters
    shards_by_master: dict[str, list[int]] = field(default_factory=dict)  # cluster only


def _process(
    workdir: Path, name: str, args: list[str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return logged_process(args, workdir / f"{name}.log", cwd=ROOT, stop_timeout=STOP_TIMEOUT)


def _simulator_config(workdir: Path, ports: dict[str, int], opts: Options, binds: int) -> Path:
    simulator = {
        "port": ports["smpp"],
        "control_port": ports["control"],
        "seed": opts.seed,
        "accounts": [{"system_id": SYSTEM_ID, "password": PASSWORD}],
        "max_binds": max(10, binds),
        "log_level": "warning",
        "store_size": max(100_000, 4 * opts.messages + 4 * int(opts.rate * opts.seconds)),
        "receipts": {"delay": 0.0, "delay_jitter": 0.0},
    }
    path = workdir / "simulator.yaml"
    path.write_text(yaml.safe_dump(simulator))
    return path


def _gateway_config(
    path: Path, *, redis_url: str, smpp_port: int, ops_port: int, consumer: str,
    opts: Options, ops: bool, layout: Layout,
) -> Path:  # fmt: skip
    gateway = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text())
    gateway["redis_url"] = redis_url
    gateway["redis_cluster"] = layout.cluster
    gateway["streams"]["shards"] = layout.shards
    gateway["redis_wait"]["replicas"] = layout.redis_wait
    gateway["ops"].update(enabled=ops, port=ops_port)
    gateway["consumer"]["name"] = consumer
    gateway["logging"].update(level=opts.log_level, json=True)
    gateway["engine"]["shutdown_drain"] = 2.0
    gateway["compliance"]["config_dir"] = str(ROOT / "config")
    gateway["carriers"][0].update(
        port=smpp_port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        binds=opts.binds,
        window=opts.window,
        tps=opts.tps,
        registered_delivery=1,
    )
    path.write_text(yaml.safe_dump(gateway))
    return path


@dataclass(slots=True)
class _Redis:
    """Where the scenario's Redis is: its URL, and each process's pids name, pid and port."""

    url: str
    pids: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    masters: tuple[str, ...] = ()
    shards_by_master: dict[str, list[int]] = field(default_factory=dict)


def _start_redis(stack: contextlib.ExitStack, workdir: Path, port: int, layout: Layout) -> _Redis:
    """One redis-server (no persistence) on `port`, or a Redis Cluster on ports of its own."""
    if layout.cluster:
        cluster = stack.enter_context(
            running_cluster(
                workdir / "cluster",
                appendonly=False,
                node_timeout_ms=CLUSTER_NODE_TIMEOUT_MS,
                keep_files=True,  # under workdir, which e2e removes unless asked to keep it
                replicas=1 if layout.replica else 0,
            )
        )
        return _cluster_redis(cluster, layout.shards)
    redis_proc = stack.enter_context(
        redis_server_process(
            port,
            binary=_redis_binary(),
            log_path=workdir / "redis.log",
            cwd=ROOT,
            data_dir=workdir,
            ready_timeout=READY_TIMEOUT,
            stop_timeout=STOP_TIMEOUT,
        )
    )
    found = _Redis(
        f"redis://{HOST}:{port}/0",
        {"redis": redis_proc.pid},
        {"redis": port},
        ("redis",),
    )
    if layout.replica:
        replica_port = free_port()
        replica_dir = workdir / "redis-replica"  # where its full sync writes an RDB
        replica_dir.mkdir()
        args = [*redis_server_args(replica_port, _redis_binary(), data_dir=replica_dir),
                "--replicaof", HOST, str(port)]  # fmt: skip
        replica = stack.enter_context(
            logged_process(args, workdir / "redis-replica.log", cwd=ROOT, stop_timeout=STOP_TIMEOUT)
        )
        _wait_until(lambda: _replica_in_sync(replica_port), [replica], "redis replica")
        found.pids["redis-replica"] = replica.pid
        found.ports["redis-replica"] = replica_port
    return found


def _redis_binary() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def _replica_in_sync(port: int) -> bool:
    """The replica on `port` answers and its link to its master is up."""
    try:
        with redis.Redis(host=HOST, port=port, socket_timeout=1) as client:
            link: object = client.info("replication").get("master_link_status")
            return link == "up"
    except redis.exceptions.ConnectionError:
        return False


def _cluster_redis(cluster: LocalRedisCluster, shards: int) -> _Redis:
    found = _Redis(cluster.url)
    for node in cluster.nodes:
        assert node.process is not None  # started, and no one kills a node here
        found.pids[f"redis-{node.port}"] = node.process.pid
        found.ports[f"redis-{node.port}"] = node.port
    found.masters = tuple(f"redis-{port}" for port in sorted(cluster.master_ports()))
    shard_map = ShardMap.from_settings(
        Settings(redis_cluster=True, streams=StreamsConfig(shards=shards))
    )
    for shard in shard_map.shards:
        master = f"redis-{cluster.master_of_key(shard.streams.outbound)}"
        found.shards_by_master.setdefault(master, []).append(shard.index)
    return found


@contextlib.contextmanager
def running_stack(
    workdir: Path, opts: Options, *, ops: bool, layout: Layout | None = None
) -> Iterator[Stack]:
    """Redis, simulator and gateway(s), each its own process; stopped on exit."""
    layout = layout or Layout()
    ports = {k: free_port() for k in ("redis", "smpp", "control")}
    ops_ports = [free_port() for _ in range(layout.instances)]
    sim_config = _simulator_config(workdir, ports, opts, opts.binds * layout.instances)
    python = sys.executable
    with contextlib.ExitStack() as stack:
        redis = _start_redis(stack, workdir, ports["redis"], layout)
        sim = stack.enter_context(
            _process(workdir, "simulator", [python, "-m", "simulator", "--config", str(sim_config)])
        )
        control_url = f"http://127.0.0.1:{ports['control']}"
        _wait_until(lambda: _http_ok(control_url + "/stats"), [sim], "simulator")
        names = (
            ["gateway"]
            if layout.instances == 1
            else [f"gateway-{n + 1}" for n in range(layout.instances)]
        )
        gateways = []
        for name, ops_port in zip(names, ops_ports, strict=True):
            config = _gateway_config(
                workdir / f"{name.replace('gateway', 'smsgw', 1)}.yaml",  # smsgw.yaml, smsgw-1.yaml
                redis_url=redis.url,
                smpp_port=ports["smpp"],
                ops_port=ops_port,
                consumer="bench" if layout.instances == 1 else f"bench-{name}",
                opts=opts,
                ops=ops,
                layout=layout,
            )
            args = [python, "-m", "gateway.cli", "--config", str(config), "run"]
            gateways.append(stack.enter_context(_process(workdir, name, args)))
        binds = opts.binds * layout.instances
        _wait_until(lambda: _binds_up(control_url) >= binds, gateways, "gateway binds")
        pids = {name: g.pid for name, g in zip(names, gateways, strict=True)}
        pids["simulator"] = sim.pid
        pids.update(redis.pids)
        pids["driver"] = os.getpid()
        yield Stack(
            redis_url=redis.url,
            ops_port=ops_ports[0] if ops else None,
            control_url=control_url,
            gateway=gateways[0],
            pids=pids,
            gateways=tuple(gateways),
            ops_ports=tuple(ops_ports) if ops else (),
            redis_ports=redis.ports,
            masters=redis.masters,
            shards_by_master=redis.shards_by_master,
        )


def _wait_until(
    check: Callable[[], bool],
    procs: Sequence[subprocess.Popen[bytes]],
    what: str,
    within: float = READY_TIMEOUT,
) -> None:
    deadline = time.monotonic() + within
    while not check():
        exited = [p.poll() for p in procs if p.poll() is not None]
        if exited or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready (exit code {exited or None})")
        time.sleep(0.05)


def metrics_url(ops_port: int) -> str:
    """A gateway's /metrics, by the port of its ops server."""
    return f"http://{HOST}:{ops_port}/metrics"


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
