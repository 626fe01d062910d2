"""Which shard a recipient belongs to, and the names of a shard's keys and streams."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Settings, StreamsConfig
from gateway.store.shards import ShardMap, shard_index


def test_one_shard_on_a_single_redis_keeps_the_configured_names() -> None:
    shards = ShardMap.from_settings(Settings())
    assert len(shards) == 1
    assert not shards.sharded
    assert shards.of("+33612345678").prefix == "smsgw:"
    assert shards[0].streams.outbound == "smsgw:outbound"


def test_each_shard_tags_its_keys_and_streams_with_one_hash_tag() -> None:
    shards = ShardMap.from_settings(Settings(streams=StreamsConfig(shards=4)))
    assert [s.prefix for s in shards.shards] == [f"{{smsgw:{k}}}:" for k in range(4)]
    third = shards[2].streams
    assert (third.outbound, third.events, third.inbound, third.signals) == (
        "{smsgw:2}:outbound", "{smsgw:2}:events", "{smsgw:2}:inbound", "{smsgw:2}:signals",
    )  # fmt: skip


def test_redis_cluster_tags_names_even_with_one_shard() -> None:
    shards = ShardMap.from_settings(Settings(redis_cluster=True))
    assert shards.sharded
    assert shards[0].streams.outbound == "{smsgw:0}:outbound"


def test_a_recipients_shard_is_crc32_of_its_digits_modulo_the_shards() -> None:
    # the documented rule upstream apps follow: zlib/Java/Go CRC-32 of "33612345678"
    assert shard_index("+33612345678", 8) == zlib.crc32(b"33612345678") % 8
    assert shard_index("+33612345678", 1) == 0


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), st.integers(1, 64))
def test_the_shard_is_stable_and_in_range_with_or_without_the_plus(number: str, n: int) -> None:
    k = shard_index(number, n)
    assert 0 <= k < n
    assert k == shard_index(number.removeprefix("+"), n)
