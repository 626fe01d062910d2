"""The redis-py errors that mean "Redis cannot answer now", on one server or on a Cluster.

Each package translates them at its boundary into its own "unavailable" error
(`QueueUnavailableError`, `ThrottleUnavailableError`, `ComplianceStoreError`), and its callers
leave the work pending and try again later. Any other redis-py error is a bug or a refused
command, and is not in this list: a script error, or a `RedisClusterException` such as "all
keys must map to the same key slot" (which is not even a `RedisError`).

What redis-py's asyncio cluster client raises while a master dies and its replica takes over
(it retries each of them itself first, refreshing the slot map):

- `ConnectionError`, `TimeoutError`: the dead master's socket (also `BusyLoadingError`, a node
  still loading its AOF after a restart, and `MaxConnectionsError`, a node's pool exhausted);
- `ClusterDownError` (CLUSTERDOWN, the slot has no master until the failover ends) and its
  subclass `MasterDownError`, both `ClusterError`s, as is the "TTL exhausted" error after too
  many MOVED/ASK/TRYAGAIN redirects in a row (a slot migrating or moving back and forth);
- `SlotNotCoveredError`: the client's slot map has no node for the slot;
- `RedisClusterUnreachableError`: a topology refresh reached no node at all;
- `TryAgainError` (TRYAGAIN, a multi-key command during a slot migration), which the client
  retries within its redirect budget but a pipeline may hand back.
"""

from __future__ import annotations

from typing import Final

from redis import exceptions

REDIS_UNAVAILABLE: Final[tuple[type[Exception], ...]] = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.ClusterError,
    exceptions.SlotNotCoveredError,
    exceptions.RedisClusterUnreachableError,
    exceptions.TryAgainError,
)
"""Catch these (`except REDIS_UNAVAILABLE`) to treat Redis as down for now."""
