"""A child process with its output in a log file, always stopped on exit (demo, benchmarks)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def logged_process(
    args: Sequence[str], log_path: Path, *, cwd: Path, stop_timeout: float = 15.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` with stdout and stderr to `log_path`; on exit SIGTERM it, then SIGKILL
    after `stop_timeout` seconds if it has not stopped."""
    log = log_path.open("wb")
    proc = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, cwd=cwd)  # noqa: S603 - our own commands
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
        log.close()
