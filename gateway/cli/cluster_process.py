"""A real Redis Cluster (3 masters + 3 replicas by default) on 127.0.0.1, as child processes.

Used by the `redis_cluster` test fixture (tests/cluster_fixture.py) and by
`python -m benchmarks.e2e --cluster`. `LocalRedisCluster.start()` runs six `redis-server`
processes (three with `replicas=0`) in cluster mode on free loopback ports (each with its own
cluster-bus port, no RDB, AOF on unless asked otherwise, a 2 s node timeout by default),
joins them with `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes` (or 0),
and returns once every node reports `cluster_state:ok` with all 16384 slots assigned and
every replica is in sync (so a killed master can be failed over at once). `stop()` stops
every node's process group and removes the directory holding the node configs, AOFs and
logs; `running_cluster` does both around a `with` block.

Connect with redis-py's own cluster client (no home-made slot routing):

    client = redis.asyncio.cluster.RedisCluster.from_url(cluster.url)

The helpers (`master_of_slot`, `kill`, `restart`, `wait_until_healthy`, `wait_for_new_master`)
are blocking: async code calls them through `asyncio.to_thread` so its event loop runs on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot as crc_key_slot

from gateway.cli.child_process import free_port

HOST = "127.0.0.1"
MASTERS = 3  # each with `replicas` replicas (one by default)
NODE_TIMEOUT_MS = 2000  # failure detection; a failover takes about twice this
SLOTS = 16384
_STARTUP_TIMEOUT = 15.0  # a bound, not an expectation: startup takes ~2 s on a loaded box
_STOP_TIMEOUT = 5.0


class ClusterNotReadyError(RuntimeError):
    """The cluster did not form, or did not become healthy, before its deadline (or the
    binaries to run it are missing)."""


@dataclass
class ClusterNode:
    """One redis-server of the cluster: its ports, its directory, its process (None when killed)."""

    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    appendonly: bool = True
    node_timeout_ms: int = NODE_TIMEOUT_MS

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def args(self, binary: str) -> list[str]:
        return [
            binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.directory / "nodes.conf"),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--dir", str(self.directory),
            "--appendonly", "yes" if self.appendonly else "no",
            # replicas sync at once (the default waits 5 s for more replicas to share one
            # transfer): until synced, a replica cannot be promoted
            "--repl-diskless-sync-delay", "0",
            "--save", "",
            "--logfile", str(self.log_path),
        ]  # fmt: skip

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])


@dataclass
class LocalRedisCluster:
    """A running Redis Cluster on loopback, with the handles needed to measure or disturb it.

    `appendonly` and `node_timeout_ms` apply to every node: the tests keep AOF on (a killed
    master's replica must have the writes), the benchmark turns it off to compare with its
    single redis-server, which runs without persistence. `replicas` per master: 1 (the tests,
    failover), or 0 (the benchmark's cluster without replicas, beside a lone redis-server).
    """

    server_binary: str
    cli_binary: str
    root: Path
    nodes: list[ClusterNode] = field(default_factory=list)
    appendonly: bool = True
    node_timeout_ms: int = NODE_TIMEOUT_MS
    replicas: int = 1

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """A URL for `RedisCluster.from_url`: one seed node, the client discovers the rest."""
        return f"redis://{HOST}:{self.nodes[0].port}/0"

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """Every node, for a client that should survive any one of them being down."""
        return [(HOST, node.port) for node in self.nodes]

    def node(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def alive(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    # --- topology ---------------------------------------------------------------------------

    def master_of_slot(self, slot: int) -> int:
        """The port of the node that masters `slot`, as a live node sees the cluster now."""
        for node in self.alive():
            with contextlib.suppress(redis.RedisError), _client(node.port) as client:
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(master[1])
        raise ClusterNotReadyError(f"no live node knows the master of slot {slot}")

    def master_of_key(self, key: str | bytes) -> int:
        """The port of the node that masters `key`'s slot."""
        return self.master_of_slot(key_slot(key))

    def master_ports(self) -> list[int]:
        """The ports of the live nodes whose role is master now."""
        masters = []
        for node in self.alive():
            with contextlib.suppress(redis.RedisError), _client(node.port) as client:
                if client.info("replication").get("role") == "master":
                    masters.append(node.port)
        return masters

    def wait_until_healthy(self, timeout: float = _STARTUP_TIMEOUT) -> None:
        """Return once every live node says cluster_state:ok with all slots assigned and
        agrees on each slot's master, and every live replica is in sync with its master.

        Raises:
            ClusterNotReadyError: not healthy within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        while time.monotonic() < deadline:
            problem = self._health_problem()
            if problem is None:
                return
            time.sleep(0.05)
        raise ClusterNotReadyError(f"cluster not healthy after {timeout} s: {problem}")

    def wait_for_new_master(self, slot: int, old_port: int, timeout: float = 20.0) -> int:
        """Wait until a node other than `old_port` masters `slot` and the cluster is healthy;
        returns its port (the promoted replica).

        Raises:
            ClusterNotReadyError: no failover within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ClusterNotReadyError):
                port = self.master_of_slot(slot)
                if port != old_port and self._health_problem() is None:
                    return port
            time.sleep(0.05)
        raise ClusterNotReadyError(f"slot {slot}: no replica promoted within {timeout} s")

    def _health_problem(self) -> str | None:
        masters: set[tuple[str, ...]] = set()
        for node in self.alive():
            try:
                with _client(node.port) as client:
                    info = client.cluster("INFO")
                    slots = client.execute_command("CLUSTER SLOTS")
                    replication = client.info("replication")
            except redis.RedisError as exc:
                return f"{node.address}: {exc}"
            if info.get("cluster_state") != "ok":
                return f"{node.address}: cluster_state {info.get('cluster_state')}"
            if int(info.get("cluster_slots_ok", 0)) != SLOTS:
                return f"{node.address}: {info.get('cluster_slots_ok')} slots ok"
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return f"{node.address}: replica not in sync with its master yet"
            masters.add(tuple(sorted(f"{s[0]}-{s[1]}@{int(s[2][1])}" for s in slots)))
        if len(masters) != 1:
            return "nodes disagree on the slot masters"
        return None

    # --- disturbing it ----------------------------------------------------------------------

    def kill(self, port: int) -> None:
        """SIGKILL one node (no shutdown save: what a crash or power loss looks like)."""
        node = self.node(port)
        if node.process is not None:
            _stop_group(node.process, signal.SIGKILL)
            node.process = None

    def restart(self, port: int) -> None:
        """Start a killed node again on its ports and directory: it reloads its cluster config
        and AOF and rejoins (as a replica if it was failed over meanwhile).

        Raises:
            ClusterNotReadyError: it did not answer PING in time.
        """
        node = self.node(port)
        if node.process is None:
            node.process = _start(node, self.server_binary)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the nodes, create the cluster and wait until it is healthy.

        Raises:
            ClusterNotReadyError: a node, `redis-cli --cluster create` or the health wait failed.
        """
        for index in range(MASTERS * (1 + self.replicas)):
            self.nodes.append(self._start_node(index))
        self._create()
        self.wait_until_healthy()

    def stop(self, *, keep_files: bool = False) -> None:
        """Stop every node; remove `root` unless `keep_files` (e.g. to read the node logs)."""
        for node in self.nodes:
            if node.process is not None:
                _stop_group(node.process, signal.SIGTERM)
                node.process = None
        if not keep_files:
            shutil.rmtree(self.root, ignore_errors=True)

    def _start_node(self, index: int) -> ClusterNode:
        """One node on fresh free ports; on a failure (another process took a port between
        our probe and redis-server's bind) once more on other ports."""
        for attempt in range(2):
            directory = self.root / f"node-{index}-{attempt}"
            directory.mkdir()
            port, bus_port = self._unused_ports(2)
            node = ClusterNode(
                port=port,
                bus_port=bus_port,
                directory=directory,
                appendonly=self.appendonly,
                node_timeout_ms=self.node_timeout_ms,
            )
            try:
                node.process = _start(node, self.server_binary)
            except ClusterNotReadyError:
                if attempt == 1:
                    raise
            else:
                return node
        raise AssertionError("unreachable")

    def _unused_ports(self, count: int) -> list[int]:
        """`count` distinct free loopback ports that no node of ours uses yet."""
        taken = {port for node in self.nodes for port in (node.port, node.bus_port)}
        found: list[int] = []
        while len(found) < count:
            port = free_port()
            if port not in taken:
                taken.add(port)
                found.append(port)
        return found

    def _create(self) -> None:
        args = [
            self.cli_binary, "--cluster", "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas", str(self.replicas), "--cluster-yes",
        ]  # fmt: skip
        try:
            done = subprocess.run(  # noqa: S603 - our own command
                args, capture_output=True, timeout=_STARTUP_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterNotReadyError(f"redis-cli --cluster create hung: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise ClusterNotReadyError(
                f"redis-cli --cluster create failed ({done.returncode}): {output[-800:]}"
            )


def cluster_binaries() -> tuple[str, str]:
    """The paths of `redis-server` and `redis-cli`.

    Raises:
        ClusterNotReadyError: either is not installed.
    """
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise ClusterNotReadyError(
            "redis-server and redis-cli are needed to run a Redis Cluster "
            "(Debian: apt-get install redis-server redis-tools)"
        )
    return server, cli


@contextlib.contextmanager
def running_cluster(
    root: Path | None = None,
    *,
    appendonly: bool = True,
    node_timeout_ms: int = NODE_TIMEOUT_MS,
    keep_files: bool = False,
    replicas: int = 1,
) -> Iterator[LocalRedisCluster]:
    """A healthy 3-master cluster (with `replicas` replicas each) for the `with` block,
    stopped on exit whatever happens. Its files go to `root` (created; default a new temporary
    directory), removed on exit unless `keep_files`.

    Raises:
        ClusterNotReadyError: the binaries are missing, or the cluster did not form in time.
    """
    server, cli = cluster_binaries()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="smsgw-cluster-"))
    else:
        root.mkdir(parents=True, exist_ok=True)
    cluster = LocalRedisCluster(
        server, cli, root, appendonly=appendonly, node_timeout_ms=node_timeout_ms,
        replicas=replicas,
    )  # fmt: skip
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop(keep_files=keep_files)


def key_slot(key: str | bytes) -> int:
    """The cluster slot of `key` (redis-py's CRC16 with hash tags)."""
    return crc_key_slot(key.encode() if isinstance(key, str) else key)


def _client(port: int) -> redis.Redis:
    """A plain connection to one node (no cluster routing), for admin commands."""
    return redis.Redis(
        host=HOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
    )


def _start(node: ClusterNode, binary: str) -> subprocess.Popen[bytes]:
    """Start `node`'s redis-server in its own process group and wait for PING.

    Raises:
        ClusterNotReadyError: it exited, or did not answer within the deadline.
    """
    process = subprocess.Popen(  # noqa: S603 - our own command
        node.args(binary), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, process_group=0
    )
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError), _client(node.port) as client:
            # ours, not another run's server that won the port race
            if client.info("server").get("process_id") == process.pid:
                return process
        time.sleep(0.02)
    code = process.poll()
    _stop_group(process, signal.SIGKILL)
    raise ClusterNotReadyError(
        f"redis-server {node.address} did not answer PING (exit code {code}): {node.log_tail()}"
    )


def _stop_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process group of `process`, then SIGKILL it if it outlives the timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
