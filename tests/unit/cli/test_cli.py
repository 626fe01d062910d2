"""`smsgw run` start-up: the cyclic GC tuning (common/gc_tuning.py) and the config flag."""

from __future__ import annotations

import argparse
import gc

import pytest

from common import gc_tuning
from gateway.cli import main as cli


def test_tune_gc_freezes_startup_objects_and_raises_gen0_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(t))
    gc_tuning.tune_gc()
    assert calls == ["freeze", (gc_tuning.GC_GEN0_THRESHOLD, 10, 10)]


@pytest.mark.parametrize("command", [["run"], ["status", "m1"], ["optout", "check", "+4479"],
                                     ["send", "--to", "+4479", "--text", "hi"],
                                     ["inspect", "--text", "hi"]])  # fmt: skip
@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_accepted_before_and_after_the_subcommand(command: list[str], where: str) -> None:
    config = ["--config", "f.yaml"]
    argv = [*config, *command] if where == "before" else [*command, *config]
    assert cli.build_parser().parse_args(argv).config == "f.yaml"


def test_config_after_the_subcommand_wins_over_the_one_before() -> None:
    args = cli.build_parser().parse_args(["--config", "a.yaml", "run", "--config", "b.yaml"])
    assert args.config == "b.yaml"


def test_config_defaults_to_none_when_given_nowhere() -> None:
    assert cli.build_parser().parse_args(["run"]).config is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["simulator", "--port", "0"], ["--port", "0"]),
        (["--config", "s.yaml", "simulator", "--port", "0"], ["--port", "0", "--config", "s.yaml"]),
        (["--config=s.yaml", "simulator"], ["--config=s.yaml"]),
        (["--config", "s.yaml", "run"], None),
        (["run", "simulator"], None),
    ],
)
def test_simulator_gets_its_own_argv_with_a_leading_config(
    argv: list[str], expected: list[str] | None
) -> None:
    assert cli._simulator_argv(argv) == expected


def test_every_option_of_every_subcommand_has_help() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"smsgw {name} {action.dest}: no help text"
