"""JSON text on the engine's hot paths: compact, as `json.dumps` would write it, and read as
`json.loads` reads it, but faster.

Every message costs several encodes (its events, its payload, its part of each tick's Lua
arguments); with the standard library's encoder they were about a tenth of the gateway's CPU
at saturation. `orjson` writes the same compact text (keys in insertion order, no spaces,
non-ASCII as is, the same escapes) 5-15x faster. Where it would differ, the standard encoder
writes the text instead, so the output is what `json.dumps` gives in every case:
- a value orjson refuses (a str with a lone surrogate, an int wider than 64 bits, a non-str
  key) goes to the standard encoder, which writes it (or raises) as before;
- `compact_ascii` uses orjson's text only when it is ASCII already, else the standard
  encoder escapes the non-ASCII characters.
Floats are the one difference left: orjson writes an exponent without its sign and padding
(1e-05 is `1e-5`) and NaN as null; the engine encodes no such value, and both are valid JSON.
`parse` reads with orjson (~0.4 us for a queued message against ~2 with `json.loads`) what it
reads the same, and gives the rest to `json.loads`: text orjson refuses (NaN, Infinity, a lone
surrogate escape, a number out of a double's range, UTF-16/32 or a byte-order mark, nesting
past its limit) and any text orjson read a float from, as orjson reads an integer wider than
64 bits as a float where `json.loads` keeps it an int. Looking for a float in what orjson read
(~0.3 us for a queued message) costs less than searching the text for a run of 19 digits
(~1.9 us), and a queued message seldom holds a float.
tests/unit/common/test_json_text.py checks the two agree.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_standard = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_standard_ascii = json.JSONEncoder(separators=(",", ":")).encode


def compact(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _standard(value)


def compact_ascii(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"))`: non-ASCII text escaped."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _standard_ascii(value)
    return text.decode() if text.isascii() else _standard_ascii(value)


def parse(text: bytes | str) -> Any:
    """`json.loads(text)`, with its errors (ValueError, UnicodeDecodeError, RecursionError)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _holds_float(value) else value


def _holds_float(value: Any) -> bool:
    """Whether `value` (as orjson reads JSON: dicts, lists, scalars) is or holds a float."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is dict:
            pending += item.values()
        elif kind is list:
            pending += item
    return False
