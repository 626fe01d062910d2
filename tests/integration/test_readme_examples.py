"""Every command README.md shows works as written (the README explains the rules to doc writers).

Each fenced block must carry a language tag. Each `sh` block runs, in README order, with bash,
from the repository root, against a real redis-server (the session fixture), the simulator of
config/simulator.yaml (in process, free ports) and `smsgw run` as a child process: `.venv/bin`
leads `PATH`, `SMSGW_REDIS_URL` names the test's Redis and a `redis-cli` shim adds its port.
Each command must exit 0; one ending in `# -> TEXT` must print TEXT and is retried until it
does, within a deadline, since the engine works asynchronously.
`<!-- readme-test: skip: REASON -->` on the line above a fence skips its block.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from simulator.config import load_config
from tests.conftest import RedisServer
from tests.integration.simulator_fixture import RunningSimulator, start_simulator

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\S*)\s*$")
SKIP = re.compile(r"^<!-- readme-test: skip: (?P<reason>\S.*?) -->$")
EXPECT = "  # -> "
RETRY_FOR = 15.0  # seconds a command with an expectation may take to show it
COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced block of README.md: its tag, the line its fence is on, its lines, skip reason."""

    tag: str
    line: int
    lines: tuple[str, ...]
    skip: str | None


@dataclass(frozen=True, slots=True)
class Command:
    """One shell command of a `sh` block and the text its output must contain (if any)."""

    line: int
    text: str
    expect: str | None


def readme_blocks(text: str) -> Iterator[Block]:
    """The fenced blocks of a Markdown text, in order."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        marker = SKIP.match(lines[index - 1]) if index else None
        yield Block(opened.group(1), index + 1, tuple(lines[index + 1 : end]),
                    marker.group("reason") if marker else None)  # fmt: skip
        index = end + 1


def block_commands(block: Block) -> Iterator[Command]:
    """The commands of a `sh` block: a command runs on while its quotes are open or its line
    ends in a backslash; blank lines and whole-line comments are not commands."""
    pending: list[str] = []
    start = block.line
    for offset, raw in enumerate(block.lines, start=1):
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if not pending:
            start = block.line + offset
        pending.append(raw)
        joined = "\n".join(pending)
        if joined.endswith("\\") or not _quotes_closed(joined):
            continue
        command, _, expect = joined.partition(EXPECT)
        yield Command(start, command.strip(), expect.strip() or None)
        pending = []
    assert not pending, f"README.md:{start}: unfinished command {pending}"


def _quotes_closed(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


BLOCKS = list(readme_blocks(README.read_text(encoding="utf-8")))


def test_every_fenced_block_has_a_tag_and_every_skip_a_reason() -> None:
    """So no command hides in an untagged block, and no block is skipped without saying why."""
    assert [b.line for b in BLOCKS if not b.tag] == []
    assert [b.line for b in BLOCKS if b.skip is not None and b.tag != "sh"] == []
    assert [b for b in BLOCKS if b.tag == "sh" and b.skip is None], "no runnable sh block"


def test_a_command_runs_on_over_open_quotes_and_backslashes_with_its_expectation() -> None:
    block = Block("sh", 10, ("# a comment", "", "echo 'a", "b'  # -> a", "ls \\", "  -l"), None)
    assert list(block_commands(block)) == [
        Command(13, "echo 'a\nb'", "a"),
        Command(15, "ls \\\n  -l", None),
    ]


@pytest.fixture
async def readme_simulator() -> AsyncIterator[RunningSimulator]:
    """The simulator the README starts (config/simulator.yaml), on free ports."""
    free_ports = {"port": 0, "control_port": 0}
    async with start_simulator(load_config(ROOT / "config" / "simulator.yaml", free_ports)) as sim:
        yield sim


@pytest.fixture
async def gateway_process(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    readme_simulator: RunningSimulator,
    tmp_path: Path,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`smsgw run` with the repository's config, its carrier pointed at the README's simulator,
    on a flushed Redis (`redis_client` flushes it)."""
    config = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text(encoding="utf-8"))
    config["carriers"] = [
        config["carriers"][0] | {"port": readme_simulator.port, "reconnect_max": 0.3}
    ]
    config["routes"] = [
        {"name": "default", "targets": [{"carrier": config["carriers"][0]["name"]}]}
    ]
    config["ops"]["enabled"] = False
    config["consumer"] |= {"name": "readme", "block_ms": 20}
    config["logging"] = {"level": "warning", "json": True}
    path = tmp_path / "smsgw.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "run", "--config", str(path),
        env=readme_env(redis_server, tmp_path), cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not readme_simulator.stats()["binds"]:
            assert proc.returncode is None, "smsgw run exited"
            assert time.monotonic() < deadline, "smsgw run did not bind to the simulator"
            await asyncio.sleep(0.02)
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


def readme_env(redis_server: RedisServer, shims: Path) -> dict[str, str]:
    """The environment README commands run in (see the module docstring)."""
    redis_cli = shutil.which("redis-cli")
    assert redis_cli is not None, "redis-cli is missing (Debian: redis-tools, with redis-server)"
    shim = shims / "bin" / "redis-cli"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f'#!/bin/sh\nexec {redis_cli} -p {redis_server.port} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    path = os.pathsep.join([str(shim.parent), str(Path(sys.executable).parent), environ["PATH"]])
    return {**environ, "PATH": path, "SMSGW_REDIS_URL": redis_server.url}


async def run_command(command: Command, env: dict[str, str]) -> str:
    """Run `command` with bash until it exits 0 (and prints its expectation); its output.

    Raises:
        AssertionError: naming the README line, with the last output, when it never does.
    """
    deadline = time.monotonic() + RETRY_FOR
    while True:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command.text, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
        text = output.decode(errors="replace")
        ok = proc.returncode == 0 and not text.startswith(("ERR", "(error)"))
        if ok and (command.expect is None or command.expect in text):
            return text
        where = f"README.md:{command.line}: `{command.text}`"
        assert command.expect is not None, f"{where} exited {proc.returncode}:\n{text}"
        assert time.monotonic() < deadline, f"{where} never printed {command.expect!r}:\n{text}"
        await asyncio.sleep(0.1)


async def test_every_readme_sh_block_runs_as_written(
    redis_server: RedisServer,
    gateway_process: asyncio.subprocess.Process,
    tmp_path: Path,
) -> None:
    env = readme_env(redis_server, tmp_path)
    ran = []
    for block in BLOCKS:
        if block.tag != "sh" or block.skip is not None:
            continue
        for command in block_commands(block):
            await run_command(command, env)
            ran.append(command.text.split()[:2])
    assert ["smsgw", "send"] in ran
    assert ["redis-cli", "XADD"] in ran
