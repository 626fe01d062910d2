"""`smsgw send`, `status`, `optout` and `inspect` with `streams.shards: 4` on a real redis-server
and on a real Redis Cluster (`redis_cluster: true`, 3 masters and 3 replicas): each works on its
recipient's shard (the engine's E.164 normalisation, then CRC-32 mod 4), through redis-py's
cluster client on the cluster; with one shard on one server every name and output is as before
sharding."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
import yaml
from redis.asyncio.cluster import RedisCluster

from gateway.cli import main as cli
from gateway.store.shards import shard_index
from tests.cluster_fixture import LocalRedisCluster
from tests.conftest import RedisServer
from tests.integration.engine_harness import engine_settings, running_engine
from tests.integration.redis_backends import Backend
from tests.integration.simulator_fixture import RunningSimulator

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 4
# valid UK mobiles (447911...) spread over the four shards
NUMBERS = [f"+4479111000{n:02d}" for n in range(12)]


def shard_of(number: str) -> int:
    return shard_index(number, SHARDS)


def write_config(tmp_path: Path, url: str, shards: int, *, cluster: bool = False) -> Path:
    config = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text(encoding="utf-8"))
    config["redis_url"] = url
    config["redis_cluster"] = cluster
    config["streams"]["shards"] = shards
    config["compliance"]["config_dir"] = str(ROOT / "config")
    path = tmp_path / f"smsgw-{shards}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def sharded(tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with `streams.shards: 4` on the test's backend: one redis-server, or the
    cluster with `redis_cluster: true`."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    return write_config(tmp_path, backend.url, SHARDS, cluster=backend.cluster)


@pytest.fixture
def unsharded(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's config (one shard) on the test's Redis."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    return write_config(tmp_path, redis_server.url, 1)


async def smsgw(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, str, str]:
    """Run `smsgw --config CONFIG ARGV...` (its own event loop, in a thread): exit code,
    stdout, stderr."""
    code = await asyncio.to_thread(cli.main, ["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def entries(client: Any, stream: str) -> list[dict[str, Any]]:
    found = cast(list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(stream))
    return [json.loads(fields[b"data"]) for _, fields in found]


def test_the_numbers_cover_several_shards() -> None:
    assert len({shard_of(n) for n in NUMBERS}) >= 3


async def test_send_puts_each_message_on_its_recipients_shard_stream(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    for n, number in enumerate(NUMBERS):
        code, out, _ = await smsgw(capsys, sharded, "send", "--to", number, "--text", "hi",
                                   "--id", f"m{n}")  # fmt: skip
        assert code == 0
        assert json.loads(out)["stream"] == f"{{smsgw:{shard_of(number)}}}:outbound"
    for k in range(SHARDS):
        landed = await entries(backend.client, f"{{smsgw:{k}}}:outbound")
        assert sorted(m["to"] for m in landed) == sorted(n for n in NUMBERS if shard_of(n) == k)
    assert not await backend.client.exists("smsgw:outbound")


async def test_send_picks_the_shard_of_the_number_as_the_engine_normalises_it(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """A national number with --country is placed by its E.164 digits, not as written."""
    national, e164 = "07911 123456", "447911123456"
    assert shard_of("07911123456") != shard_of(e164)  # else this test proves nothing
    code, out, _ = await smsgw(capsys, sharded, "send", "--to", national, "--country", "GB",
                               "--text", "hi", "--id", "national")  # fmt: skip
    assert code == 0
    stream = f"{{smsgw:{shard_of(e164)}}}:outbound"
    assert json.loads(out)["stream"] == stream
    assert [m["to"] for m in await entries(backend.client, stream)] == [national]


async def test_send_puts_an_unparseable_number_on_shard_0(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the engine rejects it with its reason (invalid_number)."""
    assert shard_of("+44123") != 0
    code, out, _ = await smsgw(capsys, sharded, "send", "--to", "+44123", "--text", "hi")
    assert code == 0
    assert json.loads(out)["stream"] == "{smsgw:0}:outbound"
    assert [m["to"] for m in await entries(backend.client, "{smsgw:0}:outbound")] == ["+44123"]


