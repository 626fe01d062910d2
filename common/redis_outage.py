"""An outage of Redis, logged once as it starts and once as it ends.

While Redis (or, on a cluster, the master of one shard's slot) is down, every task and every
message under work fails its calls: logging each failure would write a line per message per
retry. `RedisOutages` writes `redis_unavailable` at the first failure of a scope (a shard) and
`redis_available` when a call of that scope succeeds again, with how long it lasted and how
many failures it swallowed; each failure is still counted, and logged at debug level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("smsgw.redis")


@dataclass(slots=True)
class _Outage:
    since: float
    failures: int


class RedisOutages:
    """The outages under way, by scope (a shard's index; 0 with one shard)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: dict[Hashable, _Outage] = {}

    def failed(self, scope: Hashable, where: str, error: BaseException, count: int = 1) -> None:
        """`count` calls (or messages) of `scope` failed in `where` because Redis is down."""
        outage = self._open.get(scope)
        if outage is None:
            self._open[scope] = _Outage(self._clock(), count)
            log.warning("redis_unavailable", shard=scope, where=where, error=str(error))
        else:
            outage.failures += count
            log.debug("redis_still_unavailable", shard=scope, where=where, error=str(error))

    def succeeded(self, scope: Hashable) -> None:
        """A call of `scope` went through: an outage under way has ended."""
        if not self._open:
            return
        outage = self._open.pop(scope, None)
        if outage is not None:
            log.warning(  # as loud as its start: a `warning` filter sees both
                "redis_available",
                shard=scope,
                down_seconds=round(self._clock() - outage.since, 3),
                failures=outage.failures,
            )

    def down(self) -> list[Hashable]:
        """The scopes whose outage has not ended."""
        return list(self._open)
