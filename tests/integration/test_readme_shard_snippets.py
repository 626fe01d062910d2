"""The README's "Scaling out" snippets, as printed there, pick the stream smsgw picks.

The Python block is exec'd and the Node.js block run with `node` (CI and this project's
machines have v20.20; `zlib.crc32` needs 20.15+) on the same numbers, and both are compared
with gateway/store/shards.py. A missing `node` fails the test: the documented code would go
unchecked.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.config import Settings, StreamsConfig
from gateway.store.shards import ShardMap, shard_index
from tests.integration.test_readme_examples import readme_blocks

ROOT = Path(__file__).resolve().parents[2]
SHARD_COUNTS = [1, 2, 3, 4, 7, 8, 16, 64, 1024]


def snippet(tag: str, defines: str) -> str:
    """The one README block tagged `tag` that defines `defines`."""
    found = [
        "\n".join(block.lines)
        for block in readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
        if block.tag == tag and defines in "\n".join(block.lines)
    ]
    assert len(found) == 1, f"README.md: expected one {tag} block defining {defines}: {found}"
    return found[0]


def sample_numbers() -> list[str]:
    """50 E.164 numbers of 8 to 15 digits, half written with '+', from a fixed seed."""
    rng = random.Random(15)
    numbers = []
    for n in range(50):
        digits = str(rng.randint(1, 9)) + "".join(
            str(rng.randint(0, 9)) for _ in range(rng.randint(7, 14))
        )
        numbers.append("+" + digits if n % 2 else digits)
    return numbers


def expected_stream(number: str, shards: int) -> str:
    """smsgw's outbound stream for `number`: with one shard, as on Redis Cluster (the
    snippets are for tagged names; one shard on one Redis keeps `smsgw:outbound`)."""
    settings = Settings(streams=StreamsConfig(shards=shards), redis_cluster=shards == 1)
    return ShardMap.from_settings(settings).of(number).streams.outbound


CASES = [(number, shards) for number in sample_numbers() for shards in SHARD_COUNTS]


def check(got: list[str]) -> None:
    """`got`, a stream for each of CASES, is smsgw's."""
    assert len(got) == len(CASES)
    for (number, shards), stream in zip(CASES, got, strict=True):
        assert stream == expected_stream(number, shards), (number, shards)
        assert stream == f"{{smsgw:{shard_index(number, shards)}}}:outbound"


def test_the_sample_spreads_over_every_shard() -> None:
    assert {shard_index(n, 8) for n in sample_numbers()} == set(range(8))


def test_the_readme_python_snippet_picks_smsgws_stream() -> None:
    namespace: dict[str, object] = {}
    exec(snippet("python", "def outbound_stream"), namespace)  # noqa: S102 - the README's code
    outbound_stream = namespace["outbound_stream"]
    assert callable(outbound_stream)
    check([outbound_stream(number, shards) for number, shards in CASES])


def test_the_readme_nodejs_snippet_picks_smsgws_stream() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the README's Node.js snippet needs Node.js >= 20.15")
    driver = (
        "\nconst cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));"
        "\nprocess.stdout.write(JSON.stringify(cases.map(([to, n]) => outboundStream(to, n))));"
    )
    done = subprocess.run(
        [node, "-e", snippet("js", "function outboundStream") + driver],
        input=json.dumps(CASES),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check(json.loads(done.stdout))
