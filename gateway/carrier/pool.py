"""The configured carriers at run time: their binds, encoding profile, retry policy and rate.

A carrier is available while at least one of its binds is bound; submits go to the bound bind
with the fewest requests in flight, so several binds share a carrier's load and a bind that is
down takes no traffic.

The carrier's rate (`CarrierRate`) is one Redis token bucket per carrier, shared by all its binds
and all smsgw instances, under an adaptive (AIMD, routing.adaptive) layer that backs off on
ESME_RTHROTTLED / ESME_RMSGQFUL. With a configured `tps` the bucket is always on. With `tps: 0`
the carrier is unlimited until it throttles: its first throttle answer starts an episode, a
bucket on the same Redis key at the rate the carrier accepted over the last second (measured
from this instance's binds) cut by half, recovering additively; once the rate is back at
twice that rate with no throttle answer since, the carrier is unlimited again.

In an episode the binds' send gate paces submits that passed `acquire` while the carrier was
still unlimited (they wait in their window slot for a token), so one window of submits at
most is refused when the carrier starts throttling, not every message read ahead. Submits
that got their tokens from `acquire` pass the gate at once (`_prepaid`).

On Redis Cluster a tick's admit call (gateway/engine/admission.py) may touch only its shard's
slot, which the carrier's bucket is not in. So there a configured `tps` is split (`shards` >
0): half of it stays in the carrier's bucket, and each shard has a bucket of its own under its
hash tag (`Keys.shard_throttle`) holding an equal share of the other half, which the shard's
admit call grants from in the same call, as the carrier's bucket is granted from on one Redis.
A message its shard's bucket cannot take now takes the usual way: the carrier's bucket, which
is what a busy shard borrows from. The buckets' rates add up to `tps` (each bucket's window
limit is at most its rate), so the carrier's rate holds as exactly as with one bucket; what
the split costs is skew: one shard alone can send at most half the rate plus its share. An
adaptive cut lowers every part in proportion. A carrier whose shares would be below
`MIN_SHARD_TPS` is not split (its bucket takes all of `tps`, granted before the admit call,
gateway/engine/admission.py), nor is one without `tps`. A shard's bucket holds ~250 ms of its
tokens, and the admit call takes what it has for the first messages of the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import structlog

from compliance.encoding import Encoding, EncodingProfile
from gateway.carrier.bind import Bind, BindListener, BindSettings, DeliveryHandler
from gateway.config import CarrierConfig, RetryConfig
from gateway.store.keys import Keys
from gateway.store.redis_client import RedisClient
from routing.adaptive import RateMeter
from routing.retry import RetryPolicy, retry_policy_from_mapping
from routing.throttle import AdaptiveRate, RedisTokenBucket

log = structlog.get_logger()


def encoding_profile(config: CarrierConfig) -> EncodingProfile:
    """The carrier's EncodingProfile from its `encoding` config block."""
    e = config.encoding
    return EncodingProfile(
        gsm7_packed=e.gsm7_packed,
        national_languages=frozenset(e.national_languages),
        allow_latin1=e.allow_latin1,
        smart_encoding=e.smart_encoding,
        smart_encoding_mode=e.smart_encoding_mode,
        concatenation=e.concatenation,
        reference_bits=e.reference_bits,
        max_parts=e.max_parts,
        default_alphabet=Encoding(e.default_alphabet),
    )


def retry_policy(config: RetryConfig, path: str) -> RetryPolicy:
    """A RetryPolicy from a `retry` config block (status lists by name or number)."""
    data: dict[str, object] = {
        "max_attempts": config.max_attempts,
        "initial_delay": config.initial_delay,
        "max_delay": config.max_delay,
        "multiplier": config.multiplier,
    }
    for name in ("transient", "throttle", "failover"):
        value = getattr(config, name)
        if value is not None:
            data[name] = list(value)
    return retry_policy_from_mapping(data, path)


