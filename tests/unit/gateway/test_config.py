"""Config loading: defaults, the shipped file, and errors that name their key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compliance.encoding import EncodingProfile
from gateway.carrier.pool import encoding_profile
from gateway.config import DEFAULT_CONFIG, load_settings, redacted_url, settings_from_mapping
from gateway.errors import ConfigError
from gateway.smpp.constants import BindType

CARRIER = {"name": "a", "system_id": "x", "password": "p"}
ROUTE = {"name": "r", "targets": [{"carrier": "a"}]}


def test_shipped_config_loads_with_documented_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.carriers[0].name == "sim"
    assert settings.carriers[0].bind_type is BindType.transceiver
    assert settings.streams.outbound == "smsgw:outbound"
    assert settings.routes[0].targets[0].carrier == "sim"


def test_environment_overrides_redis_url_and_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("key_prefix: 'x:'\n")
    settings = load_settings(None, environ={"SMSGW_CONFIG": str(path),
                                            "SMSGW_REDIS_URL": "redis://h:1/2"})  # fmt: skip
    assert settings.redis_url == "redis://h:1/2"
    assert settings.key_prefix == "x:"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"carriers": [{**CARRIER, "window": "ten"}]}, "carriers[0].window: expected int"),
        ({"carriers": [{**CARRIER, "window": 0}]}, "carriers[0].window: expected int 1..1000"),
        ({"carriers": [{**CARRIER, "colour": 1}]}, "carriers[0].colour: unknown key"),
        # removed (never read): an old config naming it is told so, as for any unknown key
        ({"carriers": [{**CARRIER, "supports_query_sm": False}]},
         "carriers[0].supports_query_sm: unknown key"),
        ({"carriers": [CARRIER], "routes": [{**ROUTE, "mccmnc": ["23430"]}]},
         "routes[0].mccmnc: unknown key"),
        ({"carriers": [{"name": "a"}]}, "carriers[0].system_id: required key is missing"),
        ({"carriers": [{**CARRIER, "bind_type": "tx"}]}, "carriers[0].bind_type: expected one"),
        ({"carriers": [CARRIER, CARRIER]}, "carriers[1].name: duplicate carrier name"),
        ({"carriers": [CARRIER], "routes": [{"name": "r", "targets": [{"carrier": "b"}]}]},
         "routes[0].targets[0].carrier: unknown carrier 'b'"),
        ({"consumer": {"batch": True}}, "consumer.batch: expected int"),
        ({"carriers": [{**CARRIER, "encoding": {"concatenation": "x"}}]},
         "carriers[0].encoding.concatenation: expected one of"),
        ({"carriers": [{**CARRIER, "encoding": {"smart_encoding_mode": "always"}}]},
         "carriers[0].encoding.smart_encoding_mode: expected one of 'gsm7_only', 'reduce_parts'"),
        ({"logging": "loud"}, "logging: expected a mapping"),
        ({"carriers": [{**CARRIER, "receipt_timeout": 0}]},
         "carriers[0].receipt_timeout: expected number 1..2592000, got 0.0"),
        ({"carriers": [{**CARRIER, "receipt_timeout": -5.0}]},
         "carriers[0].receipt_timeout: expected number 1..2592000"),
        ({"carriers": [{**CARRIER, "receipt_timeout": "1h"}]},
         "carriers[0].receipt_timeout: expected float"),
        ({"carriers": [{**CARRIER, "receipt_timeout": 3600},
                       {**CARRIER, "name": "b", "receipt_timeout": 86400}],
          "engine": {"receipt_ttl": 86400}},
         "carriers[1].receipt_timeout: 86400 must be below engine.receipt_ttl"),
        ({"carriers": [CARRIER], "engine": {"receipt_ttl": 86400}},  # the 48 h default
         "carriers[0].receipt_timeout: 172800 must be below engine.receipt_ttl"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_from_mapping(data)


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("carriers: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})


def test_valid_mapping_builds_nested_dataclasses() -> None:
    settings = settings_from_mapping(
        {"carriers": [{**CARRIER, "tps": 5, "encoding": {"national_languages": ["turkish"]}}],
         "routes": [ROUTE]}
    )  # fmt: skip
    carrier = settings.carriers[0]
    assert carrier.tps == 5.0
    assert carrier.encoding.national_languages == ("turkish",)
    assert "password" not in repr(carrier)


def test_receipt_timeout_defaults_to_48_hours_and_needs_receipts_on_every_final_outcome() -> None:
    settings = settings_from_mapping(
        {"carriers": [CARRIER, *({**CARRIER, "name": f"r{bits}", "registered_delivery": bits,
                                  "receipt_timeout": 30} for bits in (0, 2, 3, 0x11))]}
    )  # fmt: skip
    deadlines = {c.name: c.receipt_deadline(1000.0) for c in settings.carriers}
    # 0: no receipt; 2: failure-only and 3: success-only, where silence means an outcome
    assert deadlines == {"a": 1000.0 + 172_800, "r0": None, "r2": None, "r3": None,
                         "r17": 1030.0}  # fmt: skip


@pytest.mark.parametrize("text", ["", "\n\n", "# only comments\n---\n"])
def test_empty_config_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: config file is empty"):
        load_settings(path, environ={"SMSGW_REDIS_URL": "redis://h:1/2"})


def test_explicitly_empty_mapping_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text("{}\n")
    assert load_settings(path, environ={}).redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("text", ["- a\n", "notaurl\n", "42\n"])
def test_config_file_that_is_not_a_mapping_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: expected a mapping"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    "url",
    ["notaurl", "http://h:6379/0", "redis://h:notaport/0", "redis://h/?db=x", "", "h:6379"],
)
def test_redis_url_redis_py_cannot_use_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^redis_url: "):
        settings_from_mapping({"redis_url": url})


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://u:p@h:6380/1", "unix:///run/redis.sock?db=2",
     "redis://h"],
)  # fmt: skip
def test_usable_redis_urls_are_accepted(url: str) -> None:
    assert settings_from_mapping({"redis_url": url}).redis_url == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user:pw@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://lonepw@h/0", "redis://***@h/0"),
        ("redis://u:p@ss@h/0", "redis://u:***@h/0"),
        ("redis://h/0?password=pw&db=1", "redis://h/0?password=***&db=1"),
        ("unix://:pw@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),
        ("user:pw@h:6379", "***@h:6379"),
        ("redis://[::1:6379/0", "redis://[::1:6379/0"),
        ("redis://u:pw@[::1:6379/0", "***@[::1:6379/0"),
        ("notaurl", "notaurl"),
    ],
)
def test_redacted_url_masks_the_password(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def _profile(encoding: dict[str, object]) -> EncodingProfile:
    settings = settings_from_mapping({"carriers": [{**CARRIER, "encoding": encoding}]})
    return encoding_profile(settings.carriers[0])


def test_smart_encoding_keeps_its_boolean_key_and_defaults_to_gsm7_only() -> None:
    """Existing `smart_encoding: true` configs keep working; the new mode key is optional and
    its default is the safe one (replace only to reach GSM-7)."""
    legacy = _profile({"smart_encoding": True})
    assert (legacy.smart_encoding, legacy.smart_encoding_mode) == (True, "gsm7_only")
    opted = _profile({"smart_encoding": True, "smart_encoding_mode": "reduce_parts"})
    assert opted.smart_encoding_mode == "reduce_parts"
