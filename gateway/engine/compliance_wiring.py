"""Build the compliance policy (country rules, keywords, caps) on the engine's Redis client."""

from __future__ import annotations

from pathlib import Path

from compliance.errors import ComplianceError
from compliance.policy import CompliancePolicy
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.registration import SenderRegistry
from compliance.sender_id import SenderProgram
from compliance.settings import load_compliance_config
from gateway.config import DEFAULT_CONFIG, Settings
from gateway.engine.admission import Admission
from gateway.engine.routing_table import routing_table
from gateway.errors import ConfigError
from gateway.store.redis_client import RedisClient
from gateway.store.replica_wait import ReplicaWait
from gateway.store.shards import ShardMap
from gateway.store.state_store import Scope
from routing.select import select_route


def build_policy(
    settings: Settings, client: RedisClient, shards: ShardMap | None = None
) -> CompliancePolicy:
    """The CompliancePolicy for `settings`, its state in Redis under the key prefix (of each
    recipient's shard, with `shards`).

    Raises:
        ConfigError: compliance.yaml or a country file is missing or malformed.
    """
    config_dir = Path(settings.compliance.config_dir or DEFAULT_CONFIG.parent)
    try:
        config = load_compliance_config(config_dir)
    except ComplianceError as error:
        raise ConfigError(f"compliance: {error}") from None
    store = RedisComplianceStore(client, compliance_keys(settings, shards))
    return CompliancePolicy(config, store, registry=sender_registry(settings))


def compliance_keys(settings: Settings, shards: ShardMap | None) -> ComplianceKeys:
    """Compliance keys under `key_prefix`, or, with shards, under the recipient's shard's."""
    if shards is None or not shards.sharded:
        return ComplianceKeys(prefix=settings.key_prefix)
    return ComplianceKeys(prefix=settings.key_prefix, prefix_for=lambda n: shards.of(n).prefix)


def build_admission(
    client: RedisClient,
    policy: CompliancePolicy,
    scope: Scope,
    wait: ReplicaWait | None = None,
) -> Admission:
    """The tick's one admit call (gateway/engine/admission.py) for the messages of one shard
    (`scope`): their compliance keys are under the shard's prefix too."""
    store = RedisComplianceStore(client, ComplianceKeys(prefix=scope.prefix))
    return Admission(client, store, scope, conclude=policy.conclude, wait=wait)


def sender_registry(settings: Settings) -> SenderRegistry:
    """The carriers' `registered_senders` and the route look-up the registration check needs:
    a route's carriers are its targets and fallbacks (routing.select)."""
    table = routing_table(settings.routes)

    def route_carriers(destination: str, country: str | None) -> tuple[str, ...] | None:
        route = select_route(table, destination=destination, country=country)
        if route is None:
            return None
        return tuple(dict.fromkeys([t.carrier for t in route.targets] + list(route.fallbacks)))

    registered = {
        carrier.name: {
            program: frozenset(
                sender.removeprefix("+") for sender in getattr(carrier.registered_senders, program)
            )
            for program in SenderProgram
        }
        for carrier in settings.carriers
    }
    return SenderRegistry(registered=registered, route_carriers=route_carriers)
