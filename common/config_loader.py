"""The one config loader: YAML file in, frozen dataclasses out, for any schema.

The gateway (`gateway.config.Settings`) and the simulator (`simulator.config.SimulatorConfig`)
each define a schema as dataclasses and load it with the three steps here: `read_yaml_file`
reads and checks the file, `merge` lays overrides (environment, command-line flags) over it,
and `build` walks `dataclasses.fields()` to construct the dataclasses.

Keys and attributes cannot diverge (Jasmin's `configs.py` slip): every key must be a field,
every required field must be present, and every error names its path, e.g.
`ConfigError("carriers[1].window: expected int 1..1000, got 'ten'")`. Range checks come from
field metadata: `field(metadata={"min": 1, "max": 1000})`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import yaml

from common.errors import ConfigError

T = TypeVar("T")


def read_yaml_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping a YAML config file holds (`yaml.safe_load`).

    Raises:
        ConfigError: naming the file: unreadable, not YAML, empty (most likely the wrong file
            or a failed write; `{}` asks for all defaults), or not a mapping at the top.
    """
    chosen = Path(path)
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{chosen}: cannot read config file: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{chosen}: not valid YAML: {error}") from None
    if data is None:
        raise ConfigError(f"{chosen}: config file is empty (write `{{}}` for all defaults)")
    if not isinstance(data, dict):
        raise ConfigError(f"{chosen}: expected a mapping of settings, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two YAML-shaped mappings; `override` wins, nested mappings merge."""
    result = dict(base)
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = merge(current, value)
        else:
            result[key] = value
    return result


def build(cls: type[T], data: object, path: str = "") -> T:
    """Build dataclass `cls` from a mapping, recursively.

    Raises:
        ConfigError: naming the key path of the first problem found.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {_show(data)}")
    assert dataclasses.is_dataclass(cls)  # noqa: S101 - programming error, not config error
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(f"{_join(path, unknown[0])}: unknown key (allowed: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key_path = _join(path, name)
        if name in data:
            values[name] = _convert(hints[name], data[name], key_path)
            _check_range(f, values[name], key_path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key_path}: required key is missing")
    return cls(**values)


def _convert(hint: Any, value: object, path: str) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(get_args(hint), value, path)
    if origin is typing.Literal:
        if value not in get_args(hint):
            choices = ", ".join(repr(a) for a in get_args(hint))
            raise ConfigError(f"{path}: expected one of {choices}, got {_show(value)}")
        return value
    if origin in (tuple, list, frozenset):
        return _convert_sequence(origin, get_args(hint), value, path)
    if origin is dict:
        return _convert_mapping(get_args(hint), value, path)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(f"{path}: expected one of {choices}, got {_show(value)}") from None
    return _convert_scalar(hint, value, path)


def _convert_union(options: tuple[Any, ...], value: object, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(option, value, path)
        except ConfigError as error:
            errors.append(str(error))
    raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: unexpected {_show(value)}")


def _convert_sequence(origin: Any, args: tuple[Any, ...], value: object, path: str) -> Any:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{path}: expected a list, got {_show(value)}")
    item_hint = args[0] if args else Any
    items = [_convert(item_hint, item, f"{path}[{i}]") for i, item in enumerate(value)]
    return origin(items)


def _convert_mapping(args: tuple[Any, ...], value: object, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {_show(value)}")
    key_hint, value_hint = args or (Any, Any)
    return {
        _convert(key_hint, k, path): _convert(value_hint, v, _join(path, str(k)))
        for k, v in value.items()
    }


def _convert_scalar(hint: Any, value: object, path: str) -> Any:
    if hint is Any:
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{path}: expected int, got {_show(value)}")
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{path}: expected {name}, got {_show(value)}")


def _check_range(f: dataclasses.Field[Any], value: Any, path: str) -> None:
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if (low is None and high is None) or not isinstance(value, int | float):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        kind = "int" if isinstance(value, int) else "number"
        raise ConfigError(f"{path}: expected {kind} {low}..{high}, got {_show(value)}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    return repr(value) if not isinstance(value, Mapping) else "a mapping"
