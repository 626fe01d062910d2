"""Reading apply.lua's result words (gateway/store/records.py `settled`)."""

from __future__ import annotations

import pytest

from gateway.store.records import Settled, settled


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("delivered 1767225598.5 m1", Settled("delivered", "1767225598.5", "m1", False)),
        ("early:undelivered 17 m2", Settled("undelivered", "17", "m2", True)),
        ("expired  m3", Settled("expired", "", "m3", False)),
        ("delivered", Settled("delivered", "", "", False)),
        ("matched", None),
        ("unmatched", None),
        ("duplicate", None),
        ("early:matched", None),
        ("rejected 1 m4", None),  # not a status a receipt gives
    ],
)
def test_result_words_read_as_settled_or_none(result: str, expected: Settled | None) -> None:
    assert settled(result) == expected


def test_memoised_reading_follows_each_new_result() -> None:
    """`settled` keeps the last result's reading (each is read twice in a row); a different
    result, or one seen before another, is read afresh."""
    first, second = "delivered 1 m1", "early:expired 2 m2"
    readings = [settled(r) for r in (first, first, second, "matched", second, first)]
    assert readings == [
        Settled("delivered", "1", "m1", False),
        Settled("delivered", "1", "m1", False),
        Settled("expired", "2", "m2", True),
        None,
        Settled("expired", "2", "m2", True),
        Settled("delivered", "1", "m1", False),
    ]
