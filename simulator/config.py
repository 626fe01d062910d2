"""The simulator's configuration: frozen dataclasses, the YAML loader and CLI-flag overrides.

Every key is documented in `config/simulator.yaml`. The file is read and the dataclasses are
built by `common.config_loader` (the gateway's loader too), which walks `dataclasses.fields()`,
so unknown keys are errors that name their path (`faults.tps_bust: unknown key`). Keys ending
in `_status` take a command_status name (`ESME_RTHROTTLED`) or a number; names are resolved
here.

An empty `accounts` list means "accept any system_id and password": handy on a laptop, and
said loudly in the log at startup.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.config_loader import build, merge, read_yaml_file
from common.errors import ConfigError
from gateway.smpp.constants import CommandStatus

_STAT_WORD = re.compile(r"[A-Za-z0-9_]{1,10}")


def _range(low: float, high: float) -> dict[str, float]:
    return {"min": low, "max": high}


class MessageIdFormat(enum.Enum):
    """How message ids are written in submit_sm_resp (domain.md §1.13: both occur)."""

    decimal = "decimal"
    hex = "hex"


class Outcome(enum.Enum):
    """The final outcome of a message, as its receipt's `stat:` word (SMPP 3.4 Appendix B)."""

    DELIVRD = "DELIVRD"
    UNDELIV = "UNDELIV"
    EXPIRED = "EXPIRED"
    REJECTD = "REJECTD"


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """One ESME account: credentials and how many binds it may hold at once."""

    system_id: str
    password: str = field(default="", repr=False)
    max_binds: int | None = field(default=None, metadata=_range(1, 10_000))


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixRule:
    """Deterministic behaviour for destinations starting with `prefix` (longest prefix wins).

    `submit_status` answers the submit itself with that status (no message is stored);
    otherwise `outcome` (and `err`, the receipt's `err:` code) fixes the receipt.
    """

    prefix: str
    outcome: Outcome | None = None
    submit_status: int | None = field(default=None, metadata=_range(0, 0xFFFFFFFF))
    err: int | None = field(default=None, metadata=_range(0, 999))


