"""The `smsgw inspect` report: what smsgw would send for a text, as a stable dict and a table.

Owns the report's shape and its human rendering. Pure (standard library and compliance only):
the CLI wiring, the route and the compliance verdict are filled in by the caller, which sets
the keys "route" and "compliance" (None here).

JSON keys of `build_inspect_report` (stable; new keys may be added, none renamed):

- "to", "from": the destination and sender as given (or None).
- "encoding": gsm7, gsm7_<language>, ucs2 or latin1; "data_coding": the SMPP data_coding.
- "language", "locking_shift", "single_shift": national language names or None.
- "counts": {"characters", "septets" (None unless GSM-7), "octets", "units"}.
- "segments": SMS the handset receives; "max_parts": the profile's limit.
- "concatenation": none, udh, sar or payload; "reference": the reference used or None.
- "packed": GSM-7 sent 8-in-7.
- "ucs2_forcing_chars": [{"char", "codepoint" ("U+1F600"), "name"}] for characters outside
  the GSM-7 default alphabet and extension table.
- "smart_encoding": {"enabled": bool, "replacements": [{"original", "codepoint",
  "replacement", "count"}] (those applied), "mode" (gsm7_only or reduce_parts), "applied"
  (bool), "decision" (disabled, not_needed, no_lookalikes, not_gsm7, no_saving or applied),
  "reason" (a sentence), "candidate" (None, or what the replaced text would cost:
  {"encoding", "segments", "replacements"})}.
- "parts": [{"seq", "esm_class", "udh_hex", "payload_hex", "short_message_hex", "sm_length",
  "units", "tlvs": [{"tag" ("0x020c"), "name", "value" (int, or hex for octets)}],
  "text" (the characters this part shows on its own)}].
- "grapheme_split": {"cluster_safe" (True when no cut falls inside a grapheme cluster; None
  when nothing is cut by us: one part, message_payload, or refused), "reason", "split_clusters":
  [{"after_part", "cluster", "codepoints"}] (clusters cut because keeping them whole would cost
  a part, or they are longer than one)}.
- "error": None, or {"type": "too_many_parts", "message", "parts", "max_parts"} when the text
  is too long for the profile (then "parts" is empty and the counts describe the cheapest
  encoding).
- "route": None; "compliance": None (filled by the caller).
- "sender": None; with a destination the caller fills {"source_addr", "ton", "ton_name",
  "npi", "npi_name", "kind" (alphanumeric, long_code, short_code), "program" (ten_dlc,
  toll_free, short_code or None), "country"}: the submit_sm source address.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from compliance.encoding import EncodedMessage, EncodingProfile, Replacement, TooManyPartsError
from compliance.encoding.choose import (
    Choice,
    SmartDecision,
    SmartOutcome,
    chunk_texts,
    explain_smart_encoding,
    ucs2_forcing_chars,
)
from compliance.encoding.graphemes import clusters_cut
from compliance.segment import encode_message
from gateway.smpp.constants import TlvTag

Report = dict[str, Any]


def build_inspect_report(
    text: str,
    profile: EncodingProfile,
    *,
    to: str | None,
    sender: str | None,
    reference: int = 0,
    smart: bool | None = None,
) -> Report:
    """Encode `text` for `profile` (a dry run) and describe the result.

    Args:
        text: the message text.
        profile: the carrier's encoding profile.
        to, sender: echoed into the report for the caller's route and compliance checks.
        reference: concatenation reference shown in the UDHs (a dry run allocates none).
        smart: smart-encoding override, as for encode_message.

    Returns:
        A JSON-able dict with the keys listed in the module docstring.
    """
    use_smart = profile.smart_encoding if smart is None else smart
    decision = explain_smart_encoding(text, profile, smart=use_smart)
    try:
        encoded = encode_message(text, profile, reference=reference, smart=smart)
    except TooManyPartsError as error:
        return _rejected_report(profile, to, sender, error, decision, smart=use_smart)
    texts = chunk_texts(decision.chosen) if encoded.concatenation != "payload" else [encoded.text]
    return {
        "to": to,
        "from": sender,
        **_encoding_keys(encoded),
        "max_parts": profile.max_parts,
        "ucs2_forcing_chars": [_char_info(c) for c in encoded.ucs2_forcing_chars],
        "smart_encoding": _smart_info(use_smart, encoded.replacements, decision),
        "parts": [
            {**_part_info(encoded, index), "text": texts[index]}
            for index in range(len(encoded.parts))
        ],
        "grapheme_split": _grapheme_info(encoded, texts),
        "error": None,
        "route": None,
        "compliance": None,
        "sender": None,
    }


def _encoding_keys(encoded: EncodedMessage) -> Report:
    return {
        "encoding": encoded.encoding.value,
        "data_coding": encoded.data_coding,
        "language": _name(encoded.language),
        "locking_shift": _name(encoded.locking_shift),
        "single_shift": _name(encoded.single_shift),
        "counts": {
            "characters": encoded.characters,
            "septets": encoded.septets,
            "octets": encoded.octets,
            "units": encoded.units,
        },
        "segments": encoded.segments,
        "concatenation": encoded.concatenation,
        "reference": encoded.reference,
        "packed": encoded.packed,
    }


def _rejected_report(
    profile: EncodingProfile,
    to: str | None,
    sender: str | None,
    error: TooManyPartsError,
    decision: SmartDecision,
    *,
    smart: bool,
) -> Report:
    choice = decision.chosen
    septets = choice.units if choice.kind == "septet" else None
    forcing = () if choice.encoding.value == "gsm7" else ucs2_forcing_chars(choice.text)
    return {
        "to": to,
        "from": sender,
        "encoding": choice.encoding.value,
        "data_coding": None,
        "language": None,
        "locking_shift": None,
        "single_shift": None,
        "counts": {
            "characters": len(choice.text),
            "septets": septets,
            "octets": (7 * septets + 7) // 8 if septets is not None else len(choice.body),
            "units": choice.units,
        },
        "segments": error.parts,
        "concatenation": None,
        "reference": None,
        "packed": None,
        "max_parts": profile.max_parts,
        "ucs2_forcing_chars": [_char_info(c) for c in forcing],
        "smart_encoding": _smart_info(smart, choice.replacements, decision),
        "parts": [],
        "grapheme_split": {
            "cluster_safe": None,
            "reason": "not sent: too many parts",
            "split_clusters": [],
        },
        "error": {
            "type": "too_many_parts",
            "message": str(error),
            "parts": error.parts,
            "max_parts": error.max_parts,
        },
        "route": None,
        "compliance": None,
        "sender": None,
    }


def _smart_info(
    enabled: bool, replacements: tuple[Replacement, ...], decision: SmartDecision
) -> Report:
    candidate = decision.replaced
    return {
        "enabled": enabled,
        "replacements": _replacements_info(replacements),
        "mode": decision.mode,
        "applied": decision.outcome is SmartOutcome.applied,
        "decision": decision.outcome.value,
        "reason": _smart_reason(decision),
        "candidate": None
        if candidate is None
        else {
            "encoding": candidate.encoding.value,
            "segments": len(candidate.chunks),
            "replacements": _replacements_info(candidate.replacements),
        },
    }


def _replacements_info(replacements: tuple[Replacement, ...]) -> list[Report]:
    return [
        {
            "original": r.original,
            "codepoint": _codepoint(r.original),
            "replacement": r.replacement,
            "count": r.occurrences,
        }
        for r in replacements
    ]


def _smart_reason(decision: SmartDecision) -> str:
    original, replaced = decision.original, decision.replaced
    outcome = decision.outcome
    if outcome is SmartOutcome.disabled:
        return "smart encoding is off"
    if outcome is SmartOutcome.not_needed:
        return "the text is GSM-7 as it stands"
    if outcome is SmartOutcome.no_lookalikes:
        return "no character outside GSM-7 has a GSM-7 look-alike"
    assert replaced is not None  # noqa: S101 - every other outcome tried a replacement
    if outcome is SmartOutcome.not_gsm7:
        return (
            f"replacing would still need {_cost(replaced)}; mode gsm7_only changes the text"
            " only to make it GSM-7"
        )
    if outcome is SmartOutcome.no_saving:
        return f"replacing would need {_cost(replaced)}, no cheaper than {_cost(original)}"
    return f"replacing needs {_cost(replaced)} instead of {_cost(original)}"


def _cost(choice: Choice) -> str:
    parts = len(choice.chunks)
    return f"{parts} {choice.encoding.value} part{'s' if parts > 1 else ''}"


def _grapheme_info(encoded: EncodedMessage, texts: list[str]) -> Report:
    if encoded.concatenation == "payload":
        return {
            "cluster_safe": None,
            "reason": "message_payload: the SMSC cuts the text",
            "split_clusters": [],
        }
    if len(texts) == 1:
        return {"cluster_safe": None, "reason": "one part: nothing is cut", "split_clusters": []}
    cuts, offset = [], 0
    for part_text in texts[:-1]:
        offset += len(part_text)
        cuts.append(offset)
    split = clusters_cut(encoded.text, cuts)
    return {
        "cluster_safe": not split,
        "reason": "every cut falls between grapheme clusters (UAX #29)"
        if not split
        else "keeping these clusters whole would need another part, or they are longer than one",
        "split_clusters": [
            {
                "after_part": cuts.index(cut) + 1,
                "cluster": cluster,
                "codepoints": [_codepoint(char) for char in cluster],
            }
            for cut, cluster in split
        ],
    }


def _part_info(encoded: EncodedMessage, index: int) -> Report:
    part = encoded.parts[index]
    return {
        "seq": part.seq,
        "esm_class": part.esm_class,
        "udh_hex": part.udh.hex(),
        "payload_hex": part.payload.hex(),
        "short_message_hex": part.short_message.hex(),
        "sm_length": len(part.short_message),
        "units": part.units,
        "tlvs": [_tlv_info(tag, value) for tag, value in part.tlvs.items()],
    }


def _tlv_info(tag: int, value: int | str | bytes) -> Report:
    try:
        name: str | None = TlvTag(tag).name
    except ValueError:
        name = None
    shown: int | str = value.hex() if isinstance(value, bytes) else value
    return {"tag": f"0x{tag:04x}", "name": name, "value": shown}


def _char_info(char: str) -> Report:
    return {"char": char, "codepoint": _codepoint(char), "name": unicodedata.name(char, None)}


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _name(value: Any) -> str | None:
    return None if value is None else str(value.name)


def render_inspect_text(report: Report) -> str:
    """A human-readable table of a report from build_inspect_report (route/compliance too)."""
    counts = report["counts"]
    lines = [
        f"to: {report['to'] or '-'}    from: {report['from'] or '-'}",
        f"encoding: {report['encoding']}"
        + (f" (language {report['language']})" if report["language"] else "")
        + f"    data_coding: {_show(report['data_coding'])}",
        f"characters: {counts['characters']}    septets: {_show(counts['septets'])}"
        f"    octets: {counts['octets']}    units: {counts['units']}",
        f"segments: {report['segments']} (max {report['max_parts']})"
        f"    concatenation: {_show(report['concatenation'])}"
        f"    reference: {_show(report['reference'])}",
    ]
    if report["ucs2_forcing_chars"]:
        forcing = ", ".join(
            f"{c['char']!r} {c['codepoint']} {c['name'] or ''}".rstrip()
            for c in report["ucs2_forcing_chars"]
        )
        lines.append(f"outside GSM-7: {forcing}")
    smart = report["smart_encoding"]
    if smart["replacements"]:
        changes = ", ".join(
            f"{r['original']!r}->{r['replacement']!r} x{r['count']}" for r in smart["replacements"]
        )
        lines.append(f"smart encoding replaced: {changes}")
    if smart["enabled"]:
        lines.append(f"smart encoding ({smart['mode']}): {smart['decision']}, {smart['reason']}")
    lines.extend(
        f"cluster cut after part {split['after_part']}: {' '.join(split['codepoints'])}"
        for split in report["grapheme_split"]["split_clusters"]
    )
    if report["error"]:
        lines.append(f"REJECTED: {report['error']['message']}")
    lines += _parts_table(report["parts"])
    for key in ("sender", "route", "compliance", "plan"):
        if report.get(key) is not None:
            lines += nested_lines(key, report[key])
    return "\n".join(lines)


def nested_lines(key: str, value: object, indent: str = "") -> list[str]:
    """`key: value` lines for a JSON-shaped value: a mapping opens an indented block (two
    spaces a level), a list of scalars is one comma-separated line, a list of mappings is a
    block of `[n]` items, None and empty lists show as `-`."""
    if isinstance(value, dict):
        lines = [f"{indent}{key}:"]
        for name, item in value.items():
            lines += nested_lines(str(name), item, indent + "  ")
        return lines
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        lines = [f"{indent}{key}:"]
        for number, item in enumerate(value):
            lines += nested_lines(f"[{number}]", item, indent + "  ")
        return lines
    if isinstance(value, list):
        return [f"{indent}{key}: {', '.join(map(str, value)) if value else '-'}"]
    return [f"{indent}{key}: {_show(value)}"]


def _parts_table(parts: list[Report]) -> list[str]:
    if not parts:
        return []
    rows = [f"{'part':>4}  {'esm':>4}  {'units':>5}  {'sm_len':>6}  {'udh':<16}  payload / tlvs"]
    for part in parts:
        tlvs = " ".join(f"{t['name'] or t['tag']}={_short(t['value'])}" for t in part["tlvs"])
        rows.append(
            f"{part['seq']:>4}  0x{part['esm_class']:02x}  {part['units']:>5}"
            f"  {part['sm_length']:>6}  {part['udh_hex'] or '-':<16}"
            f"  {_short(part['payload_hex']) or '-'} {tlvs}".rstrip()
        )
    return rows


def _short(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: object) -> str:
    return "-" if value is None else str(value)
