"""Build frozen config dataclasses from `yaml.safe_load` output by walking `dataclasses.fields()`.

Keys and attributes cannot diverge: every key must name a field, every field without a default
must be present, and every error names its file and key path, e.g.
`countries/fr.yaml: quiet_hours.start: expected HH:MM, got '25:00'`. Supported field types:
bool, int, float, str, `X | None`, `tuple[X, ...]`, `frozenset[X]`, `dict[str, X]`, Enum,
Literal, nested dataclasses, `datetime.time` ("HH:MM"), `datetime.date`, `re.Pattern[str]` and
`zoneinfo.ZoneInfo`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from compliance.errors import ComplianceConfigError

try:  # libyaml's C loader: the same safe subset of YAML, ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

T = TypeVar("T")

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def safe_load(text: str, label: str) -> object:
    """`yaml.safe_load` semantics (C loader when available); errors name `label`.

    Raises:
        ComplianceConfigError: the text is not valid YAML (or holds an impossible date).
    """
    try:
        return yaml.load(text, Loader=_SafeLoader)  # a safe loader (CSafeLoader)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. a date 2026-02-30
        raise ComplianceConfigError(f"{label}: not valid YAML: {exc}") from None


def build_dataclass(cls: type[T], data: object, path: str) -> T:
    """Build `cls` from a parsed YAML mapping.

    Args:
        cls: a dataclass type whose annotations use the supported types.
        data: the parsed YAML value (a mapping).
        path: where `data` came from, e.g. "countries/fr.yaml: " or "compliance.yaml: caps[0]".

    Raises:
        ComplianceConfigError: on unknown or missing keys, or a value of the wrong type; the
            message names the path of the offending key.
    """
    if not isinstance(data, Mapping):
        raise ComplianceConfigError(f"{_show(path)}expected a mapping, got {_brief(data)}")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise ComplianceConfigError(f"{_join(path, str(key))}: unknown key")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], _join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ComplianceConfigError(f"{_join(path, name)}: required key is missing")
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _join(path: str, key: str) -> str:
    if not path or path.endswith(": "):
        return f"{path}{key}"
    return f"{path}.{key}"


def _show(path: str) -> str:
    return path if path.endswith(": ") or not path else f"{path}: "


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(path: str, expected: str, value: object) -> ComplianceConfigError:
    return ComplianceConfigError(f"{path}: expected {expected}, got {_brief(value)}")


def _convert(hint: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return _convert_optional(hint, value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            allowed = " | ".join(repr(a) for a in typing.get_args(hint))
            raise _fail(path, allowed, value)
        return value
    if origin in (tuple, frozenset):
        return _convert_sequence(origin, hint, value, path)
    if origin is dict:
        return _convert_mapping(hint, value, path)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build_dataclass(hint, value, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _convert_enum(hint, value, path)
    if origin is re.Pattern:
        return _convert_pattern(value, path)
    converter = _SCALARS.get(hint)
    if converter is None:  # pragma: no cover - a programming error in a config dataclass
        raise TypeError(f"{path}: unsupported config field type {hint!r}")
    return converter(value, path)


def _convert_optional(hint: Any, value: object, path: str) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        if len(args) < len(typing.get_args(hint)):
            return None
        raise _fail(path, "a value", value)
    if len(args) != 1:  # pragma: no cover - a programming error in a config dataclass
        raise TypeError(f"{path}: only `X | None` unions are supported, got {hint!r}")
    return _convert(args[0], value, path)


def _convert_sequence(origin: type, hint: Any, value: object, path: str) -> Any:
    if not isinstance(value, list):
        raise _fail(path, "a list", value)
    item_hint = typing.get_args(hint)[0]
    items = [_convert(item_hint, item, f"{path}[{i}]") for i, item in enumerate(value)]
    return tuple(items) if origin is tuple else frozenset(items)


def _convert_mapping(hint: Any, value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "a mapping", value)
    key_hint, item_hint = typing.get_args(hint)
    return {
        _convert(key_hint, key, f"{path}"): _convert(item_hint, item, f"{path}.{key}")
        for key, item in value.items()
    }


def _convert_enum(cls: type[enum.Enum], value: object, path: str) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = " | ".join(str(m.value) for m in cls)
        raise _fail(path, allowed, value) from None


def _convert_pattern(value: object, path: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise _fail(path, "a regular expression string", value)
    try:
        return re.compile(value)
    except re.error as exc:
        raise ComplianceConfigError(f"{path}: bad regular expression {value!r}: {exc}") from None


def _to_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "true or false", value)
    return value


def _to_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "an integer", value)
    return value


def _to_float(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "a number", value)
    return float(value)


def _to_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    return value


def _to_time(value: object, path: str) -> dt.time:
    # YAML 1.1 reads an unquoted 20:00 as the sexagesimal int 1200; insist on quotes.
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(path, "HH:MM", value)
    return dt.time(int(match[1]), int(match[2]))


def _to_date(value: object, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(path, "a date YYYY-MM-DD", value)


def _to_zone(value: object, path: str) -> ZoneInfo:
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise _fail(path, "an IANA time zone name", value)


_SCALARS: dict[Any, Callable[[object, str], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    dt.time: _to_time,
    dt.date: _to_date,
    ZoneInfo: _to_zone,
}
