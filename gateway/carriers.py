"""The configured carriers at run time: their binds, encoding profile, retry policy and rate.

A carrier is available while at least one of its binds is bound; submits go to the bound bind
with the fewest requests in flight, so several binds share a carrier's load and a bind that is
down takes no traffic. The carrier's TPS is one Redis token bucket shared by all its binds and
all smsgw instances, under an adaptive (AIMD) layer that backs off on ESME_RTHROTTLED.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis.asyncio as aioredis

from compliance.encoding import EncodingProfile
from gateway.bind import Bind, BindListener, BindSettings, DeliveryHandler
from gateway.config import CarrierConfig, RetryConfig
from gateway.keys import Keys
from routing.retry import RetryPolicy, retry_policy_from_mapping
from routing.throttle import AdaptiveRate, RedisTokenBucket


def encoding_profile(config: CarrierConfig) -> EncodingProfile:
    """The carrier's EncodingProfile from its `encoding` config block."""
    e = config.encoding
    return EncodingProfile(
        gsm7_packed=e.gsm7_packed,
        national_languages=frozenset(e.national_languages),
        allow_latin1=e.allow_latin1,
        smart_encoding=e.smart_encoding,
        concatenation=e.concatenation,
        reference_bits=e.reference_bits,
        max_parts=e.max_parts,
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


@dataclass(slots=True)
class Carrier:
    """One carrier's run-time pieces."""

    config: CarrierConfig
    binds: list[Bind]
    profile: EncodingProfile
    retry: RetryPolicy
    bucket: RedisTokenBucket | None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        return any(b.is_bound for b in self.binds)

    def pick_bind(self) -> Bind | None:
        """The bound bind with the fewest requests in flight, or None."""
        best: Bind | None = None
        for bind in self.binds:
            if bind.is_bound and (best is None or bind.in_flight < best.in_flight):
                best = bind
        return best

    async def acquire(self, tokens: int) -> None:
        """Wait for `tokens` submits' worth of the carrier's shared rate."""
        bucket = self.bucket
        if bucket is None:
            return
        while tokens > 0:
            chunk = min(tokens, bucket.max_acquire)
            await bucket.acquire(chunk)
            tokens -= chunk

    def throttled(self) -> None:
        """The carrier answered ESME_RTHROTTLED / ESME_RMSGQFUL: cut the shared rate (AIMD)."""
        if self.bucket is not None:
            self.bucket.on_throttled()


class CarrierPool:
    """All carriers, built from config; `start()` begins binding."""

    def __init__(
        self,
        configs: tuple[CarrierConfig, ...],
        default_retry: RetryConfig,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        delivery_handler: Callable[[str], DeliveryHandler],
        listener: Callable[[str, int], BindListener | None],
        rng: random.Random,
    ) -> None:
        self._carriers: dict[str, Carrier] = {}
        for i, config in enumerate(configs):
            settings = bind_settings(config)
            binds = [
                Bind(
                    settings,
                    name=f"{config.name}#{n}",
                    on_delivery=delivery_handler(config.name),
                    listener=listener(config.name, n),
                    rng=random.Random(rng.random()),
                )
                for n in range(config.binds)
            ]
            bucket = None
            if config.tps > 0:
                # Each Redis call reserves up to ~100 ms worth of tokens for this instance.
                bucket = RedisTokenBucket(
                    redis,
                    keys.throttle(config.name),
                    rate=config.tps,
                    burst=max(1, int(config.tps / 10)),
                    adaptive=AdaptiveRate(max_rate=config.tps),
                )
            policy = retry_policy(config.retry or default_retry, f"carriers[{i}].retry")
            self._carriers[config.name] = Carrier(
                config, binds, encoding_profile(config), policy, bucket
            )

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

    async def close(self, drain_seconds: float) -> None:
        """Drain and unbind every bind."""
        binds = [bind for carrier in self for bind in carrier.binds]
        await asyncio.gather(*(bind.close(drain_seconds) for bind in binds))
