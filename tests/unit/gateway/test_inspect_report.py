"""`smsgw inspect` report: stable keys, what forced UCS-2, smart replacements, parts."""

from __future__ import annotations

import json
from typing import Any

from compliance.encoding import EncodingProfile
from gateway.inspect_report import build_inspect_report, render_inspect_text

STABLE_KEYS = {
    "to", "from", "encoding", "data_coding", "language", "locking_shift", "single_shift",
    "counts", "segments", "concatenation", "reference", "packed", "max_parts",
    "ucs2_forcing_chars", "smart_encoding", "parts", "error", "route", "compliance",
    "sender",
}  # fmt: skip
PART_KEYS = {
    "seq", "esm_class", "udh_hex", "payload_hex", "short_message_hex", "sm_length", "units",
    "tlvs",
}  # fmt: skip


def report(text: str, **options: Any) -> dict[str, Any]:
    built = build_inspect_report(text, EncodingProfile(), to=None, sender=None, **options)
    json.dumps(built)  # JSON-able as it stands
    return built


def test_report_has_exactly_the_documented_keys() -> None:
    built = report("hello")
    assert set(built) == STABLE_KEYS
    assert all(set(part) == PART_KEYS for part in built["parts"])


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
