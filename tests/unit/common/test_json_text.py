"""compact / compact_ascii write what json.dumps writes with the same options; parse reads what
json.loads reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.json_text import compact, compact_ascii, parse


def _plain_float(value: float) -> bool:
    """A float both encoders spell alike: finite, no exponent (see common/json_text.py)."""
    return value == value and abs(value) != float("inf") and "e" not in repr(value)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # wider than 64 bits: the fallback
    | st.floats(allow_nan=False, allow_infinity=False).filter(_plain_float)
    | st.text()  # any code point, lone surrogates too (the fallback)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _standard(value: Any, *, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))


@given(_values)
def test_compact_is_json_dumps_without_ascii_escapes(value: Any) -> None:
    assert compact(value) == _standard(value, ascii_only=False)


@given(_values)
def test_compact_ascii_is_json_dumps_with_them(value: Any) -> None:
    assert compact_ascii(value) == _standard(value, ascii_only=True)


@pytest.mark.parametrize(
    "value",
    [
        {"id": "m1", "status": "submitted", "ts": "2026-01-13T09:00:00.000Z", "parts": 2},
        ["scope", None, "é ü 中文 😀", "\x00\x1f\x7f\u2028", '"quoted" \\ /'],
        {"text": "\ud83d alone"},  # a lone surrogate: orjson refuses it, json writes it
        {1: "a non-str key"},
        (1, 2.5, True),
    ],
)
def test_the_engines_shapes_and_the_fallbacks(value: Any) -> None:
    assert compact(value) == _standard(value, ascii_only=False)
    assert compact_ascii(value) == _standard(value, ascii_only=True)


def test_an_unencodable_value_still_raises_as_json_dumps_does() -> None:
    with pytest.raises(TypeError):
        compact({"when": object()})
    with pytest.raises(TypeError):
        compact_ascii({"when": object()})


def _same_reading(text: str | bytes) -> None:
    """parse(text) is json.loads(text): equal values of equal types, or the same error."""
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError) as error:
        with pytest.raises(type(error)):
            parse(text)
        return
    got = parse(text)
    assert got == expected or (got != got and expected != expected)  # NaN is not NaN
    assert repr(got) == repr(expected)  # int stays int, -0.0 stays -0.0


_number_text = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?",
                             fullmatch=True)  # fmt: skip


@given(_values)
def test_parse_reads_what_json_dumps_wrote_as_json_loads_does(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    _same_reading(text)
    _same_reading(text.encode("utf-8", "surrogatepass"))


@given(_number_text)
def test_parse_reads_numbers_as_json_loads_does(text: str) -> None:
    _same_reading(text)
    _same_reading(f'{{"priority":{text}}}'.encode())


@pytest.mark.parametrize(
    "text",
    [
        b'{"id":"m1","to":"+447911123456","text":"hi","priority":18446744073709551616}',
        "[NaN, Infinity, -Infinity]",
        b"1e400",
        b"1e-400",
        b"-0",
        b"-0.0",
        '"\\ud800 alone"',
        b'\xef\xbb\xbf{"a":1}',
        '{"a":1}'.encode("utf-16"),
        b'{"a":1,"a":2}',
        b"[" * 5000,
        b"not json",
        b"",
        b'{"a":"\x01"}',
        "\ud800".encode("utf-8", "surrogatepass"),
    ],
)
def test_parse_edge_cases_read_as_json_loads_reads_them(text: str | bytes) -> None:
    _same_reading(text)