def bind_settings(config: CarrierConfig) -> BindSettings:
    tls: ssl.SSLContext | None = None
    if config.tls:
        tls = ssl.create_default_context()
        if not config.tls_verify:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    return BindSettings(
        host=config.host,
        port=config.port,
        system_id=config.system_id,
        password=config.password,
        system_type=config.system_type,
        bind_type=config.bind_type,
        window=config.window,
        response_timeout=config.response_timeout,
        enquire_link_interval=config.enquire_link_interval,
        reconnect_max=config.reconnect_max,
        tls=tls,
    )


UNPACED: Final = 1 << 30  # the grant cap of a carrier nothing paces
SHARDS_SHARE: Final = 0.5  # on a cluster: the part of a carrier's tps its shards' buckets hold
# the least TPS a shard's bucket is given: below it, each shard's ticks come too far apart for
# its few tokens (a shard's bucket holds ~250 ms of them), so much of its share would be left
# unused while its messages wait for the carrier's bucket; then there is no split
MIN_SHARD_TPS: Final = 20.0


@dataclass(frozen=True, slots=True)
class ShardRate:
    """On a cluster, each shard's own bucket of a carrier (see the module docstring): its
    rate (TPS), its burst, and the most parts one admit call may take from it."""

    rate: float
    burst: int
    cap: int

    @classmethod
    def of(cls, rate: float) -> ShardRate | None:
        """The shard bucket for `rate`: ~250 ms of tokens a grant (a carrier's bucket has
        ~100 ms: a shard's ticks come further apart, and what its bucket cannot hold meanwhile
        is lost to it); None below 1 TPS (an adaptive cut that deep), which the script's
        window limit would round up."""
        whole = math.floor(rate + 1e-9)
        if whole < 1:
            return None
        burst = max(1, int(rate / 4))
        return cls(rate, burst, min(burst, whole))