HandsetFormat = Literal["as_submitted", "national", "idd", "plus"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptSettings:
    """When and how delivery receipts are sent (SMPP 3.4 §4.6.1, Appendix B)."""

    delay: float = field(default=0.5, metadata=_range(0, 86_400))
    delay_jitter: float = field(default=0.0, metadata=_range(0, 86_400))
    outcomes: dict[Outcome, float] = field(default_factory=lambda: {Outcome.DELIVRD: 1.0})
    id_format: Literal["same", "decimal", "hex"] = "same"
    window: int = field(default=1000, metadata=_range(1, 100_000))
    retry_delay: float = field(default=5.0, metadata=_range(0, 3600))
    max_attempts: int = field(default=5, metadata=_range(1, 1000))
    max_pending: int = field(default=100_000, metadata=_range(1, 10_000_000))
    # `stat:` words of receipts sent, in this order, just before each final receipt (e.g.
    # ENROUTE, ACCEPTD, BUFFRED, SCHEDLD): carriers that report progress this way.
    intermediate: tuple[str, ...] = ()
    # How a receipt writes the handset's number (its source_addr): as it was submitted, or as
    # many SMSCs rewrite it: `national` (trunk prefix, TON 2: 07911123456), `idd` (the "00"
    # international prefix, TON 0: 00447911123456) or `plus` (+447911123456, TON 1).
    handset_format: HandsetFormat = "as_submitted"
    # false: like SMSCs that do not swap a receipt's addresses (source_addr is the message's
    # sender, destination_addr its handset) rather than SMPP 3.4 §4.6.1's handset -> sender
    swap_addresses: bool = True

    def __post_init__(self) -> None:
        weights = self.outcomes.values()
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError("receipts.outcomes: weights must be >= 0 with a positive sum")
        finals = {outcome.value for outcome in Outcome}
        for i, word in enumerate(self.intermediate):
            if not _STAT_WORD.fullmatch(word) or word.upper() in finals:
                raise ConfigError(
                    f"receipts.intermediate[{i}]: expected a stat word of 1-10 letters, digits "
                    f"or '_' that is not a final outcome ({', '.join(sorted(finals))}), "
                    f"got {word!r}"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSettings:
    """Carrier realism and fault injection; every fault is off by default."""

    tps: float = field(default=0.0, metadata=_range(0, 10_000_000))
    tps_burst: float = field(default=0.0, metadata=_range(0, 10_000_000))
    error_share: float = field(default=0.0, metadata=_range(0, 1))
    error_status: int = field(default=CommandStatus.ESME_RSYSERR, metadata=_range(1, 0xFFFFFFFF))
    response_delay: float = field(default=0.0, metadata=_range(0, 3600))
    drop_after_pdus: int = field(default=0, metadata=_range(0, 2**31))
    ignore_enquire_link: bool = False
    dlr_before_resp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """Everything `smsgw simulator` needs; defaults are the documented ones."""

    host: str = "127.0.0.1"
    port: int = field(default=2775, metadata=_range(0, 65535))
    control_host: str = "127.0.0.1"
    control_port: int | None = field(default=9200, metadata=_range(0, 65535))
    system_id: str = "SMSCSIM"
    accounts: tuple[Account, ...] = ()
    max_binds: int = field(default=10, metadata=_range(1, 10_000))
    # SMPP 3.4 §7.2 session_init_timer: a connection with no accepted bind this many seconds
    # after it opened is closed; 0 = never.
    session_init_timeout: float = field(default=30.0, metadata=_range(0, 86_400))
    message_id_format: MessageIdFormat = MessageIdFormat.decimal
    message_id_start: int = field(default=0, metadata=_range(0, 2**63))
    store_size: int = field(default=100_000, metadata=_range(1, 100_000_000))
    recent_messages: int = field(default=1000, metadata=_range(0, 1_000_000))
    seed: int | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    journal: str | None = None
    # Injected MO text in GSM-7 goes out packed 8-in-7 (TS 23.038 §6.1.2.1), as the SMSCs a
    # gateway configures `gsm7_packed` for deliver it; default: one septet per octet.
    mo_gsm7_packed: bool = False
    prefix_rules: tuple[PrefixRule, ...] = ()
    receipts: ReceiptSettings = field(default_factory=ReceiptSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)


def config_from_mapping(data: Mapping[str, Any]) -> SimulatorConfig:
    """Build the config from YAML-shaped data.

    Raises:
        ConfigError: naming the key path of the first problem.
    """
    return build(SimulatorConfig, resolve_status_names(data))


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None) -> SimulatorConfig:
    """Read `path` (when given), apply `overrides` (nested, like the YAML), and build.

    Raises:
        ConfigError: the file is unreadable, not YAML, empty or not a mapping, or a key is
            wrong (the message names the file or the key).
    """
    data = read_yaml_file(path) if path is not None else {}
    return config_from_mapping(merge(data, overrides or {}))


def patch_faults(current: FaultSettings, patch: Mapping[str, Any]) -> FaultSettings:
    """A copy of `current` with the keys in `patch` changed (the control endpoint's POST /faults).

    Raises:
        ConfigError: naming `faults.<key>` for an unknown key or a bad value.
    """
    merged = merge({"faults": _as_mapping(current)}, {"faults": dict(patch)})
    return config_from_mapping(merged).faults


def resolve_status_names(data: object, path: str = "") -> Any:
    """Replace command_status names under keys ending in `_status` with their numbers.

    Raises:
        ConfigError: an unknown status name, naming its path.
    """
    if isinstance(data, Mapping):
        return {k: _resolve_item(str(k), v, _join(path, str(k))) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [resolve_status_names(item, f"{path}[{i}]") for i, item in enumerate(data)]
    return data


def _resolve_item(key: str, value: object, path: str) -> object:
    if key.endswith("_status") and isinstance(value, str):
        try:
            return int(CommandStatus[value.strip().upper()])
        except KeyError:
            raise ConfigError(f"{path}: unknown command_status name {value!r}") from None
    return resolve_status_names(value, path)


def _as_mapping(settings: FaultSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
