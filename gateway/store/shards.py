"""Shards: the keys and streams a message lives under, picked by its recipient.

With `streams.shards: 1` on a single Redis (the default) there is one shard, and every name is
as it always was: keys under `key_prefix`, streams as configured. With N > 1 shards, or on Redis
Cluster (`redis_cluster: true`), shard k's keys and streams all start with the hash tag
`{<key_prefix><k>}`, so each Lua call, which is about the recipients of one shard, touches one
cluster slot:

| | one shard | shard k (tagged) |
|---|---|---|
| a message's hash | `smsgw:msg:<id>` | `{smsgw:k}:msg:<id>` |
| opt-outs (compliance) | `smsgw:optout:{<msisdn>}` | `{smsgw:k}:optout:{<msisdn>}` |
| outbound stream | `smsgw:outbound` | `{smsgw:k}:outbound` |
| events, inbound, signals | `smsgw:events`, ... | `{smsgw:k}:events`, ... |

A tagged stream is named by the configured name less `key_prefix` (`smsgw:outbound` ->
`outbound`). Redis hashes only the first `{...}` of a key, so a compliance key's own
`{<msisdn>}` does not split a shard.

A recipient's shard is the CRC-32 (IEEE 802.3, as zlib, Java's CRC32 and Go's
crc32.ChecksumIEEE compute it) of its E.164 digits without '+', modulo the number of shards:
upstream apps pick the outbound stream the same way (README, "Scaling out"). Keys that are not
a recipient's (a carrier's token bucket) stay under `key_prefix` in a hash tag of their own.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

from gateway.config import Settings, StreamsConfig


def shard_index(number: str, shards: int) -> int:
    """The shard of an E.164 number (`+33612345678` or `33612345678`) among `shards`."""
    if shards <= 1:
        return 0
    return zlib.crc32(number.lstrip("+").encode("ascii", "replace")) % shards


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard: its index, the prefix of its keys, and its four streams."""

    index: int
    prefix: str
    streams: StreamsConfig


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Every shard of a deployment, and which one a recipient belongs to."""

    shards: tuple[Shard, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> ShardMap:
        count = settings.streams.shards
        prefix, streams = settings.key_prefix, settings.streams
        if count == 1 and not settings.redis_cluster:
            return cls((Shard(0, prefix, streams),))
        return cls(tuple(_tagged(prefix, streams, k) for k in range(count)))

    @property
    def sharded(self) -> bool:
        """True when names carry a shard's hash tag (more than one shard, or Redis Cluster)."""
        return self.shards[0].prefix.startswith("{")

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, index: int) -> Shard:
        return self.shards[index]

    def of(self, number: str) -> Shard:
        """The shard of the recipient (or MO sender) `number`, E.164 with or without '+'."""
        return self.shards[shard_index(number, len(self.shards))]


def _tagged(prefix: str, streams: StreamsConfig, index: int) -> Shard:
    tag = f"{{{prefix}{index}}}:"

    def name(configured: str) -> str:
        return tag + configured.removeprefix(prefix)

    return Shard(
        index,
        tag,
        dataclasses.replace(
            streams,
            outbound=name(streams.outbound),
            events=name(streams.events),
            inbound=name(streams.inbound),
            signals=name(streams.signals),
        ),
    )