@dataclass(slots=True)
class Pacing:
    """How a tick's admit call may take a carrier's rate (gateway/engine/admission.py): from
    `bucket` (None: nothing paces the carrier), at most `cap` submits per call; on a cluster,
    from the admitted shard's own bucket when `shard` is set (then `bucket` is only the way
    of those it cannot take).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    bucket: RedisTokenBucket | None
    cap: int
    shard: ShardRate | None = None


class CarrierRate:
    """One carrier's send rate in this instance: see the module docstring.

    Args:
        redis: the client for the shared bucket.
        key: the carrier's Redis throttle key (gateway.store.keys).
        tps: the configured TPS; 0 = unlimited until the carrier throttles.
        carrier: the carrier's name, for logs.
        shards: on a cluster, the number of shards, whose own buckets take `SHARDS_SHARE`
            of `tps` (see the module docstring) when each gets `MIN_SHARD_TPS` at least; 0
            (or a share below that): the carrier's bucket takes it all.

    `attach` then gives it the carrier's binds, whose accepted submits measure the rate.
    """

    __slots__ = (
        "_adaptive", "_binds", "_carrier", "_episode", "_key", "_meter", "_prepaid", "_redis",
        "_shard", "_shard_factor", "bucket", "paced",
    )  # fmt: skip

    def __init__(
        self, redis: RedisClient, key: str, tps: float, *, carrier: str = "", shards: int = 0
    ) -> None:
        self._redis = redis
        self._key = key
        self._carrier = carrier
        self.bucket: RedisTokenBucket | None = None
        split = shards > 0 and tps * SHARDS_SHARE / shards >= MIN_SHARD_TPS
        # a shard's bucket's rate per TPS of the carrier's bucket (0: no shard buckets)
        self._shard_factor = SHARDS_SHARE / (1 - SHARDS_SHARE) / shards if split else 0.0
        self._shard: ShardRate | None = None  # the last one, kept while the rate holds
        if tps > 0:
            own = tps * (1 - SHARDS_SHARE) if split else tps
            self.bucket = _bucket(redis, key, AdaptiveRate(max_rate=own))
        self._episode: RedisTokenBucket | None = None  # tps 0: the bucket while throttled
        self._adaptive: AdaptiveRate | None = None  # and its rate
        self._meter = RateMeter()
        self._prepaid = 0  # tokens granted by `acquire` in this episode, not yet sent
        self._binds: tuple[Bind, ...] = ()
        self.paced = False  # SendGate: True during an episode

    def attach(self, binds: list[Bind]) -> None:
        """The binds whose accepted submits measure the rate (and that use this gate)."""
        self._binds = tuple(binds)

    @property
    def limited(self) -> bool:
        """Whether a bucket paces this carrier now (configured `tps`, or an episode)."""
        return self.bucket is not None or self._episode is not None

    async def acquire(self, tokens: int) -> None:
        """Wait for `tokens` submits' worth of the carrier's shared rate."""
        bucket = self.bucket
        if bucket is None:
            now = asyncio.get_running_loop().time()
            episode, adaptive = self._episode, self._adaptive
            if episode is None or adaptive is None:
                if self._meter.due(now):
                    self._meter.sample(now, self._accepted())
                return
            if adaptive.recovered(now):
                self._end_episode()
                return
            bucket = episode
        while tokens > 0:
            chunk = min(tokens, bucket.max_acquire)
            await bucket.acquire(chunk)
            tokens -= chunk
            if bucket is self._episode:
                self._prepaid += chunk

    def pacing(self) -> Pacing | None:
        """How a tick's admit call may take this rate itself (gateway/engine/admission.py):
        from the configured bucket when no caller waits for it, or with no grant at all when
        nothing paces the carrier; None during an adaptive episode (the usual way)."""
        bucket = self.bucket
        if bucket is not None:
            shard = self._shard_rate(bucket) if self._shard_factor else None
            if shard is not None:  # the shard's bucket: it has no waiters to jump
                return Pacing(bucket, shard.cap, shard)
            return Pacing(bucket, bucket.max_acquire) if bucket.idle else None
        if self._episode is not None:
            return None
        now = asyncio.get_running_loop().time()
        if self._meter.due(now):
            self._meter.sample(now, self._accepted())
        return Pacing(None, UNPACED)

    def _shard_rate(self, bucket: RedisTokenBucket) -> ShardRate | None:
        """Each shard's bucket now: its share of the rate, cut as the carrier's is."""
        rate = bucket.effective_rate() * self._shard_factor
        shard = self._shard
        if shard is None or shard.rate != rate:
            shard = self._shard = ShardRate.of(rate)
        return shard

    def throttled(self) -> None:
        """The carrier answered ESME_RTHROTTLED / ESME_RMSGQFUL: cut the shared rate (AIMD);
        without a configured `tps`, the first such answer starts an episode."""
        bucket = self.bucket or self._episode
        if bucket is not None:
            bucket.on_throttled()
            return
        now = asyncio.get_running_loop().time()
        observed = self._meter.rate(now, self._accepted())
        self._adaptive = adaptive = AdaptiveRate.after_throttle(observed, now)
        self._episode = _bucket(self._redis, self._key, adaptive)
        self._prepaid = 0
        self.paced = True
        log.info("carrier_rate_adaptive", carrier=self._carrier, observed_tps=round(observed, 1),
                 tps=round(adaptive.rate(now), 1))  # fmt: skip

    def grant_size(self) -> int | None:
        """See Carrier.grant_size."""
        bucket = self.bucket or self._episode
        return bucket.max_acquire if bucket is not None else None

    def retry_pause(self, round_: int) -> float:
        """Seconds a throttled submit waits before its next round: none while a bucket paces
        the carrier (the next `acquire` waits its turn), else a backoff (50 ms doubling, 1 s
        at most)."""
        if self.limited:
            return 0.0
        return min(1.0, 0.05 * 2.0 ** min(round_, 5))

    async def admit(self) -> None:
        """SendGate: a submit in its window slot during an episode spends its prepaid token,
        or waits for one."""
        if self._prepaid > 0:
            self._prepaid -= 1
            return
        episode = self._episode
        if episode is not None:
            await episode.acquire(1)

    async def aclose(self) -> None:
        for bucket in (self.bucket, self._episode):
            if bucket is not None:
                await bucket.aclose()

    def _end_episode(self) -> None:
        self._episode = self._adaptive = None
        self._prepaid = 0
        self.paced = False
        self._meter = RateMeter()  # measure afresh: the episode's rate is not the carrier's
        log.info("carrier_rate_unlimited", carrier=self._carrier)

    def _accepted(self) -> int:
        return sum(bind.submits_accepted for bind in self._binds)


def _bucket(redis: RedisClient, key: str, adaptive: AdaptiveRate) -> RedisTokenBucket:
    # Each Redis call reserves up to ~100 ms worth of tokens for this instance.
    rate = adaptive.max_rate
    return RedisTokenBucket(redis, key, rate=rate, burst=max(1, int(rate / 10)), adaptive=adaptive)


@dataclass(slots=True)
class Carrier:
    """One carrier's run-time pieces."""

    config: CarrierConfig
    binds: list[Bind]
    profile: EncodingProfile
    retry: RetryPolicy
    rate: CarrierRate
    _turn: int = field(default=0, init=False, repr=False)  # bind_for: where equals start

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        return any(b.is_bound for b in self.binds)

    def pick_bind(self) -> Bind | None:
        """The bound bind with the fewest requests in flight, or None."""
        return self._least_busy(0)[0]

    def bind_for(self, parts: int, current: Bind | None) -> Bind | None:
        """The bind for a tick's next message of `parts` parts, `current` the one its last
        message went to: that one while its window has room for them, so a tick's submits
        leave in one write and come back in one read (spread part by part, each bind cost a
        write and a read per tick); else the bound bind with the fewest in flight, equals in
        turn, so that light traffic, whose binds are all idle at each tick, still uses every
        bind (a carrier may cap each bind's rate). None: no bind is bound."""
        if current is not None and current.is_bound and current.window_room >= parts:
            return current
        best, at = self._least_busy(self._turn)
        if best is not None:
            self._turn = (at + 1) % len(self.binds)
        return best

    def _least_busy(self, start: int) -> tuple[Bind | None, int]:
        """The bound bind with the fewest in flight and its index, looking from `start` round
        the list (the first of equals found wins)."""
        best: Bind | None = None
        at = 0
        count = len(self.binds)
        for step in range(count):
            index = (start + step) % count
            bind = self.binds[index]
            if bind.is_bound and (best is None or bind.in_flight < best.in_flight):
                best, at = bind, index
        return best, at

    async def acquire(self, tokens: int) -> None:
        """Wait for `tokens` submits' worth of the carrier's shared rate."""
        await self.rate.acquire(tokens)

    def grant_size(self) -> int | None:
        """The most submits one grant of the carrier's rate covers, or None while nothing
        paces it: a batch is granted, marked and sent a grant at a time, so its submits go
        out as the rate allows, not in one burst once the last grant came."""
        return self.rate.grant_size()

    def throttled(self) -> None:
        """The carrier answered ESME_RTHROTTLED / ESME_RMSGQFUL: cut the shared rate (AIMD)."""
        self.rate.throttled()

    def retry_pause(self, round_: int) -> float:
        """Seconds before a throttled submit's next round (0 while a bucket paces it)."""
        return self.rate.retry_pause(round_)


