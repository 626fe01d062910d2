"""`smsgw` start-up errors as a user sees them: a real process, one line on stderr, an exit code.

A bad `redis_url` or an empty config file is a config error (exit 2); Redis down is exit 1.
Either way stderr is one line, with no traceback and no password.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cr3t-pw"
COMMANDS = {
    "run": ["run"],
    "send": ["send", "--to", "+447911123456", "--text", "hi"],
    "status": ["status", "m1"],
    "optout": ["optout", "check", "+447911123456"],
}


def smsgw(
    config: Path, command: str, *, config_after: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """`smsgw --config FILE <command>` (or `smsgw <command> --config FILE`) in a child process,
    without the caller's SMSGW_* vars."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    option = ["--config", str(config)]
    argv = [*COMMANDS[command], *option] if config_after else [*option, *COMMANDS[command]]
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**environ, **env},
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_redis_down_at_start_is_one_line_naming_the_masked_url(
    command: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    config = tmp_path / "smsgw.yaml"
    config.write_text(f"redis_url: redis://smsgw:{PASSWORD}@127.0.0.1:{port}/0\n")
    done = smsgw(config, command)
    line = one_line(done)
    assert done.returncode == 1, line
    assert line.startswith(f"smsgw: redis unreachable at redis://smsgw:***@127.0.0.1:{port}/0: ")
    assert "Connection refused" in line
    assert done.stdout == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_redis_cluster_down_at_start_is_one_line_naming_the_masked_url(
    command: str, tmp_path: Path
) -> None:
    """With `redis_cluster: true` the commands use redis-py's cluster client, whose "no node
    reachable" error (RedisClusterUnreachableError, no ConnectionError) is reported the same."""
    port = free_port()  # nothing listens there
    config = tmp_path / "smsgw.yaml"
    url = f"redis://smsgw:{PASSWORD}@127.0.0.1:{port}/0"
    config.write_text(f"redis_url: {url}\nredis_cluster: true\n")
    done = smsgw(config, command)
    line = one_line(done)
    assert done.returncode == 1, line
    assert line.startswith(f"smsgw: redis unreachable at redis://smsgw:***@127.0.0.1:{port}/0: ")
    assert "Redis Cluster cannot be connected" in line
    assert done.stdout == ""


@pytest.fixture
def lone_cluster_node(tmp_path: Path) -> Iterator[int]:
    """A cluster-enabled redis-server that was never joined to a cluster (no slots); its port."""
    port, bus_port = free_port(), free_port()
    # the bus port named: by default it is port + 10000, past 65535 for a high free port
    args = [shutil.which("redis-server") or "redis-server", "--port", str(port),
            "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-port", str(bus_port),
            "--dir", str(tmp_path),
            "--save", "", "--appendonly", "no"]  # fmt: skip
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            client = redis.Redis(port=port, socket_connect_timeout=1)
            deadline = time.monotonic() + 10
            while True:  # until it answers (a bound, not a wait)
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        break
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            client.close()
            yield port
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_cluster_not_created_yet_is_one_line(
    command: str, lone_cluster_node: int, tmp_path: Path
) -> None:
    """A node whose cluster has no slots assigned: redis-py's cluster client refuses it at its
    first call (RedisClusterException), reported as unreachable, with the cause."""
    config = tmp_path / "smsgw.yaml"
    config.write_text(f"redis_url: redis://127.0.0.1:{lone_cluster_node}/0\nredis_cluster: true\n")
    done = smsgw(config, command)
    line = one_line(done)
    assert done.returncode == 1, line
    assert line.startswith(f"smsgw: redis unreachable at redis://127.0.0.1:{lone_cluster_node}/0: ")
    assert "slots are not covered" in line


def test_inspect_with_the_cluster_down_reports_it_in_the_verdict(tmp_path: Path) -> None:
    config = tmp_path / "smsgw.yaml"
    config.write_text(f"redis_url: redis://127.0.0.1:{free_port()}/0\nredis_cluster: true\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), "inspect", "--json",
         "--text", "hello", "--to", "+447911200003", "--from", "Acme"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=environ, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "unavailable" in report["compliance"]["error"]
    assert report["segments"] == 1


@pytest.mark.parametrize("config_after", [False, True], ids=["config-first", "config-after"])
@pytest.mark.parametrize("command", COMMANDS)
def test_redis_url_that_is_not_a_url_is_a_config_error(
    command: str, config_after: bool, tmp_path: Path
) -> None:
    """The file is read whether `--config` comes before the subcommand or after it."""
    config = tmp_path / "smsgw.yaml"
    config.write_text("redis_url: notaurl\n")
    done = smsgw(config, command, config_after=config_after)
    line = one_line(done)
    assert done.returncode == 2, line
    assert line.startswith("smsgw: config error: redis_url: ")
    assert "'notaurl'" in line


def test_bad_redis_url_from_the_environment_is_masked(tmp_path: Path) -> None:
    config = tmp_path / "smsgw.yaml"
    config.write_text("key_prefix: 'smsgw:'\n")
    done = smsgw(config, "run", SMSGW_REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:notaport/0")
    line = one_line(done)
    assert done.returncode == 2, line
    assert "redis_url: " in line
    assert "redis://:***@127.0.0.1:notaport/0" in line


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n"])
@pytest.mark.parametrize("command", ["run", "status"])
def test_empty_config_file_is_a_config_error_naming_it(
    command: str, text: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text(text)
    done = smsgw(config, command)
    line = one_line(done)
    assert done.returncode == 2, line
    assert line.startswith(f"smsgw: config error: {config}: config file is empty")
