"""Choosing the encoding of a text: the cheapest one that represents it exactly.

Owns the decision rule. Candidates are GSM-7 with the default tables, GSM-7 with the carrier's
national language tables (TS 23.038 Annex A; same-language locking and/or single shift), Latin-1
when the carrier allows it, and UCS-2. The winner has the fewest parts; ties go to the more
widely supported encoding: GSM-7 default, then UCS-2, then Latin-1, then national tables (single
shift, locking shift, both). National tables and Latin-1 are therefore used only when they save
parts. With smart encoding the same candidates are computed for the look-alike-replaced text,
which wins only when strictly better (fewer parts, or GSM-7 where the original needs UCS-2).
Under the profile's default smart_encoding_mode "gsm7_only" only its GSM-7 candidates (default
or national tables) may win: changing what the reader sees is worth it to leave UCS-2, not to
save a UCS-2 part; "reduce_parts" lets every candidate compete. `explain_smart_encoding` says
which way it went and why (for `smsgw inspect`).

A choice already holds its text cut into parts (capacity.py), because the part count depends on
where escapes and surrogate pairs fall; segment.py turns the chunks into PDUs. Multi-part cuts
keep grapheme clusters whole when that costs no part; single parts never look clusters up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from compliance.encoding.capacity import UnitKind, fits_one_part, part_capacity, split_body
from compliance.encoding.graphemes import UnitClusters
from compliance.encoding.gsm7 import ESC, MAX_SEPTETS, gsm7_codec
from compliance.encoding.model import (
    LOCKING_SHIFT_LANGUAGES,
    Encoding,
    EncodingProfile,
    NationalLanguage,
    Replacement,
    SmartMode,
    national_encoding,
)
from compliance.encoding.smart import apply_smart_encoding
from compliance.encoding.udh import CONCAT_IE_OCTETS, shift_ies

_RANK_GSM7: Final = 0
_RANK_UCS2: Final = 1
_RANK_LATIN1: Final = 2
_RANK_NATIONAL: Final = 3  # + 0 single shift, + 1 locking shift, + 2 both

_DEFAULT_CODEC: Final = gsm7_codec(0, 0)


@dataclass(slots=True, kw_only=True)
class Choice:
    """The chosen encoding of one text, its encoded form and its cut into parts.

    Attributes:
        text: the text encoded (after smart replacements when those won).
        kind: the unit of `body`: unpacked septets, octets, or UTF-16BE code units.
        body: the whole encoded text; chunks: `body` cut into parts (one for a single part).
        shift_elements: the national language IEs every part's UDH carries (b"" if none).
        locking, single: national language ids of the tables used (0 = default).
        replacements: smart-encoding substitutions applied to reach `text`.
    """

    text: str
    encoding: Encoding
    kind: UnitKind
    body: bytes
    chunks: list[bytes]
    rank: int
    shift_elements: bytes = b""
    locking: int = 0
    single: int = 0
    replacements: tuple[Replacement, ...] = ()

    @property
    def units(self) -> int:
        """Septets, octets or UTF-16 code units of the whole text."""
        return len(self.body) // 2 if self.kind == "ucs2" else len(self.body)

    def cost(self) -> tuple[int, int, bool]:
        """Sort key: fewer parts, then better supported, then unchanged text."""
        return (len(self.chunks), self.rank, bool(self.replacements))


class SmartOutcome(enum.StrEnum):
    """What smart encoding did to a text, and why."""

    disabled = "disabled"  # smart encoding is off for this message
    not_needed = "not_needed"  # the text is GSM-7 (default tables) as it stands
    no_lookalikes = "no_lookalikes"  # no character has a replacement
    not_gsm7 = "not_gsm7"  # gsm7_only: the replaced text would still need UCS-2 or Latin-1
    no_saving = "no_saving"  # the replaced text costs as many parts (or more)
    applied = "applied"  # the replaced text is sent


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartDecision:
    """Why smart encoding was or was not applied (see `explain_smart_encoding`).

    Attributes:
        outcome: what happened; applied means `chosen` is `replaced`, else `original`.
        mode: the profile's smart_encoding_mode.
        original: the cheapest choice for the text as it is.
        replaced: the cheapest choice for the replaced text that `mode` allows (when none is
            allowed, the cheapest of all); None when no replacement was tried.
    """

    outcome: SmartOutcome
    mode: SmartMode
    original: Choice
    replaced: Choice | None

    @property
    def chosen(self) -> Choice:
        """The choice sent."""
        if self.outcome is SmartOutcome.applied and self.replaced is not None:
            return self.replaced
        return self.original


def choose_encoding(text: str, profile: EncodingProfile, *, smart: bool) -> Choice:
    """The cheapest exact encoding of `text` for `profile` (see the module docstring)."""
    body = _DEFAULT_CODEC.encode(text)
    packed = profile.gsm7_packed
    if body is not None and fits_one_part(body, "septet", MAX_SEPTETS, packed=packed):
        # the common case: one GSM-7 part
        return Choice(
            text=text, encoding=Encoding.gsm7, kind="septet", body=body, chunks=[body], rank=0
        )
    return choose_for_default_body(text, body, profile, smart=smart)


def choose_for_default_body(
    text: str, default_body: bytes | None, profile: EncodingProfile, *, smart: bool
) -> Choice:
    """`choose_encoding` for a caller that already has `text` in the default GSM-7 tables
    (`default_body`: its septets, None when it has none), so the text is encoded once."""
    original, outcome, replaced = _choose(text, profile, default_body, smart=smart)
    return replaced if outcome is SmartOutcome.applied and replaced is not None else original


def explain_smart_encoding(text: str, profile: EncodingProfile, *, smart: bool) -> SmartDecision:
    """The choice for `text` with the smart-encoding decision behind it (a dry run's view)."""
    original, outcome, replaced = _choose(text, profile, _DEFAULT_CODEC.encode(text), smart=smart)
    return SmartDecision(
        outcome=outcome, mode=profile.smart_encoding_mode, original=original, replaced=replaced
    )


def chunk_texts(choice: Choice) -> list[str]:
    """The characters of each of `choice`'s chunks (what each part shows on its own)."""
    if choice.kind == "ucs2":
        return [chunk.decode("utf-16-be", "surrogatepass") for chunk in choice.chunks]
    if choice.kind == "octet":
        return [chunk.decode("latin-1") for chunk in choice.chunks]
    codec = gsm7_codec(choice.locking, choice.single)
    return [codec.decode(chunk) for chunk in choice.chunks]


def _choose(
    text: str, profile: EncodingProfile, body: bytes | None, *, smart: bool
) -> tuple[Choice, SmartOutcome, Choice | None]:
    """(the choice for `text` as it is, what smart encoding did, the replaced text's choice)."""
    original = _cheapest(_candidates(text, profile, body, ()))
    if not smart:
        return original, SmartOutcome.disabled, None
    if body is not None:
        return original, SmartOutcome.not_needed, None
    replaced_text, replacements = apply_smart_encoding(text)
    if not replacements:
        return original, SmartOutcome.no_lookalikes, None
    default_body = _DEFAULT_CODEC.encode(replaced_text)
    candidates = _candidates(replaced_text, profile, default_body, replacements)
    if profile.smart_encoding_mode == "gsm7_only":
        allowed = [c for c in candidates if c.kind == "septet"]
        if not allowed:
            return original, SmartOutcome.not_gsm7, min(candidates, key=Choice.cost)
        candidates = allowed
    replaced = min(candidates, key=Choice.cost)
    if replaced.cost() < original.cost():
        return original, SmartOutcome.applied, replaced
    return original, SmartOutcome.no_saving, replaced


def _cheapest(candidates: list[Choice]) -> Choice:
    """The first candidate of least cost (most texts have one candidate: nothing to rank)."""
    return candidates[0] if len(candidates) == 1 else min(candidates, key=Choice.cost)


def binary_choice(data: bytes, profile: EncodingProfile) -> Choice:
    """8-bit data (data_coding 4) cut into parts: never chosen for text, only asked for."""
    chunks = _split(data, "octet", b"", profile)
    return Choice(text="", encoding=Encoding.binary, kind="octet", body=data, chunks=chunks, rank=0)


def ucs2_forcing_chars(text: str) -> tuple[str, ...]:
    """Distinct characters of `text` outside GSM-7 default tables, in order of appearance."""
    outside = set(text) - _DEFAULT_CODEC.charset
    return tuple(sorted(outside, key=text.index))


def _candidates(
    text: str,
    profile: EncodingProfile,
    default_body: bytes | None,
    replacements: tuple[Replacement, ...],
) -> list[Choice]:
    found: list[Choice] = []
    default = (
        _septet_choice(text, default_body, profile, 0, 0, replacements)
        if default_body is not None
        else None
    )
    if default is not None:
        found.append(default)
    if default_body is None or ESC in default_body:
        found += _national_choices(text, profile, replacements)
        if profile.allow_latin1:
            found += _latin1_choice(text, profile, replacements)
    if default_body is None:
        body = text.encode("utf-16-be", "surrogatepass")
        chunks = _split(body, "ucs2", b"", profile, text)
        found.append(
            Choice(
                text=text,
                encoding=Encoding.ucs2,
                kind="ucs2",
                body=body,
                chunks=chunks,
                rank=_RANK_UCS2,
                replacements=replacements,
            )
        )
    return found


def _national_choices(
    text: str, profile: EncodingProfile, replacements: tuple[Replacement, ...]
) -> list[Choice]:
    found: list[Choice] = []
    for language in profile.languages if profile.national_languages else ():
        for locking, single in _table_pairs(language):
            body = gsm7_codec(locking, single).encode(text)
            if body is not None:
                choice = _septet_choice(text, body, profile, locking, single, replacements)
                if choice is not None:
                    found.append(choice)
    return found


def _table_pairs(language: NationalLanguage) -> list[tuple[int, int]]:
    pairs = [(0, int(language))]
    if language in LOCKING_SHIFT_LANGUAGES:
        pairs += [(int(language), 0), (int(language), int(language))]
    return pairs


def _septet_choice(
    text: str,
    body: bytes,
    profile: EncodingProfile,
    locking: int,
    single: int,
    replacements: tuple[Replacement, ...],
) -> Choice | None:
    elements = shift_ies(locking, single)
    chunks = _split(body, "septet", elements, profile, text, locking=locking, single=single)
    if elements and len(chunks) > 1 and profile.concatenation != "udh":
        # National language IEs ride in the UDH: with SAR or message_payload the SMSC builds
        # the concatenation header and cannot carry them.
        return None
    national = locking or single
    return Choice(
        text=text,
        encoding=national_encoding(NationalLanguage(national)) if national else Encoding.gsm7,
        kind="septet",
        body=body,
        chunks=chunks,
        rank=_national_rank(locking, single) if national else _RANK_GSM7,
        shift_elements=elements,
        locking=locking,
        single=single,
        replacements=replacements,
    )


def _national_rank(locking: int, single: int) -> int:
    return _RANK_NATIONAL + (2 if locking and single else 1 if locking else 0)


def _latin1_choice(
    text: str, profile: EncodingProfile, replacements: tuple[Replacement, ...]
) -> list[Choice]:
    try:
        body = text.encode("latin-1")
    except UnicodeEncodeError:
        return []
    chunks = _split(body, "octet", b"", profile, text)
    return [
        Choice(
            text=text,
            encoding=Encoding.latin1,
            kind="octet",
            body=body,
            chunks=chunks,
            rank=_RANK_LATIN1,
            replacements=replacements,
        )
    ]


def _split(
    body: bytes,
    kind: UnitKind,
    elements: bytes,
    profile: EncodingProfile,
    text: str = "",
    *,
    locking: int = 0,
    single: int = 0,
) -> list[bytes]:
    """`body` (the encoding of `text`) cut into parts for `profile`, every part's UDH also
    carrying `elements`; a multi-part cut respects grapheme clusters when that costs no part."""
    packed = profile.gsm7_packed
    single_udh_octets = len(elements) + 1 if elements else 0
    if fits_one_part(body, kind, part_capacity(kind, single_udh_octets), packed=packed):
        return [body]
    udh_octets = 1 + CONCAT_IE_OCTETS[profile.reference_bits] + len(elements)
    clusters = _unit_clusters(text, body, kind, locking=locking, single=single)
    return split_body(body, kind, part_capacity(kind, udh_octets), packed=packed, clusters=clusters)


def _unit_clusters(
    text: str, body: bytes, kind: UnitKind, *, locking: int = 0, single: int = 0
) -> UnitClusters | None:
    """The clusters of `text` in `body`'s units, or None when no cut can fall inside one.

    The GSM-7 default alphabet with its extension table, and Latin-1, hold no combining mark,
    joiner, regional indicator or jamo: their only cluster of two characters is CR LF (UAX #29
    GB3), so they skip the lookup unless the text has one. National tables (Indic vowel signs
    and viramas, TS 23.038 Annex A) and UCS-2 always take it.
    """
    national = locking or single
    if kind != "ucs2" and not national and "\r\n" not in text:
        return None
    shifted = gsm7_codec(locking, single).shifted if kind == "septet" else frozenset()
    return UnitClusters(text, body, kind, shifted)
