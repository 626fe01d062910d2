"""`smsgw send`, `status`, `optout` and `inspect` with `streams.shards: 4` on a real redis-server:
each works on its recipient's shard (the engine's E.164 normalisation, then CRC-32 mod 4), and
with one shard every name and output is as before sharding."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
import yaml

from gateway.cli import main as cli
from gateway.store.shards import shard_index
from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 4
# valid UK mobiles (447911...) spread over the four shards
NUMBERS = [f"+4479111000{n:02d}" for n in range(12)]


def shard_of(number: str) -> int:
    return shard_index(number, SHARDS)


def write_config(tmp_path: Path, redis_server: RedisServer, shards: int) -> Path:
    config = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text(encoding="utf-8"))
    config["redis_url"] = redis_server.url
    config["streams"]["shards"] = shards
    config["compliance"]["config_dir"] = str(ROOT / "config")
    path = tmp_path / f"smsgw-{shards}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def sharded(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with `streams.shards: 4` on the test's Redis."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    return write_config(tmp_path, redis_server, SHARDS)


@pytest.fixture
def unsharded(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's config (one shard) on the test's Redis."""
    monkeypatch.delenv("SMSGW_REDIS_URL", raising=False)
    return write_config(tmp_path, redis_server, 1)


async def smsgw(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, str, str]:
    """Run `smsgw --config CONFIG ARGV...` (its own event loop, in a thread): exit code,
    stdout, stderr."""
    code = await asyncio.to_thread(cli.main, ["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def entries(client: aioredis.Redis, stream: str) -> list[dict[str, Any]]:
    found = cast(list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(stream))
    return [json.loads(fields[b"data"]) for _, fields in found]


def test_the_numbers_cover_several_shards() -> None:
    assert len({shard_of(n) for n in NUMBERS}) >= 3


async def test_send_puts_each_message_on_its_recipients_shard_stream(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    for n, number in enumerate(NUMBERS):
        code, out, _ = await smsgw(capsys, sharded, "send", "--to", number, "--text", "hi",
                                   "--id", f"m{n}")  # fmt: skip
        assert code == 0
        assert json.loads(out)["stream"] == f"{{smsgw:{shard_of(number)}}}:outbound"
    for k in range(SHARDS):
        landed = await entries(redis_client, f"{{smsgw:{k}}}:outbound")
        assert sorted(m["to"] for m in landed) == sorted(n for n in NUMBERS if shard_of(n) == k)
    assert not await redis_client.exists("smsgw:outbound")


async def test_send_picks_the_shard_of_the_number_as_the_engine_normalises_it(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """A national number with --country is placed by its E.164 digits, not as written."""
    national, e164 = "07911 123456", "447911123456"
    assert shard_of("07911123456") != shard_of(e164)  # else this test proves nothing
    code, out, _ = await smsgw(capsys, sharded, "send", "--to", national, "--country", "GB",
                               "--text", "hi", "--id", "national")  # fmt: skip
    assert code == 0
    stream = f"{{smsgw:{shard_of(e164)}}}:outbound"
    assert json.loads(out)["stream"] == stream
    assert [m["to"] for m in await entries(redis_client, stream)] == [national]


async def test_send_puts_an_unparseable_number_on_shard_0(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the engine rejects it with its reason (invalid_number)."""
    assert shard_of("+44123") != 0
    code, out, _ = await smsgw(capsys, sharded, "send", "--to", "+44123", "--text", "hi")
    assert code == 0
    assert json.loads(out)["stream"] == "{smsgw:0}:outbound"
    assert [m["to"] for m in await entries(redis_client, "{smsgw:0}:outbound")] == ["+44123"]


async def write_message(client: aioredis.Redis, shard: int, message_id: str, to: str) -> None:
    """A message's hash and history under shard `shard`, as the engine records them."""
    prefix = f"{{smsgw:{shard}}}:"
    event = {"id": message_id, "status": "delivered", "ts": "2026-12-02T06:21:18.870Z"}
    await client.hset(
        f"{prefix}msg:{message_id}",
        mapping={"status": "delivered", "to": to, "payload": "secret text"},
    )
    await client.rpush(f"{prefix}msg:{message_id}:history", json.dumps(event))


async def test_status_finds_a_message_in_its_shard(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    number = NUMBERS[0]
    await write_message(redis_client, shard_of(number), "order-9", number)
    code, out, err = await smsgw(capsys, sharded, "status", "order-9")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["shard"] == shard_of(number)
    assert shown["state"] == {"status": "delivered", "to": number}  # no payload echoed
    assert [h["status"] for h in shown["history"]] == ["delivered"]


async def test_status_of_an_id_in_two_shards_shows_the_lowest_and_to_picks_one(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """Idempotency holds within a shard: one id to two recipients of different shards is two
    messages."""
    low, high = sorted({shard_of(n): n for n in NUMBERS}.items())[:2]
    await write_message(redis_client, high[0], "twice", high[1])
    await write_message(redis_client, low[0], "twice", low[1])
    code, out, err = await smsgw(capsys, sharded, "status", "twice")
    assert code == 0
    assert json.loads(out)["state"]["to"] == low[1]
    assert f"also in shard(s) {high[0]}" in err
    code, out, err = await smsgw(capsys, sharded, "status", "twice", "--to", high[1])
    assert (code, err) == (0, "")
    assert json.loads(out)["state"]["to"] == high[1]


async def test_status_of_an_unknown_id_fails_after_looking_in_every_shard(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    await write_message(redis_client, 0, "other", NUMBERS[0])
    code, out, err = await smsgw(capsys, sharded, "status", "nope")
    assert (code, out) == (1, "")
    assert "no message with id 'nope'" in err


async def test_optout_writes_and_reads_the_recipients_shard_key(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    number = "+447911123456"
    key = f"{{smsgw:{shard_of(number)}}}:optout:{{447911123456}}"
    code, out, _ = await smsgw(capsys, sharded, "optout", "add", number)
    assert code == 0
    assert json.loads(out) == {"msisdn": "447911123456", "opted_out": True, "scope": "global"}
    assert await redis_client.hexists(key, "*")
    assert await redis_client.keys("smsgw:*") == []  # nothing under the unsharded prefix
    code, out, _ = await smsgw(capsys, sharded, "optout", "check", number)
    assert json.loads(out)["opted_out"] is True
    code, out, _ = await smsgw(capsys, sharded, "optout", "remove", number)
    assert json.loads(out)["opted_out"] is False
    assert not await redis_client.hexists(key, "*")


async def test_inspect_judges_the_opt_out_in_the_recipients_shard(
    sharded: Path, redis_client: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    number = "+447911200002"
    await redis_client.hset(f"{{smsgw:{shard_of(number)}}}:optout:{{447911200002}}", "*", 1)
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
