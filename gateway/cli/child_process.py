"""Child processes that are always stopped on exit: a logged command, a throwaway redis-server.

Used by the demo, the benchmarks and the test fixtures.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


class RedisNotReadyError(RuntimeError):
    """redis-server exited, or did not answer PING, before its deadline."""


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (bind to 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def logged_process(
    args: Sequence[str],
    log_path: Path | None,
    *,
    cwd: Path | None = None,
    stop_timeout: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` with stdout and stderr to `log_path` (discarded if None); on exit SIGTERM it,
    then SIGKILL after `stop_timeout` seconds if it has not stopped."""
    log = log_path.open("wb") if log_path is not None else None
    output = log if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(list(args), stdout=output, stderr=subprocess.STDOUT, cwd=cwd)  # noqa: S603 - our own commands
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        if log is not None:
            log.close()


def redis_server_args(port: int, binary: str = "redis-server", *, data_dir: Path) -> list[str]:
    """The command line of a throwaway redis-server on 127.0.0.1:`port`: no RDB, no AOF.

    Its working directory is `data_dir` (which must exist), never the caller's: `--save ""`
    stops it writing an RDB, not loading one, and a replica's full sync writes one anyway. A
    `dump.rdb` left in the working directory was loaded at start: its keys, and the
    replication backlog Redis keeps for PSYNC after a restart, which every write is then
    copied into (~15% of Redis's CPU in benchmarks/e2e, with no replica attached).
    """
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(data_dir)]  # fmt: skip


@contextlib.contextmanager
def redis_server_process(
    port: int,
    *,
    binary: str = "redis-server",
    log_path: Path | None = None,
    cwd: Path | None = None,
    data_dir: Path | None = None,
    ready_timeout: float = 10.0,
    stop_timeout: float = 5.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `redis_server_args` under `logged_process` and wait until it answers PING on
    127.0.0.1:`port`; it is stopped on exit, whatever happens. Its data directory is
    `data_dir`, or (None) a temporary one removed when it stops.

    Raises:
        FileNotFoundError: `binary` is not installed (from `subprocess.Popen`).
        RedisNotReadyError: it exited, or did not answer within `ready_timeout` seconds.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-")))
        args = redis_server_args(port, binary, data_dir=data_dir)
        proc = stack.enter_context(
            logged_process(args, log_path, cwd=cwd, stop_timeout=stop_timeout)
        )
        _wait_for_ping(port, proc, time.monotonic() + ready_timeout)
        yield proc


def _wait_for_ping(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RedisNotReadyError(
        f"redis-server on port {port} did not answer PING in time (exit code {proc.poll()})"
    )
