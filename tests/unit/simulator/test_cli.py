"""`smsgw simulator` flags (simulator/cli.py): every one documented, and shaped like the YAML."""

from __future__ import annotations

from simulator import cli
from simulator.config import config_from_mapping


def test_every_server_option_has_help() -> None:
    for action in cli._server_parser()._actions:
        assert action.help, f"smsgw simulator {action.dest}: no help text"


def test_session_init_timeout_flag_overrides_the_config() -> None:
    ns = cli._server_parser().parse_args(["--session-init-timeout", "2.5"])
    assert config_from_mapping(cli._overrides(ns)).session_init_timeout == 2.5
    assert config_from_mapping({}).session_init_timeout == 30.0
