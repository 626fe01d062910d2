"""`smsgw inspect` as a user runs it: a real process, a real redis-server, nothing sent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]


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


async def inspect(redis_url: str, *args: str, config: Path | None = None) -> dict[str, Any]:
    first = ["--config", str(config)] if config is not None else []
    output = await asyncio.to_thread(run_cli, redis_url, *first, "inspect", "--json", *args)
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
    # the engine's own plan (gateway/engine/plan.py), as `smsgw run` would take it
    assert report["plan"] == {"decision": "send", "reason": None, "carrier": "sim",
                              "encoding": "gsm7", "parts": 1}  # fmt: skip
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
    assert report["plan"]["decision"] == "suppressed"


async def test_inspect_without_redis_still_gives_encoding_and_route() -> None:
    report = await inspect("redis://127.0.0.1:1/0", "--text", "hello",
                           "--to", "+447911200003", "--from", "Acme")  # fmt: skip
    assert report["segments"] == 1
    assert "unavailable" in report["compliance"]["error"]
    assert report["route"]["carriers"] == ["sim"]


async def test_inspect_shows_the_senders_ton_npi_and_registration(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """Issue 13: `inspect --json` says how the sender goes into submit_sm. A Korean
    national-format number is TON 2 / NPI 1 (not TON 1, which would make it +1 588 1234);
    an unregistered US 10DLC number is refused `sender_not_registered` and its addressing
    is still shown."""
    korea = await inspect(redis_server.url, "--text", "hello", "--to", "+821012345678",
                          "--from", "15881234")  # fmt: skip
    assert korea["sender"] == {
        "source_addr": "15881234", "ton": 2, "ton_name": "national", "npi": 1,
        "npi_name": "isdn", "kind": "long_code", "program": "ten_dlc", "country": "KR",
    }  # fmt: skip
    assert korea["compliance"]["source_addr_ton"] == 2
    us = await inspect(redis_server.url, "--text", "hello", "--to", "+14155552671",
                       "--from", "+14155550100")  # fmt: skip
    assert us["compliance"]["reason"] == "sender_not_registered"
    assert "not registered on carrier sim" in us["compliance"]["detail"]
    assert (us["sender"]["ton"], us["sender"]["npi"], us["sender"]["program"]) == (1, 1, "ten_dlc")


async def test_inspect_shows_the_territory_rule_and_the_quiet_hours_zone(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Puerto Rico follows US rules (47 U.S.C. §153(57)); its quiet hours are judged in
    America/Puerto_Rico. Allowed or deferred depends on the clock; the zone does not."""
    config = yaml.safe_load((ROOT / "config" / "smsgw.yaml").read_text())
    config["compliance"] = {"config_dir": str(ROOT / "config")}
    config["carriers"][0]["registered_senders"] = {"ten_dlc": ["+17875550100"]}  # as US needs
    path = tmp_path / "smsgw.yaml"
    path.write_text(yaml.safe_dump(config))
    report = await inspect(redis_server.url, "--text", "Sale today",
                           "--to", "+17872345678", "--from", "+17875550100",
                           "--category", "marketing", config=path)  # fmt: skip
    assert report["compliance"]["country"] == "US"
    assert report["compliance"]["outcome"] in {"allow", "defer"}
    assert report["compliance"]["quiet_hours"] == {
        "zones": ["America/Puerto_Rico"],
        "primary_zone_fallback": False,
        "fallbacks": [],
    }
    otp = await inspect(redis_server.url, "--text", "Code 1234", "--to", "+17872345678",
                        "--from", "+17875550100", "--category", "otp", config=path)  # fmt: skip
    assert otp["compliance"]["quiet_hours"] is None  # only marketing has quiet hours


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
