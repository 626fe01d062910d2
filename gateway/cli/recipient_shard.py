"""The shard of a recipient, for the commands that write or read its streams and keys (`send`,
`status --to`, `optout`, `inspect`).

A recipient is normalised by the engine's own number parser (the compliance policy's
`NumberParser`, with the configured default region and the message's country hint), then
placed by gateway/store/shards.py's CRC-32 of its E.164 digits, so a command puts and finds
things where `smsgw run` does. A number that does not parse goes to shard 0, where the engine
rejects it with its reason (`invalid_number`). With one shard nothing is parsed: every name is
the configured one, as before sharding.
"""

from __future__ import annotations

import dataclasses

from compliance.numbers import Destination, NumberParser
from gateway.config import Settings
from gateway.engine.compliance_wiring import build_policy
from gateway.store.redis_client import RedisClient
from gateway.store.shards import Shard, ShardMap


def recipient_shard(
    settings: Settings, client: RedisClient, to: str, hint: str | None = None
) -> Shard:
    """The shard of recipient `to` (E.164, or national with the ISO country `hint`).

    Raises:
        ConfigError: more than one shard, and the compliance config (which holds the default
            region national numbers are read in) is missing or malformed.
    """
    shards = ShardMap.from_settings(settings)
    if len(shards) == 1:
        return shards[0]
    return shard_of_number(shards, build_policy(settings, client).numbers, to, hint)


def shard_of_number(
    shards: ShardMap, numbers: NumberParser, to: str, hint: str | None = None
) -> Shard:
    """The shard of `to` as `numbers` normalises it; shard 0 when it is not a valid number."""
    parsed = numbers.parse(to, hint)
    return shards.of(parsed.e164) if isinstance(parsed, Destination) else shards[0]


def shard_settings(settings: Settings, shard: Shard) -> Settings:
    """`settings` with `shard`'s key prefix, for `build_policy`, which keeps the compliance
    state (opt-outs, suppression, caps) under `settings.key_prefix`."""
    if shard.prefix == settings.key_prefix:
        return settings
    return dataclasses.replace(settings, key_prefix=shard.prefix)