async def write_message(client: Any, shard: int, message_id: str, to: str) -> None:
    """A message's hash and history under shard `shard`, as the engine records them."""
    prefix = f"{{smsgw:{shard}}}:"
    event = {"id": message_id, "status": "delivered", "ts": "2026-12-02T06:21:18.870Z"}
    await client.hset(
        f"{prefix}msg:{message_id}",
        mapping={"status": "delivered", "to": to, "payload": "secret text"},
    )
    await client.rpush(f"{prefix}msg:{message_id}:history", json.dumps(event))


async def test_status_finds_a_message_in_its_shard(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    number = NUMBERS[0]
    await write_message(backend.client, shard_of(number), "order-9", number)
    code, out, err = await smsgw(capsys, sharded, "status", "order-9")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["shard"] == shard_of(number)
    assert shown["state"] == {"status": "delivered", "to": number}  # no payload echoed
    assert [h["status"] for h in shown["history"]] == ["delivered"]


async def test_status_of_an_id_in_two_shards_shows_the_lowest_and_to_picks_one(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """Idempotency holds within a shard: one id to two recipients of different shards is two
    messages."""
    low, high = sorted({shard_of(n): n for n in NUMBERS}.items())[:2]
    await write_message(backend.client, high[0], "twice", high[1])
    await write_message(backend.client, low[0], "twice", low[1])
    code, out, err = await smsgw(capsys, sharded, "status", "twice")
    assert code == 0
    assert json.loads(out)["state"]["to"] == low[1]
    assert f"also in shard(s) {high[0]}" in err
    code, out, err = await smsgw(capsys, sharded, "status", "twice", "--to", high[1])
    assert (code, err) == (0, "")
    assert json.loads(out)["state"]["to"] == high[1]


async def test_status_of_an_unknown_id_fails_after_looking_in_every_shard(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    await write_message(backend.client, 0, "other", NUMBERS[0])
    code, out, err = await smsgw(capsys, sharded, "status", "nope")
    assert (code, out) == (1, "")
    assert "no message with id 'nope'" in err


async def test_optout_writes_and_reads_the_recipients_shard_key(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    number = "+447911123456"
    key = f"{{smsgw:{shard_of(number)}}}:optout:{{447911123456}}"
    code, out, _ = await smsgw(capsys, sharded, "optout", "add", number)
    assert code == 0
    assert json.loads(out) == {"msisdn": "447911123456", "opted_out": True, "scope": "global"}
    assert await backend.client.hexists(key, "*")
    assert await backend.client.keys("smsgw:*") == []  # nothing under the unsharded prefix
    code, out, _ = await smsgw(capsys, sharded, "optout", "check", number)
    assert json.loads(out)["opted_out"] is True
    code, out, _ = await smsgw(capsys, sharded, "optout", "remove", number)
    assert json.loads(out)["opted_out"] is False
    assert not await backend.client.hexists(key, "*")


async def test_inspect_judges_the_opt_out_in_the_recipients_shard(
    sharded: Path, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    number = "+447911200002"
    await backend.client.hset(f"{{smsgw:{shard_of(number)}}}:optout:{{447911200002}}", "*", 1)
    code, out, _ = await smsgw(capsys, sharded, "inspect", "--json", "--text", "Sale!",
                               "--to", number, "--from", "Acme",
                               "--category", "marketing")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["compliance"]["reason"] == "opted_out"
    assert report["plan"]["decision"] == "suppressed"


async def test_one_shard_keeps_the_configured_names_and_output(
    unsharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await smsgw(capsys, unsharded, "send", "--to", NUMBERS[0], "--text", "hi",
                               "--id", "one")  # fmt: skip
    assert code == 0
    assert json.loads(out).keys() == {"id", "entry"}
    assert [m["id"] for m in await entries(redis_client, "smsgw:outbound")] == ["one"]
    await redis_client.hset("smsgw:msg:one", "status", "accepted")
    code, out, _ = await smsgw(capsys, unsharded, "status", "one")
    assert json.loads(out) == {"id": "one", "state": {"status": "accepted"}, "history": []}
    await smsgw(capsys, unsharded, "optout", "add", NUMBERS[0])
    assert await redis_client.hexists("smsgw:optout:{447911100000}", "*")


# --- on Redis Cluster: what only a cluster shows, and real `smsgw` processes -----------------


async def test_status_reads_shards_mastered_by_different_nodes_in_one_call(
    sharded: Path,
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """`status` without --to looks in all four shards in one pipeline; on the cluster their
    slots are on different masters, and the cluster client splits the pipeline by node."""
    one_per_shard = {shard_of(n): n for n in NUMBERS}
    assert sorted(one_per_shard) == list(range(SHARDS))
    for k, number in one_per_shard.items():
        await write_message(backend.client, k, f"in-{k}", number)
    if backend.cluster:
        cluster: LocalRedisCluster = request.getfixturevalue("redis_cluster")
        masters = {cluster.master_of_key(f"{{smsgw:{k}}}:msg:in-{k}") for k in one_per_shard}
        assert len(masters) > 1, "the four shards should not all be on one master"
    for k, number in one_per_shard.items():
        code, out, err = await smsgw(capsys, sharded, "status", f"in-{k}")
        assert (code, err) == (0, "")
        shown = json.loads(out)
        assert (shown["shard"], shown["state"]["to"]) == (k, number)


async def test_cluster_with_one_shard_names_it_and_every_command_works(
    tmp_path: Path,
    redis_cluster: LocalRedisCluster,
    redis_cluster_client: RedisCluster,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `redis_cluster: true` names are a shard's even with `shards: 1` ({smsgw:0}:...)."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    config = write_config(tmp_path, redis_cluster.url, 1, cluster=True)
    number = NUMBERS[0]
    code, out, _ = await smsgw(capsys, config, "send", "--to", number, "--text", "hi",
                               "--id", "solo")  # fmt: skip
    assert code == 0
    assert json.loads(out)["stream"] == "{smsgw:0}:outbound"
    assert [m["id"] for m in await entries(redis_cluster_client, "{smsgw:0}:outbound")] == ["solo"]
    await write_message(redis_cluster_client, 0, "solo", number)
    code, out, _ = await smsgw(capsys, config, "status", "solo")
    assert (code, json.loads(out)["shard"]) == (0, 0)
    code, out, _ = await smsgw(capsys, config, "optout", "add", number)
    assert json.loads(out)["opted_out"] is True
    assert await redis_cluster_client.hexists("{smsgw:0}:optout:{447911100000}", "*")
    assert await redis_cluster_client.keys("smsgw:*") == []


PENDING = {None, b"accepted", b"submitted"}  # a message's status until its final one


async def smsgw_process(config: Path, *argv: str) -> tuple[int, str, str]:
    """`smsgw --config CONFIG ARGV...` as a real process (the console script's module), without
    the caller's SMSGW_* variables: exit code, stdout, stderr."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--config", str(config), *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=environ,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_message_sent_by_smsgw_send_is_delivered_and_smsgw_status_shows_it(
    sharded: Path, backend: Backend, simulator: RunningSimulator
) -> None:
    """Real `smsgw send` and `smsgw status` processes beside an engine on the same backend
    (on the cluster: `redis_cluster: true`, 4 shards), two recipients in different shards."""
    carriers = [("sim", simulator.host, simulator.port)]
    settings = engine_settings(
        backend.url, carriers, streams={"shards": SHARDS}, redis_cluster=backend.cluster
    )
    one_per_shard = {shard_of(n): n for n in NUMBERS}
    recipients = {f"e2e-{k}": one_per_shard[k] for k in (1, 3)}  # on two masters of the cluster
    async with running_engine(settings):
        for message_id, number in recipients.items():
            argv = ["--to", number, "--from", "Acme", "--text", "hello", "--id", message_id]
            code, out, err = await smsgw_process(sharded, "send", *argv)
            assert (code, err) == (0, ""), err
            assert json.loads(out)["stream"] == f"{{smsgw:{shard_of(number)}}}:outbound"
        deadline = time.monotonic() + 15
        for message_id, number in recipients.items():
            key = f"{{smsgw:{shard_of(number)}}}:msg:{message_id}"
            while (status := await backend.client.hget(key, "status")) in PENDING:
                assert time.monotonic() < deadline, f"{message_id} still {status!r}"
                await asyncio.sleep(0.05)
            assert status == b"delivered", message_id
    for message_id, number in recipients.items():
        code, out, err = await smsgw_process(sharded, "status", message_id)
        assert (code, err) == (0, ""), err
        shown = json.loads(out)
        assert (shown["shard"], shown["state"]["status"]) == (shard_of(number), "delivered")
        assert [h["status"] for h in shown["history"]][-1] == "delivered"
    assert sorted(m.destination_addr for m in simulator.messages()) == sorted(
        n.lstrip("+") for n in recipients.values()
    )


async def test_send_works_while_the_master_of_another_shard_is_down(
    tmp_path: Path,
    redis_cluster: LocalRedisCluster,
    redis_cluster_client: RedisCluster,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start-up check only loads the slot map (from the node in redis_url): a master the
    command does not need may be down, or failing over, meanwhile."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    config = write_config(tmp_path, redis_cluster.url, SHARDS, cluster=True)
    number = NUMBERS[0]
    home = redis_cluster.master_of_key(f"{{smsgw:{shard_of(number)}}}:outbound")
    masters = {redis_cluster.master_of_slot(slot) for slot in (0, 8192, 16383)}
    victim = next(port for port in masters - {home} if port != redis_cluster.ports[0])
    await asyncio.to_thread(redis_cluster.kill, victim)
    try:
        code, out, err = await smsgw(capsys, config, "send", "--to", number, "--text", "hi",
                                     "--id", "one-master-down")  # fmt: skip
        assert (code, err) == (0, ""), err
    finally:
        await asyncio.to_thread(redis_cluster.restart, victim)
        await asyncio.to_thread(redis_cluster.wait_until_healthy)
    stream = f"{{smsgw:{shard_of(number)}}}:outbound"
    assert json.loads(out)["stream"] == stream
    assert [m["id"] for m in await entries(redis_cluster_client, stream)] == ["one-master-down"]


async def test_optout_while_its_shards_master_dies_ends_in_one_line_either_way(
    tmp_path: Path,
    redis_cluster: LocalRedisCluster,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start-up check passes (the seed node answers), then the opt-out's own master is
    dead: redis-py retries while its replica takes over, so the command either succeeds or
    says "redis unreachable" in one line, exit 1; never a traceback."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    config = write_config(tmp_path, redis_cluster.url, SHARDS, cluster=True)
    number = next(
        n
        for n in NUMBERS
        if redis_cluster.master_of_key(f"{{smsgw:{shard_of(n)}}}:optout") != redis_cluster.ports[0]
    )
    victim = redis_cluster.master_of_key(f"{{smsgw:{shard_of(number)}}}:optout")
    await asyncio.to_thread(redis_cluster.kill, victim)
    try:
        code, _, err = await smsgw(capsys, config, "optout", "add", number)
    finally:
        await asyncio.to_thread(redis_cluster.restart, victim)
        await asyncio.to_thread(redis_cluster.wait_until_healthy)
    if code == 0:
        assert err == ""
    else:
        assert code == 1
        assert err.startswith("smsgw: redis unreachable at redis://"), err
        assert err.count("\n") == 1, err
