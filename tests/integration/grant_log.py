"""`GrantLog`: every grant of a RedisTokenBucket, read from Redis while traffic runs, so rate
tests count tokens per window of Redis time (the clock of the guarantee) instead of timing the
test process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from gateway.engine.runner import cancel_and_wait
from routing.throttle import RedisTokenBucket


class GrantLog:
    """Every grant the bucket's script made, on Redis' own clock (the clock of the guarantee).

    The script logs each grant in `key:window` (score = Redis TIME in us, member = "seq:count")
    and trims an entry only once it is a second old, so reading the log every few ms while
    traffic runs sees every grant; `complete` checks that none was missed. Counting tokens per
    window of Redis time makes the checks exact, whatever the load on the test process.
    """

    def __init__(self, client: aioredis.Redis | RedisCluster, key: str) -> None:
        self._client = client
        self._key = f"{key}:window"
        self.grants: dict[int, tuple[int, int]] = {}  # seq -> (Redis time in us, tokens)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> GrantLog:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Stopped by an event, not cancel(): on Python 3.11 a cancel landing as redis-py's
        # socket timeout expires can be turned into that timeout and lost, and the poll ran
        # on while this waited for it (a suite hung here until its hang guard fired).
        assert self._task is not None
        self._stop.set()
        await self._task
        await self._read()

    async def _poll(self) -> None:
        while not self._stop.is_set():
            await self._read()
            # a poll interval, far below the log's one second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.01)

    async def _read(self) -> None:
        # withscores=True gives (member, score) pairs; redis-py types every zrange reply alike
        grants = cast(
            list[tuple[bytes, float]],
            await self._client.zrange(self._key, 0, -1, withscores=True),
        )
        for member, score in grants:
            seq, count = member.decode().split(":")
            self.grants[int(seq)] = (int(score), int(count))

    def complete(self) -> bool:
        """True when every grant the script made was seen (its sequence numbers run 1..n)."""
        return sorted(self.grants) == list(range(1, len(self.grants) + 1))

    def tokens(self) -> int:
        return sum(count for _, count in self.grants.values())

    def most_in_window(self, width_us: int) -> int:
        """The most tokens granted within any `width_us` of Redis time."""
        return most_in_window([self], width_us)


def most_in_window(logs: Iterable[GrantLog], width_us: int) -> int:
    """The most tokens the buckets of `logs` granted together within any `width_us` of Redis
    time (on loopback every redis-server's TIME is the same clock)."""
    grants = sorted(grant for log in logs for grant in log.grants.values())
    best = total = start = 0
    for at, count in grants:
        total += count
        while at - grants[start][0] >= width_us:
            total -= grants[start][1]
            start += 1
        best = max(best, total)
    return best


async def drain_until(buckets: list[RedisTokenBucket], tokens: int, *, callers: int) -> list[int]:
    """Run `callers` acquiring callers per bucket until `tokens` were handed out in all (a
    count, not a duration; 30 s is only a hang guard). Returns the tokens each bucket gave."""
    got = [0] * len(buckets)
    enough = asyncio.Event()

    async def caller(index: int, bucket: RedisTokenBucket) -> None:
        while True:
            await bucket.acquire()
            got[index] += 1
            if sum(got) >= tokens:
                enough.set()

    tasks = [
        asyncio.create_task(caller(i, bucket))
        for i, bucket in enumerate(buckets)
        for _ in range(callers)
    ]
    try:
        async with asyncio.timeout(30):
            await enough.wait()
    finally:
        await cancel_and_wait(tasks)  # re-cancels a task whose cancel redis-py lost
    return got
