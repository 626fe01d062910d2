"""smsgw configuration: YAML in, frozen dataclasses out, every error naming its key.

`load_settings()` is the one place where the environment is read: `SMSGW_CONFIG` names the
file (or `--config`), and `SMSGW_REDIS_URL` overrides `redis_url`. Config is then passed down
through constructors; there are no module-level settings. Defaults live in the dataclasses
and are written out in `config/smsgw.yaml`, which documents every key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.connection import parse_url

from common.config_loader import build, read_yaml_file
from common.errors import ConfigError
from gateway.smpp.constants import BindType

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "smsgw.yaml"


def _range(low: float, high: float) -> dict[str, float]:
    return {"min": low, "max": high}


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodingConfig:
    """What a carrier accepts on the wire (see compliance/encoding)."""

    gsm7_packed: bool = False
    national_languages: tuple[str, ...] = ()
    allow_latin1: bool = False
    smart_encoding: bool = False
    smart_encoding_mode: Literal["gsm7_only", "reduce_parts"] = "gsm7_only"
    concatenation: Literal["udh", "sar", "payload"] = "udh"
    reference_bits: Literal[8, 16] = 8
    max_parts: int = field(default=10, metadata=_range(1, 255))
    # What data_coding 0 means in what the carrier delivers (MO, receipts): SMPP 3.4 §5.2.19
    # leaves the "SMSC default alphabet" to the SMSC (domain.md §1.7). Decoding only.
    default_alphabet: Literal["gsm7", "latin1", "ia5"] = "gsm7"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """Retry policy; the status lists take names (ESME_RTHROTTLED) or numbers."""

    max_attempts: int = field(default=5, metadata=_range(1, 100))
    initial_delay: float = field(default=1.0, metadata=_range(0, 3600))
    max_delay: float = field(default=300.0, metadata=_range(0, 86400))
    multiplier: float = field(default=2.0, metadata=_range(1, 10))
    transient: tuple[str | int, ...] | None = None
    throttle: tuple[str | int, ...] | None = None
    failover: tuple[str | int, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredSendersConfig:
    """The senders registered for A2P traffic on this carrier connection (US: compliance/
    registration.py). Numbers in E.164 ('+' optional), short codes as digits."""

    ten_dlc: tuple[str, ...] = ()  # 10DLC numbers bound to a TCR campaign via this carrier
    toll_free: tuple[str, ...] = ()  # toll-free numbers verified on this carrier
    short_code: tuple[str, ...] = ()  # short codes provisioned on this carrier


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierConfig:
    """One carrier (SMSC) and how to bind to it."""

    name: str
    host: str = "127.0.0.1"
    port: int = field(default=2775, metadata=_range(1, 65535))
    tls: bool = False
    tls_verify: bool = True
    system_id: str
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind_type: BindType = BindType.transceiver
    binds: int = field(default=1, metadata=_range(1, 64))
    window: int = field(default=10, metadata=_range(1, 1000))
    tps: float = field(default=0.0, metadata=_range(0, 1_000_000))
    response_timeout: float = field(default=10.0, metadata=_range(0.05, 600))
    enquire_link_interval: float = field(default=30.0, metadata=_range(0.1, 3600))
    reconnect_max: float = field(default=60.0, metadata=_range(0.1, 3600))
    registered_delivery: int = field(default=1, metadata=_range(0, 0x1F))
    # Seconds a `submitted` message waits for its final receipt before it is settled
    # `expired` (code receipt_timeout); 48 h, within the 24-72 h validity period most SMSCs
    # default to, so a receipt the carrier can still send is not cut short.
    receipt_timeout: float = field(default=172_800.0, metadata=_range(1, 30 * 86400))
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    receipt_id_mode: Literal["auto", "exact", "hex_to_dec", "dec_to_hex", "strip_zeros"] = "auto"
    on_unknown_outcome: Literal["hold", "resend"] = "hold"
    retry: RetryConfig | None = None
    required: bool = True
    registered_senders: RegisteredSendersConfig = field(default_factory=RegisteredSendersConfig)

    def receipt_deadline(self, submitted_at: float) -> float | None:
        """When a message submitted at `submitted_at` stops waiting for its receipt, or None
        when `registered_delivery` does not ask for a receipt on every final outcome (bits
        1-0 = 1): with none, or failure-only or success-only receipts, silence is no news."""
        if self.registered_delivery & 0x03 != 1:
            return None
        return submitted_at + self.receipt_timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteTargetConfig:
    carrier: str
    weight: int = field(default=1, metadata=_range(1, 1000))


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """Which carriers take which destinations; no criteria means the default route."""

    name: str
    countries: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    targets: tuple[RouteTargetConfig, ...]
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamsConfig:
    outbound: str = "smsgw:outbound"
    events: str = "smsgw:events"
    inbound: str = "smsgw:inbound"
    signals: str = "smsgw:signals"
    events_maxlen: int = field(default=1_000_000, metadata=_range(1000, 10**10))
    # Recipients are spread over this many shards, each with its own streams and keys under
    # one hash tag (gateway/store/shards.py); 1 keeps the names above.
    shards: int = field(default=1, metadata=_range(1, 1024))


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConfig:
    group: str = "smsgw"
    name: str | None = None
    batch: int = field(default=256, metadata=_range(1, 10_000))
    block_ms: int = field(default=50, metadata=_range(1, 60_000))
    linger_ms: int = field(default=5, metadata=_range(0, 1000))
    claim_idle_ms: int = field(default=60_000, metadata=_range(1000, 86_400_000))
    claim_interval: float = field(default=5.0, metadata=_range(0.1, 3600))


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    max_text_length: int = field(default=2000, metadata=_range(1, 100_000))
    max_in_flight: int = field(default=5000, metadata=_range(1, 1_000_000))
    receipt_ttl: float = field(default=3 * 86400.0, metadata=_range(60, 30 * 86400))
    unknown_outcome_hold: float = field(default=600.0, metadata=_range(1, 7 * 86400))
    shutdown_drain: float = field(default=10.0, metadata=_range(0, 600))
    scheduler_interval: float = field(default=0.5, metadata=_range(0.01, 60))
    redis_connections: int = field(default=64, metadata=_range(2, 10_000))


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisWaitConfig:
    # WAIT for this many replicas after each state write (gateway/store/replica_wait.py);
    # 0: no WAIT, a write the master acknowledged may be missing on a promoted replica
    replicas: int = field(default=0, metadata=_range(0, 16))
    timeout_ms: int = field(default=50, metadata=_range(1, 60_000))


@dataclass(frozen=True, slots=True, kw_only=True)
class OpsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=9100, metadata=_range(0, 65535))


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    json: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplianceConfig:
    """Where compliance.yaml and countries/*.yaml live (default: the packaged config/)."""

    config_dir: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The whole gateway configuration."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # redis_url names one node of a Redis Cluster: redis-py's cluster client, and keys in shards
    # (gateway/store/shards.py) even when streams.shards is 1
    redis_cluster: bool = False
    # more nodes of the cluster ("host:port"), tried when the one in redis_url is down at start
    redis_cluster_nodes: tuple[str, ...] = ()
    redis_wait: RedisWaitConfig = field(default_factory=RedisWaitConfig)
    key_prefix: str = "smsgw:"
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    compliance: ComplianceConfig = field(default_factory=ComplianceConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    carriers: tuple[CarrierConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()

    def carrier(self, name: str) -> CarrierConfig:
        for carrier in self.carriers:
            if carrier.name == name:
                return carrier
        raise KeyError(name)


def settings_from_mapping(data: object) -> Settings:
    """Build and cross-check Settings from parsed YAML.

    Raises:
        ConfigError: naming the offending key path.
    """
    settings = build(Settings, data)
    _check_redis_url(settings.redis_url)
    _check_cluster_nodes(settings.redis_cluster_nodes)
    _check_references(settings)
    return settings


def _check_redis_url(url: str) -> None:
    """Refuse a `redis_url` redis-py cannot use (no scheme, bad port or db) at start, rather
    than with a traceback from the first connection."""
    try:
        parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    except ValueError as error:
        raise ConfigError(f"redis_url: {error}; got {redacted_url(url)!r}") from None


def _check_cluster_nodes(nodes: tuple[str, ...]) -> None:
    for index, node in enumerate(nodes):
        try:
            cluster_node_address(node)
        except ValueError:
            raise ConfigError(
                f"redis_cluster_nodes[{index}]: expected host:port, got {node!r}"
            ) from None


def cluster_node_address(node: str) -> tuple[str, int]:
    """("host", port) of a `redis_cluster_nodes` entry.

    Raises:
        ValueError: not host:port with a port in 1..65535.
    """
    host, _, port = node.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(node)
    return host, int(port)


def redacted_url(url: str) -> str:
    """`url` fit for a message or a log: the password in its userinfo or `?password=` is
    `***` (a lone userinfo, which may be a password, too); the rest is kept."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return "***@" + url.rpartition("@")[2] if "@" in url else url
    if not parts.netloc and "@" in url:  # not read as a URL: hide whatever precedes the '@'
        return "***@" + url.rpartition("@")[2]
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() == "password" for key, _ in pairs):
        masked = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _check_references(settings: Settings) -> None:
    names = [c.name for c in settings.carriers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"carriers[{i}].name: duplicate carrier name {name!r}")
    for i, carrier in enumerate(settings.carriers):
        if carrier.receipt_timeout >= settings.engine.receipt_ttl:
            raise ConfigError(
                f"carriers[{i}].receipt_timeout: {carrier.receipt_timeout:g} must be below "
                f"engine.receipt_ttl ({settings.engine.receipt_ttl:g}): the message record "
                "would expire before the timeout"
            )
    known = set(names)
    for r, route in enumerate(settings.routes):
        if not route.targets:
            raise ConfigError(f"routes[{r}].targets: at least one target is required")
        for t, target in enumerate(route.targets):
            if target.carrier not in known:
                raise ConfigError(
                    f"routes[{r}].targets[{t}].carrier: unknown carrier {target.carrier!r}"
                )
        for f, name in enumerate(route.fallbacks):
            if name not in known:
                raise ConfigError(f"routes[{r}].fallbacks[{f}]: unknown carrier {name!r}")


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (`path`, else $SMSGW_CONFIG, else config/smsgw.yaml) and env overrides.

    Raises:
        ConfigError: the file is missing, empty, not YAML, not a mapping, or has a bad key or
            value (the message names it).
    """
    env = os.environ if environ is None else environ
    data = read_yaml_file(path or env.get("SMSGW_CONFIG") or DEFAULT_CONFIG)
    if env.get("SMSGW_REDIS_URL"):
        data["redis_url"] = env["SMSGW_REDIS_URL"]
    return settings_from_mapping(data)
