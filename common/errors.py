"""Errors shared by the gateway and the simulator: configuration problems.

`ConfigError` is raised by `common.config_loader` for either schema, and re-exported by
`gateway.errors`, so every config error names its key path the same way.
"""

from __future__ import annotations


class ConfigError(Exception):
    """Invalid configuration; the message names the key path (e.g. carriers[1].window)."""
