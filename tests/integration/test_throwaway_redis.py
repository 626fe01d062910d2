"""The throwaway redis-server of the tests, the demo and the benchmarks (gateway/cli/
child_process.py) starts empty whatever its working directory holds, and writes nothing there.

A replica's full sync once left a `dump.rdb` in the project root, and every redis-server
started there afterwards loaded it: the benchmarks' Redis copied each write into the
replication backlog the RDB's replication id restores (~15% of its CPU)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from gateway.cli.child_process import free_port, redis_server_process


@pytest.fixture
def binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    return found


def _rdb_with_a_key(directory: Path, binary: str) -> Path:
    port = free_port()
    with (
        redis_server_process(port, binary=binary, data_dir=directory),
        redis.Redis(port=port) as client,
    ):
        client.set("left-over", "1")
        client.save()
    return directory / "dump.rdb"


def test_a_dump_rdb_in_the_working_directory_is_not_loaded(tmp_path: Path, binary: str) -> None:
    stray = _rdb_with_a_key(tmp_path, binary)
    assert stray.exists()
    before = sorted(p.name for p in tmp_path.iterdir())
    port = free_port()
    with redis_server_process(port, binary=binary, cwd=tmp_path), redis.Redis(port=port) as client:
        assert client.dbsize() == 0
        assert client.config_get("dir")["dir"] != str(tmp_path)
        client.set("k", "v")
        client.save()  # written to its own directory, not the working one
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_its_own_directory_is_removed_when_it_stops(binary: str) -> None:
    port = free_port()
    with redis_server_process(port, binary=binary), redis.Redis(port=port) as client:
        directory = Path(client.config_get("dir")["dir"])
        client.save()
        assert (directory / "dump.rdb").exists()
    assert not directory.exists()
