"""`make demo`'s progress line and summary (gateway/cli/demo_summary.py), from events as data."""

from __future__ import annotations

from typing import Any

from gateway.cli.demo_summary import Enqueued, Tally, progress_line, summary_text

IDS = ["m1", "m2", "m3", None, "m1", "m4"]  # m1 twice; the fourth entry had no readable id
ENTRIES = ["1-0", "1-1", "1-2", "1-3", "1-4", "1-5"]


def event(message_id: str, status: str, code: str | None = None, reason: str = "") -> Any:
    found: dict[str, Any] = {"id": message_id, "status": status, "ts": "2026-01-01T00:00:00Z"}
    if code is not None:
        found["error"] = {"code": code, "reason": reason}
    return found


def tally_of(*events: Any) -> Tally:
    tally = Tally()
    tally.add_all(events)
    return tally


def test_enqueued_expects_each_id_once_and_unreadable_entries_by_entry_id() -> None:
    enqueued = Enqueued.from_ids(IDS, ENTRIES)
    assert enqueued.entries == 6
    assert enqueued.expected == {"m1", "m2", "m3", "m4", "1-3"}
    assert enqueued.repeated == {"m1": 1}


def test_progress_counts_submitted_and_final_messages() -> None:
    tally = tally_of(
        event("m1", "accepted"),
        event("m1", "submitted"),
        event("m2", "submitted"),
        event("m1", "delivered"),
        event("1-3", "rejected", "invalid_json"),
    )
    line = progress_line(1.04, tally, Enqueued.from_ids(IDS, ENTRIES))
    assert line == "    1.0 s  submitted    2  final    2 of 5"


def test_summary_is_a_table_by_status_with_each_miss_and_the_duplicate_explained() -> None:
    tally = tally_of(
        event("m1", "submitted"),
        event("m1", "delivered"),
        event("m2", "undelivered", "001", "carrier receipt undelivered"),
        event("m3", "failed", "ESME_RINVDSTADR", "carrier answered ESME_RINVDSTADR"),
        event("1-3", "rejected", "invalid_json", "data is not valid JSON"),
        event("m4", "delivered"),
        event("m4", "failed", "late", "a second final event is not counted twice"),
    )
    text = summary_text(tally, Enqueued.from_ids(IDS, ENTRIES), 2.345)
    assert text.splitlines() == [
        "6 entries enqueued for 5 messages; 5 reached a final status in 2.3 s",
        "",
        "status        messages",
        "delivered            2",
        "undelivered          1",
        "failed               1",
        "rejected             1",
        "total                5",
        "",
        "not delivered, and why:",
        "  m2   undelivered  001 (carrier receipt undelivered)",
        "  m3   failed       ESME_RINVDSTADR (carrier answered ESME_RINVDSTADR)",
        "  1-3  rejected     invalid_json (data is not valid JSON)",
        "",
        "1 entry was a duplicate of id m1: acknowledged with no event, by design",
        "  (an id is sent once: the events of its first entry stand for it)",
    ]


def test_summary_names_what_never_reached_a_final_status() -> None:
    tally = tally_of(event("m1", "delivered"), event("stranger", "delivered"))
    enqueued = Enqueued.from_ids(["m1", "m2"], ["1-0", "1-1"])
    lines = summary_text(tally, enqueued, 60.0).splitlines()
    assert lines[0] == (
        "2 entries enqueued for 2 messages; 1 reached a final status in 60.0 s, 1 did not"
    )
    assert "total                1" in lines
    assert lines[-1] == "still without a final status: m2"
