"""The simulator's config: defaults, YAML loading, status names, overrides, errors naming keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config_loader import merge
from common.errors import ConfigError
from gateway.smpp.constants import CommandStatus
from simulator.config import (
    FaultSettings,
    MessageIdFormat,
    Outcome,
    SimulatorConfig,
    config_from_mapping,
    load_config,
    patch_faults,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "simulator.yaml"


def test_empty_mapping_gives_the_documented_defaults() -> None:
    config = config_from_mapping({})
    assert config == SimulatorConfig()
    assert config.port == 2775
    assert config.receipts.outcomes == {Outcome.DELIVRD: 1.0}
    assert config.faults == FaultSettings()


def test_example_file_loads_and_documents_every_key() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, SimulatorConfig)
    text = EXAMPLE.read_text(encoding="utf-8")
    for section in (SimulatorConfig(), FaultSettings(), config.receipts):
        for name in section.__dataclass_fields__:
            assert f"{name}:" in text, f"config/simulator.yaml does not document {name}"


def test_status_names_resolve_to_numbers() -> None:
    config = config_from_mapping(
        {
            "faults": {"error_status": "esme_rmsgqful"},
            "prefix_rules": [{"prefix": "4479", "submit_status": "ESME_RINVDSTADR"}],
        }
    )
    assert config.faults.error_status == CommandStatus.ESME_RMSGQFUL
    assert config.prefix_rules[0].submit_status == CommandStatus.ESME_RINVDSTADR


def test_unknown_status_name_is_an_error_naming_its_path() -> None:
    with pytest.raises(ConfigError, match=r"prefix_rules\[0\]\.submit_status"):
        config_from_mapping({"prefix_rules": [{"prefix": "1", "submit_status": "ESME_NOPE"}]})


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"faults": {"tps_bust": 3}}, "faults.tps_bust"),
        ({"receipts": {"delay": "soon"}}, "receipts.delay"),
        ({"faults": {"error_share": 1.5}}, "faults.error_share"),
        ({"accounts": [{"password": "x"}]}, "accounts[0].system_id"),
        ({"message_id_format": "octal"}, "message_id_format"),
        ({"receipts": {"outcomes": {"LOST": 1}}}, "receipts.outcomes"),
        ({"receipts": {"intermediate": ["DELIVRD"]}}, "receipts.intermediate[0]"),
        ({"receipts": {"intermediate": ["ENROUTE", "two words"]}}, "receipts.intermediate[1]"),
        ({"receipts": {"intermediate": [""]}}, "receipts.intermediate[0]"),
        ({"receipts": {"intermediate": "ENROUTE"}}, "receipts.intermediate"),
    ],
)
def test_bad_keys_and_values_name_their_path(data: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(path)):
        config_from_mapping(data)


def test_outcome_weights_must_have_a_positive_sum() -> None:
    with pytest.raises(ConfigError, match=r"receipts\.outcomes"):
        config_from_mapping({"receipts": {"outcomes": {"DELIVRD": 0}}})


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("port: 3000\nfaults:\n  tps: 5\n  error_share: 0.1\n", encoding="utf-8")
    config = load_config(path, {"faults": {"tps": 50}, "message_id_format": "hex"})
    assert config.port == 3000
    assert config.faults.tps == 50
    assert config.faults.error_share == 0.1
    assert config.message_id_format is MessageIdFormat.hex


def test_unreadable_or_non_mapping_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listing)


def test_the_simulator_file_is_read_by_the_gateways_loader(tmp_path: Path) -> None:
    """One loader, two schemas: the same file errors, naming the file, as for smsgw.yaml."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"empty\.yaml: config file is empty"):
        load_config(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("faults: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)


def test_patch_faults_changes_only_the_given_keys() -> None:
    current = FaultSettings(tps=10, error_share=0.2)
    patched = patch_faults(current, {"dlr_before_resp": True, "error_status": "ESME_RTHROTTLED"})
    assert patched.tps == 10
    assert patched.error_share == 0.2
    assert patched.dlr_before_resp
    assert patched.error_status == CommandStatus.ESME_RTHROTTLED
    with pytest.raises(ConfigError, match=r"faults\.nope"):
        patch_faults(current, {"nope": 1})


def test_merge_is_deep_and_does_not_mutate() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    merged = merge(base, {"a": {"b": 9}})
    assert merged == {"a": {"b": 9, "c": 2}, "d": 3}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def test_intermediate_receipt_words_are_kept_in_order() -> None:
    config = config_from_mapping({"receipts": {"intermediate": ["ENROUTE", "BUFFRED"]}})
    assert config.receipts.intermediate == ("ENROUTE", "BUFFRED")
    assert SimulatorConfig().receipts.intermediate == ()
