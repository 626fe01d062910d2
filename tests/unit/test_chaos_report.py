"""benchmarks/chaos_report.py: the per-id verdict of the chaos benchmark, on made-up runs."""

from __future__ import annotations

from typing import Any

from benchmarks.chaos_report import Event, Kills, Outcome, judge, map_journal


def line(dest: str, run: int, text: str = "", concat: list[int] | None = None) -> dict[str, Any]:
    return {"destination": dest, "status": 0, "message_id": str(run * 10**9 + 1),
            "concat": concat, "text": text}  # fmt: skip


def outcome(
    records: list[dict[str, Any]],
    events: dict[str, list[Event]],
    hashes: dict[str, dict[str, str]],
    windows: dict[str, frozenset[str]],
) -> Outcome:
    ids = ["a", "b", "c", "d"]
    journal = map_journal(records, {f"4479{i}": i for i in ids})
    kills = Kills(gateway=1, simulator=1, redis=0, gateway_exits=0, simulator_exits=0,
                  windows=windows, killed_incarnations=frozenset({1}))  # fmt: skip
    return Outcome(
        ids=ids, journal=journal, events=events, hashes=hashes, kills=kills,
        receipt_timeout=None, wall_seconds=1.0, enqueue_retries=0, settled="x",
    )  # fmt: skip


def test_duplicates_split_by_window_regressions_and_lost_are_counted() -> None:
    ok = [Event("accepted", None), Event("submitted", None), Event("delivered", None)]
    records = [
        line("4479a", 1, "chaos a hi"), line("4479a", 2, "chaos a hi"),  # in the window
        line("4479b", 2, "chaos b x", [7, 2, 1]), line("4479b", 2, "", [7, 2, 2]),
        line("4479b", 2, "", [7, 2, 2]),  # part 2 twice, outside the window
        line("4479c", 1, "chaos c hi"),
    ]  # fmt: skip
    events = {
        "a": ok, "b": ok,
        "c": [Event("accepted", None), Event("submitted", None)],
        "d": [*ok, Event("deferred", "outcome_unknown"), Event("failed", "outcome_unknown")],
    }  # fmt: skip
    hashes = {"a": {"status": "delivered"}, "b": {"status": "delivered"},
              "c": {"status": "submitted"}, "d": {"status": "failed"}}  # fmt: skip
    verdict = judge(outcome(records, events, hashes, {"gateway": frozenset({"a"})}))
    rows = dict(verdict.rows)
    assert rows["submit_sm accepted by the carrier (PDUs)"] == "6"
    assert rows["ids with >1 copies, inside the crash window"] == "1"
    assert rows["ids with >1 copies, OUTSIDE the crash window"] == "1"
    assert rows["ids with 0 copies at the carrier"] == "1"  # d
    assert rows["  ... last copy sent to a simulator later SIGKILLed"] == "1"  # c
    assert rows["LOST (no final state, no documented hold)"] == "1"
    assert rows["state regressions (a final status followed by another)"] == "1"  # d
    assert rows["(check) delivered with 0 copies at the carrier"] == "0"
    assert len(verdict.failures) == 3


def test_multi_part_ids_missing_a_part_are_shown_with_their_final_states() -> None:
    ok = [Event("accepted", None), Event("submitted", None), Event("delivered", None)]
    failed = [Event("accepted", None), Event("failed", "outcome_unknown")]
    records = [
        line("4479a", 1, "chaos a x", [7, 2, 1]), line("4479a", 1, "", [7, 2, 2]),
        line("4479b", 1, "chaos b x", [8, 2, 1]),  # part 2 never reached the carrier
        line("4479c", 1, "chaos c x", [9, 3, 1]), line("4479c", 1, "", [9, 3, 3]),
        line("4479d", 1, "chaos d hi"),
    ]  # fmt: skip
    hashes = {"a": {"status": "delivered"}, "b": {"status": "failed"},
              "c": {"status": "expired"}, "d": {"status": "delivered"}}  # fmt: skip
    events = {"a": ok, "b": failed, "c": [*ok[:2], Event("expired", "receipt_timeout")], "d": ok}
    verdict = judge(outcome(records, events, hashes, {}))
    rows = dict(verdict.rows)
    assert rows["multi-part ids missing a part at the carrier"] == "2"
    assert rows["  ... their final states"] == "expired 1, failed 1"
    assert verdict.failures == []
    hashes["b"] = {"status": "delivered"}  # one part's receipt said the whole text arrived
    verdict = judge(outcome(records, {**events, "b": ok}, hashes, {}))
    assert verdict.failures == ["1 delivered with a part missing at the carrier"]
    assert verdict.examples[0].startswith("half delivered b: parts at the carrier {1: 1} of 2")


def test_a_clean_run_meets_every_bar() -> None:
    ok = [Event("accepted", None), Event("submitted", None), Event("delivered", None)]
    records = [line(f"4479{i}", 1, f"chaos {i} hi") for i in "abcd"]
    verdict = judge(outcome(records, dict.fromkeys("abcd", ok),
                            {i: {"status": "delivered"} for i in "abcd"}, {}))  # fmt: skip
    assert verdict.failures == []
