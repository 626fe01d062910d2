"""Key layout facts that Redis Cluster depends on."""

from __future__ import annotations

from redis.crc import key_slot

from gateway.config import StreamsConfig
from gateway.store.keys import Keys


def test_throttle_key_is_its_own_hash_tag_so_the_bucket_keys_share_a_slot() -> None:
    key = Keys(prefix="smsgw:", streams=StreamsConfig()).throttle("acme")
    assert key == "{smsgw:throttle:acme}"
    assert key_slot(f"{key}:window".encode()) == key_slot(key.encode())


def test_throttle_keys_of_different_carriers_are_different_tags() -> None:
    keys = Keys(prefix="smsgw:", streams=StreamsConfig())
    assert keys.throttle("a") != keys.throttle("b")
