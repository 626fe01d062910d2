"""A recipient's shard as the CLI picks it (gateway/cli/recipient_shard.py): the engine's number
parser first, then the CRC-32 of the E.164 digits."""

from __future__ import annotations

from compliance.numbers import NumberParser
from gateway.cli.recipient_shard import shard_of_number, shard_settings
from gateway.config import Settings, StreamsConfig
from gateway.store.shards import ShardMap, shard_index

SHARDS = ShardMap.from_settings(Settings(streams=StreamsConfig(shards=4)))


def test_a_national_number_is_placed_by_its_e164_digits() -> None:
    numbers = NumberParser(default_region="GB", cache_size=8)
    expected = shard_index("447911123456", 4)
    assert shard_of_number(SHARDS, numbers, "07911 123456").index == expected
    assert shard_of_number(SHARDS, numbers, "0612345678", "FR").index == shard_index(
        "33612345678", 4
    )


def test_a_number_that_does_not_parse_goes_to_shard_0() -> None:
    numbers = NumberParser(default_region=None, cache_size=8)
    assert shard_index("44123", 4) != 0
    assert shard_of_number(SHARDS, numbers, "+44123").index == 0
    assert shard_of_number(SHARDS, numbers, "not a number").index == 0


def test_shard_settings_key_the_compliance_state_under_the_shards_prefix() -> None:
    settings = Settings(streams=StreamsConfig(shards=4))
    assert shard_settings(settings, SHARDS[3]).key_prefix == "{smsgw:3}:"
    one = Settings()
    assert shard_settings(one, ShardMap.from_settings(one)[0]) is one
