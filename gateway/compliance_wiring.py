"""Build the compliance policy (country rules, keywords, caps) on the engine's Redis client."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from compliance.errors import ComplianceError
from compliance.policy import CompliancePolicy
from compliance.redis_keys import ComplianceKeys
from compliance.redis_stores import RedisComplianceStore
from compliance.settings import load_compliance_config
from gateway.config import DEFAULT_CONFIG, Settings
from gateway.errors import ConfigError


def build_policy(settings: Settings, client: aioredis.Redis) -> CompliancePolicy:
    """The CompliancePolicy for `settings`, its state in Redis under the key prefix.

    Raises:
        ConfigError: compliance.yaml or a country file is missing or malformed.
    """
    config_dir = Path(settings.compliance.config_dir or DEFAULT_CONFIG.parent)
    try:
        config = load_compliance_config(config_dir)
    except ComplianceError as error:
        raise ConfigError(f"compliance: {error}") from None
    store = RedisComplianceStore(client, ComplianceKeys(prefix=settings.key_prefix))
    return CompliancePolicy(config, store)
