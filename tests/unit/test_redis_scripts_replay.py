"""benchmarks/redis_scripts.py: MONITOR lines read back into the words sent, and apply.lua's
calls split into the submits' records and the receipts, in that order."""

from __future__ import annotations

import json
from collections.abc import Sequence

from benchmarks.redis_scripts import Call, known_scripts, monitor_words, replay_calls


def test_monitor_words_undo_redis_quoting() -> None:
    line = '1733.1 [0 127.0.0.1:5000] "XADD" "s" "*" "data" "{\\"a\\":\\"\\xc3\\xa9\\\\n\\"}"'
    assert monitor_words(line) == [b"XADD", b"s", b"*", b"data", '{"a":"é\\n"}'.encode()]


def _apply_line(sha: str, ops: Sequence[object]) -> str:
    quoted = json.dumps(json.dumps(ops))  # the JSON argument, as Redis quotes it
    return f'1.0 [0 127.0.0.1:1] "EVALSHA" "{sha}" "1" "t:ev" {quoted}'


def test_an_apply_call_of_records_and_receipts_is_replayed_as_two_records_first() -> None:
    scripts = known_scripts()
    sha = next(s for s, (name, _) in scripts.items() if name == "apply")
    scope = ["scope", "t:", "t:ev", "10", "60", "t:out", "g"]
    receipt = ["receipt", "c", "1", "a1", "delivered", "1", "000", "TS", "", None, ""]
    submitted = ["submitted", "m1", "2.0", "c", "a1", '["a1"]', "1", "1", "{}", None, "1-0",
                 "0", "1", "a1", "0"]  # fmt: skip
    lines = [
        _apply_line(sha, scope + receipt + submitted),
        '1.0 [0 lua] "HSET" "t:msg:m1" "status" "x"',  # run inside a script: not replayed
        '1.0 [0 127.0.0.1:1] "XREADGROUP" "GROUP" "g" "c" "BLOCK" "100" "STREAMS" "s" ">"',
    ]
    calls = replay_calls(lines, scripts)
    assert [c.script for c in calls] == ["apply:submitted", "apply:receipt", None]
    assert json.loads(calls[0].words[-1]) == scope + submitted
    assert json.loads(calls[1].words[-1]) == scope + receipt
    assert calls[2] == Call(None, [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">"])


def test_an_apply_call_of_other_ops_is_replayed_whole() -> None:
    scripts = known_scripts()
    sha = next(s for s, (name, _) in scripts.items() if name == "apply")
    ops = ["scope", "t:", "t:ev", "10", "60", "t:out", "g", "notsent", "m1"]
    [call] = replay_calls([_apply_line(sha, ops)], scripts)
    assert call.script == "apply"
    assert json.loads(call.words[-1]) == ops
