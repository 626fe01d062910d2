"""`smsgw inspect` as a user runs it: a real process, a real redis-server, nothing sent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import redis.asyncio as aioredis

from tests.conftest import RedisServer


def run_cli(redis_url: str, *args: str) -> str:
    env = {**os.environ, "SMSGW_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return done.stdout


async def inspect(redis_url: str, *args: str) -> dict[str, Any]:
    output = await asyncio.to_thread(run_cli, redis_url, "inspect", "--json", *args)
    report: dict[str, Any] = json.loads(output)
    return report


async def test_inspect_shows_route_and_verdict_and_consumes_nothing(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    report = await inspect(redis_server.url, "--text", "Your code is 1234",
                           "--to", "+447911200001", "--from", "Acme")  # fmt: skip
    assert report["encoding"] == "gsm7"
    assert report["compliance"]["outcome"] == "allow"
    assert report["compliance"]["destination_addr"] == "447911200001"
    assert report["compliance"]["source_addr_ton"] == 5  # alphanumeric sender
    assert report["route"] == {"carriers": ["sim"], "error": None}
    assert await redis_client.dbsize() == 0  # a dry run: no cap counted, nothing queued


async def test_inspect_shows_an_opt_out_verdict_for_marketing(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    await asyncio.to_thread(run_cli, redis_server.url, "optout", "add", "+447911200002")
    report = await inspect(redis_server.url, "--text", "Sale! Reply STOP to opt out",
                           "--to", "+447911200002", "--from", "Acme",
                           "--category", "marketing")  # fmt: skip
    assert report["compliance"]["outcome"] == "suppress"
    assert report["compliance"]["reason"] == "opted_out"


async def test_inspect_without_redis_still_gives_encoding_and_route() -> None:
    report = await inspect("redis://127.0.0.1:1/0", "--text", "hello",
                           "--to", "+447911200003", "--from", "Acme")  # fmt: skip
    assert report["segments"] == 1
    assert "unavailable" in report["compliance"]["error"]
    assert report["route"]["carriers"] == ["sim"]


async def test_inspect_json_shows_the_grapheme_safe_split_and_the_smart_decision() -> None:
    """Issue 13: the dry run shows where each part is cut (a flag stays whole) and why smart
    encoding did or did not change the text."""
    flag = "\U0001f1eb\U0001f1f7"  # one grapheme cluster (UAX #29 GB12)
    text = "ж" * 66 + flag + " “ok”"
    report = await inspect("redis://127.0.0.1:1/0", "--text", text, "--to", "+447911200003",
                           "--from", "Acme", "--smart")  # fmt: skip
    assert [part["text"] for part in report["parts"]] == ["ж" * 66, flag + " “ok”"]
    assert report["grapheme_split"]["cluster_safe"] is True
    smart = report["smart_encoding"]
    assert (smart["enabled"], smart["applied"], smart["decision"]) == (True, False, "not_gsm7")
    assert smart["mode"] == "gsm7_only"
    assert smart["reason"]
