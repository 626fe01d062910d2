"""What a dying Redis master (or server) raises becomes each layer's "unavailable" error, so the
engine leaves the work pending and retries; any other Redis error stays what it is (a bug)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from redis import exceptions as redis_errors

from gateway.errors import QueueUnavailableError
from gateway.store.state_store import map_redis_errors
from routing.errors import RoutingError, ThrottleUnavailableError
from routing.throttle import RedisTokenBucket

UNAVAILABLE = [
    redis_errors.ConnectionError("Connection refused"),
    redis_errors.TimeoutError("Timeout reading from socket"),
    redis_errors.BusyLoadingError("LOADING Redis is loading the dataset in memory"),
    redis_errors.ClusterDownError("CLUSTERDOWN The cluster is down"),
    redis_errors.MasterDownError("MASTERDOWN Link with MASTER is down"),
    redis_errors.ClusterError("TTL exhausted."),
    redis_errors.SlotNotCoveredError("Slot 7 is not covered by the cluster."),
    redis_errors.RedisClusterUnreachableError("no node of the cluster answered"),
    redis_errors.TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
]
NOT_UNAVAILABLE = [
    redis_errors.ResponseError("ERR Error running script: smsgw apply: unknown op"),
    redis_errors.RedisClusterException("EVALSHA - all keys must map to the same key slot"),
]


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_unavailable_errors_become_queue_unavailable(error: Exception) -> None:
    with pytest.raises(QueueUnavailableError, match="unavailable") as info, map_redis_errors():
        raise error
    assert info.value.__cause__ is error


@pytest.mark.parametrize("error", NOT_UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_other_errors_pass_through_the_queue_boundary(error: Exception) -> None:
    with pytest.raises(type(error)) as info, map_redis_errors():
        raise error
    assert info.value is error


class _FailingScript:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, keys: Sequence[str], args: Sequence[object]) -> object:
        raise self.error


class _FailingClient:
    """Stands in for a Redis client whose bucket script call fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def register_script(self, script: str) -> _FailingScript:
        return _FailingScript(self.error)


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: type(e).__name__)
async def test_unavailable_errors_become_throttle_unavailable(error: Exception) -> None:
    client = _FailingClient(error)
    bucket = RedisTokenBucket(client, "{smsgw:throttle:c}", rate=10, burst=2)  # type: ignore[arg-type]
    with pytest.raises(ThrottleUnavailableError, match="redis unavailable") as info:
        await asyncio.wait_for(bucket.acquire(), timeout=5)
    assert info.value.__cause__ is error
    await bucket.aclose()


async def test_a_script_error_is_a_routing_error_not_unavailable() -> None:
    error = NOT_UNAVAILABLE[0]
    bucket = RedisTokenBucket(_FailingClient(error), "{t}", rate=10, burst=2)  # type: ignore[arg-type]
    with pytest.raises(RoutingError) as info:
        await asyncio.wait_for(bucket.acquire(), timeout=5)
    assert not isinstance(info.value, ThrottleUnavailableError)
    await bucket.aclose()
