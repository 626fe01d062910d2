"""The compliance store's cluster helpers, without a server: slot grouping, error mapping."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_errors
from redis.crc import key_slot

from compliance.errors import ComplianceStoreError
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import map_redis_errors, slot_groups

KEYS = ComplianceKeys("smsgw:")


def test_slot_groups_keep_positions_in_order_and_one_recipient_together() -> None:
    msisdns = ["33612345601", "33612345602", "33612345601", "33612345603", "33612345602"]
    groups = slot_groups(KEYS.opt_out(m) for m in msisdns)
    assert groups == [[0, 2], [1, 4], [3]]
    for group in groups:
        assert len({key_slot(KEYS.caps(msisdns[i]).encode()) for i in group}) == 1


def test_slot_groups_of_nothing_is_empty() -> None:
    assert slot_groups([]) == []


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (redis_errors.ClusterDownError("CLUSTERDOWN The cluster is down"), "unavailable"),
        (redis_errors.SlotNotCoveredError("slot 7 is not covered"), "unavailable"),
        (redis_errors.ConnectionError("refused"), "unavailable"),
        (redis_errors.RedisClusterException("all keys must map to one slot"), "refused"),
        (redis_errors.ResponseError("ERR bad script"), "refused"),
    ],
)
def test_cluster_errors_become_compliance_store_errors(error: Exception, message: str) -> None:
    with pytest.raises(ComplianceStoreError, match=message), map_redis_errors():
        raise error
