"""OpBatch words: every number is spelt where the op is built, as redis-py spells an argument
(`repr`), so apply.lua reads the strings it read when each word was its own argument."""

from __future__ import annotations

import json

import pytest

from common.json_text import compact
from gateway.store.state_store import OpBatch, Scope, spell

SCOPE = Scope("p:", "p:events", 100_000, 259_200, "p:outbound", "g")


@pytest.mark.parametrize(
    ("value", "word"),
    [(1733125600.5, "1733125600.5"), (0.1, "0.1"), (1e16, "1e+16"), (7, "7"), ("x", "x")],
)
def test_spell_is_redis_py_spelling(value: str | int | float, word: str) -> None:
    assert spell(value) == word


def test_every_word_of_every_op_is_a_string_or_null() -> None:
    batch = OpBatch()
    batch.inflight(SCOPE, "m1", "sim", 42, 2, "447911000001")
    batch.submitted(SCOPE, "m1", 1733125600.25, carrier="sim", joined="a,b", cids="a b",
                    parts=2, attempt=1, event="{}", receipt_due=1733298400.25,
                    entry_id="1-0", from_deferred=False, id_keys=[["a"], ["b", "B"]])  # fmt: skip
    batch.deferred(SCOPE, "m2", 1.5, attempt=2, due=9.75, due_iso="t", event="{}",
                   entry_id=None, extra={"retries": 3, "note": "x"})  # fmt: skip
    batch.apply_receipt(SCOPE, "sim", ["a"], "delivered", True, "000", "t", "4479", 12.5)
    batch.hset("k", {"n": 1, "f": 0.5})
    assert all(word is None or isinstance(word, str) for word in batch.args)
    assert batch.args[:7] == ["scope", "p:", "p:events", "100000", "259200", "p:outbound", "g"]
    submitted = batch.args.index("submitted")
    assert batch.args[submitted + 2] == "1733125600.25"
    assert batch.args[submitted + 9 : submitted + 18] == [
        "1733298400.25", "1-0", "0", "3", "a", "0", "b", "1", "B",
    ]  # fmt: skip
    assert json.loads(compact(batch.args)) == batch.args
