"""`smsgw inspect` report: stable keys, what forced UCS-2, smart replacements, parts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance.encoding import EncodingProfile
from gateway.cli.inspect_report import build_inspect_report, nested_lines, render_inspect_text

STABLE_KEYS = {
    "to", "from", "encoding", "data_coding", "language", "locking_shift", "single_shift",
    "counts", "segments", "concatenation", "reference", "packed", "max_parts",
    "ucs2_forcing_chars", "smart_encoding", "parts", "error", "route", "compliance",
    "sender",
    "grapheme_split",
}  # fmt: skip
PART_KEYS = {
    "seq", "esm_class", "udh_hex", "payload_hex", "short_message_hex", "sm_length", "units",
    "tlvs", "text",
}  # fmt: skip
SMART_KEYS = {"enabled", "replacements", "mode", "applied", "decision", "reason", "candidate"}
SPLIT_KEYS = {"cluster_safe", "reason", "split_clusters"}
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


def report(text: str, **options: Any) -> dict[str, Any]:
    built = build_inspect_report(text, EncodingProfile(), to=None, sender=None, **options)
    json.dumps(built)  # JSON-able as it stands
    return built


@pytest.mark.parametrize(
    "text", ["hello", "ж" * 100, "y" * 153 * 11], ids=["one", "two", "refused"]
)
def test_report_has_exactly_the_documented_keys(text: str) -> None:
    """Keys are only ever added (issue 13: grapheme_split, parts[].text, smart decision)."""
    built = report(text)
    assert set(built) == STABLE_KEYS
    assert all(set(part) == PART_KEYS for part in built["parts"])
    assert set(built["smart_encoding"]) == SMART_KEYS
    assert set(built["grapheme_split"]) == SPLIT_KEYS


def test_gsm_text_with_an_extension_character_costs_two_septets() -> None:
    built = report("Price 5€")
    assert built["encoding"] == "gsm7"
    assert built["counts"] == {
        "characters": 8,
        "septets": 9,
        "octets": 8,
        "units": 9,
    }  # packed: 9 x 7 bits
    assert built["parts"][0]["short_message_hex"] == "507269636520351b65"


def test_the_characters_that_forced_ucs2_are_named() -> None:
    built = report("Hi 😀 “x”")
    assert built["encoding"] == "ucs2"
    assert built["data_coding"] == 8
    forcing = built["ucs2_forcing_chars"]
    assert [c["codepoint"] for c in forcing] == ["U+1F600", "U+201C", "U+201D"]


def test_smart_encoding_keeps_gsm7_and_reports_each_replacement() -> None:
    built = report("“Hi” — ok…", smart=True)
    assert built["encoding"] == "gsm7"
    smart = built["smart_encoding"]
    assert smart["enabled"] is True
    changes = {(r["original"], r["replacement"], r["count"]) for r in smart["replacements"]}
    assert changes == {("“", '"', 1), ("”", '"', 1), ("—", "-", 1), ("…", "...", 1)}


def test_long_text_lists_each_part_with_its_udh() -> None:
    built = report("x" * 161, reference=7)
    assert built["segments"] == 2
    udhs = [part["udh_hex"] for part in built["parts"]]
    assert udhs == ["050003070201", "050003070202"]


def test_too_many_parts_is_reported_not_raised() -> None:
    built = report("y" * 153 * 11)
    assert built["error"] is not None
    assert built["parts"] == []
    assert "11" in render_inspect_text(built)


def test_smart_encoding_decision_is_reported_with_its_reason() -> None:
    """The replaced text would still be UCS-2 (the emoji), so the default mode keeps it."""
    built = report("“Dinner” at 8 😀", smart=True)
    smart = built["smart_encoding"]
    assert (smart["mode"], smart["applied"], smart["decision"]) == ("gsm7_only", False, "not_gsm7")
    assert smart["replacements"] == []
    assert smart["candidate"]["encoding"] == "ucs2"
    assert [r["codepoint"] for r in smart["candidate"]["replacements"]] == ["U+201C", "U+201D"]
    assert "only to make it GSM-7" in smart["reason"]
    applied = report("“Hi” — ok…", smart=True)["smart_encoding"]
    assert (applied["applied"], applied["decision"]) == (True, "applied")
    assert applied["reason"] == "replacing needs 1 gsm7 part instead of 1 ucs2 part"
    assert report("hello")["smart_encoding"]["decision"] == "disabled"
    assert "not_gsm7" in render_inspect_text(report("“Dinner” at 8 😀", smart=True))


def test_grapheme_safe_split_shows_each_part_text() -> None:
    """A family emoji (one UAX #29 cluster) at the cut moves whole to part 2."""
    built = report("ж" * 60 + FAMILY + "ж" * 20, reference=7)
    assert [part["text"] for part in built["parts"]] == ["ж" * 60, FAMILY + "ж" * 20]
    assert built["grapheme_split"] == {
        "cluster_safe": True,
        "reason": "every cut falls between grapheme clusters (UAX #29)",
        "split_clusters": [],
    }


def test_a_cluster_cut_to_save_a_part_is_named() -> None:
    """e + COMBINING ACUTE across two full parts: a third part would be needed to keep it."""
    built = report("ж" * 66 + "e\u0301" + "ж" * 66)
    assert built["segments"] == 2
    split = built["grapheme_split"]
    assert split["cluster_safe"] is False
    assert split["split_clusters"] == [
        {"after_part": 1, "cluster": "e\u0301", "codepoints": ["U+0065", "U+0301"]}
    ]
    assert "cluster cut after part 1: U+0065 U+0301" in render_inspect_text(built)


def test_single_part_and_refused_texts_report_no_cut() -> None:
    assert report("hello")["grapheme_split"]["cluster_safe"] is None
    assert report("y" * 153 * 11)["grapheme_split"]["cluster_safe"] is None


def test_route_and_compliance_render_as_indented_key_value_lines() -> None:
    """Human output shows nested values as `key: value` lines, never a Python dict."""
    built = report("hello")
    built["route"] = {"carriers": ["sim", "backup"], "error": None}
    quiet = {"zones": ["Europe/London"], "fallbacks": []}
    built["compliance"] = {"outcome": "allow", "flags": [], "quiet_hours": quiet}
    text = render_inspect_text(built)
    assert "{" not in text
    assert "'" not in text
    assert text.splitlines()[-9:] == [
        "route:",
        "  carriers: sim, backup",
        "  error: -",
        "compliance:",
        "  outcome: allow",
        "  flags: -",
        "  quiet_hours:",
        "    zones: Europe/London",
        "    fallbacks: -",
    ]


def test_nested_lines_numbers_the_mappings_of_a_list() -> None:
    assert nested_lines("tlvs", [{"tag": 1}, {"tag": 2}]) == [
        "tlvs:", "  [0]:", "    tag: 1", "  [1]:", "    tag: 2",
    ]  # fmt: skip