class CarrierPool:
    """All carriers, built from config; `start()` begins binding."""

    def __init__(
        self,
        configs: tuple[CarrierConfig, ...],
        default_retry: RetryConfig,
        *,
        redis: RedisClient,
        keys: Keys,
        delivery_handler: Callable[[str], DeliveryHandler],
        listener: Callable[[str, int], BindListener | None],
        rng: random.Random,
        shards: int = 0,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._shards = shards  # on a cluster, the shards whose own buckets share a carrier's tps
        self._delivery_handler = delivery_handler
        self._listener = listener
        self._rng = rng
        self._default_retry = default_retry
        self._carriers: dict[str, Carrier] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        for i, config in enumerate(configs):
            self._carriers[config.name] = self._build(i, config)

    def _build(self, index: int, config: CarrierConfig) -> Carrier:
        settings = bind_settings(config)
        key = self._keys.throttle(config.name)
        rate = CarrierRate(self._redis, key, config.tps, carrier=config.name, shards=self._shards)
        binds = [
            Bind(
                settings,
                name=f"{config.name}#{n}",
                on_delivery=self._delivery_handler(config.name),
                listener=self._listener(config.name, n),
                rng=random.Random(self._rng.random()),
                send_gate=rate,
            )
            for n in range(config.binds)
        ]
        rate.attach(binds)
        policy = retry_policy(config.retry or self._default_retry, f"carriers[{index}].retry")
        return Carrier(config, binds, encoding_profile(config), policy, rate)

    async def reload(
        self,
        configs: tuple[CarrierConfig, ...],
        default_retry: RetryConfig,
        *,
        bind_wait: float,
        drain_seconds: float,
    ) -> dict[str, list[str]]:
        """Apply a new carrier list without dropping in-flight work.

        Unchanged carriers keep their binds. A new or changed carrier is built and started,
        and takes over once one of its binds is up (or after `bind_wait` seconds); the carrier
        it replaces, like a removed one, stops taking new submits and is drained and unbound
        in the background (`drain_seconds`), so submits already on its binds get their
        responses. A submit that finds a retiring bind closed fails over as "not sent".

        Returns:
            The carrier names under "added", "changed", "removed" and "unchanged".
        """
        self._default_retry = default_retry
        summary: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "unchanged": []}
        fresh: dict[str, Carrier] = {}
        for index, config in enumerate(configs):
            current = self._carriers.get(config.name)
            if current is not None and current.config == config:
                fresh[config.name] = current
                summary["unchanged"].append(config.name)
                continue
            fresh[config.name] = carrier = self._build(index, config)
            summary["changed" if current is not None else "added"].append(config.name)
            for bind in carrier.binds:
                bind.start()
        started = [fresh[name] for name in summary["added"] + summary["changed"]]
        await _wait_any_bound(started, bind_wait)
        retired = [c for name, c in self._carriers.items() if fresh.get(name) is not c]
        summary["removed"] = [c.name for c in retired if c.name not in fresh]
        self._carriers = fresh
        for carrier in retired:
            task = asyncio.get_running_loop().create_task(_retire(carrier, drain_seconds))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return summary

    def __iter__(self) -> Iterator[Carrier]:
        return iter(self._carriers.values())

    def get(self, name: str) -> Carrier:
        return self._carriers[name]

    def is_available(self, name: str) -> bool:
        carrier = self._carriers.get(name)
        return carrier is not None and carrier.available

    def start(self) -> None:
        for carrier in self:
            for bind in carrier.binds:
                bind.start()

    def refuse_requests(self) -> None:
        """Every bind stops sending: what waits for a window slot fails with NotBoundError."""
        for carrier in self:
            for bind in carrier.binds:
                bind.refuse_requests()

    async def close(self, drain_seconds: float) -> None:
        """Drain and unbind every bind (carriers retiring after a reload included)."""
        binds = [bind for carrier in self for bind in carrier.binds]
        await asyncio.gather(*(bind.close(drain_seconds) for bind in binds))
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


async def _wait_any_bound(carriers: list[Carrier], seconds: float) -> None:
    """Until each of `carriers` has a bind up, or `seconds` have passed."""

    async def first_bind(carrier: Carrier) -> None:
        waits = [asyncio.ensure_future(bind.wait_bound()) for bind in carrier.binds]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    if carriers:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*map(first_bind, carriers)), seconds)


async def _retire(carrier: Carrier, drain_seconds: float) -> None:
    await asyncio.gather(*(bind.close(drain_seconds) for bind in carrier.binds))
    await carrier.rate.aclose()
