"""Part cuts respect grapheme clusters (issue 13 item 8) whenever that costs no extra part.

A handset shows each part as it arrives (and some show parts alone), so a cut inside an
extended grapheme cluster (Unicode UAX #29 §3.1) draws broken glyphs: half a flag, a family
falling apart into people, a skin tone without its hand, an accent on nothing, a conjunct
split from its virama. The segmenter moves such a cut back to the cluster's start when the
rest still fits the same number of parts, and otherwise keeps the plain cut: a cluster longer
than a part must be cut somewhere, and an extra SMS costs more than a glyph. A cut never falls
inside a surrogate pair or between an escape and its code, whatever happens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import compliance.encoding.choose as choose_module
from compliance.encoding import EncodedMessage, Encoding, EncodingProfile, decode_short_message
from compliance.encoding.capacity import UnitKind
from compliance.encoding.graphemes import UnitClusters, cluster_span, clusters, is_boundary
from compliance.encoding.gsm7 import Gsm7Codec, gsm7_codec, udh_septets
from compliance.segment import encode_message

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 11 UTF-16 units
FLAG_FR = "\U0001f1eb\U0001f1f7"  # two regional indicators, 4 units
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone modifier, 4 units
E_ACUTE = "e\u0301"  # e + COMBINING ACUTE ACCENT
KSSA = "\u0915\u094d\u0937"  # KA VIRAMA SSA: one conjunct (GB9c)
HANGUL_JAMO = "\u1100\u1161\u11a8"  # L V T: one syllable (GB6-GB8)

DEFAULT = EncodingProfile(max_parts=255)
WIDE = EncodingProfile(reference_bits=16, max_parts=255)
SAR = EncodingProfile(concatenation="sar", max_parts=255)
PACKED = EncodingProfile(gsm7_packed=True, max_parts=255)
HINDI = EncodingProfile(national_languages=frozenset({"hindi"}), max_parts=255)
LATIN1 = EncodingProfile(allow_latin1=True, max_parts=255)


def _part_texts(message: EncodedMessage) -> list[str]:
    """What each part shows on its own."""
    return [
        decode_short_message(
            part.short_message,
            message.data_coding,
            udhi=bool(part.esm_class & 0x40),
            packed=message.packed,
        ).text
        or ""
        for part in message.parts
    ]


def _cuts(texts: Sequence[str]) -> list[int]:
    """Code point offsets of the part boundaries."""
    cuts, offset = [], 0
    for text in texts[:-1]:
        offset += len(text)
        cuts.append(offset)
    return cuts


# --- examples: one per kind of cluster ----------------------------------------------------


@pytest.mark.parametrize(
    ("cluster", "rule"),
    [
        (FAMILY, "GB11: emoji ZWJ sequence (UTS #51): cut, it shows four people"),
        (FLAG_FR, "GB12/13: regional indicator pair: cut, it shows two letters F and R"),
        (THUMBS_MEDIUM, "GB9: emoji modifier is Extend: cut, a yellow hand and a brown square"),
        (E_ACUTE, "GB9: combining mark: cut, the accent sits on nothing"),
        (KSSA, "GB9c: Indic conjunct: cut, a dead KA with a visible virama"),
        (HANGUL_JAMO, "GB6-GB8: Hangul jamo: cut, loose letters instead of one syllable"),
    ],
)
@pytest.mark.parametrize(("profile", "room"), [(DEFAULT, 67), (WIDE, 66), (SAR, 67)])
def test_a_cluster_at_the_ucs2_cut_moves_whole_to_the_next_part(
    cluster: str, rule: str, profile: EncodingProfile, room: int
) -> None:
    """UAX #29 extended grapheme clusters are what a reader sees as one character. The cluster
    is placed to end one unit past the part, the cut least likely to move on its own."""
    lead = room + 1 - len(cluster.encode("utf-16-be")) // 2
    text = "ж" * lead + cluster + "ж" * 20
    message = encode_message(text, profile, reference=4)
    assert message.encoding is Encoding.ucs2
    assert _part_texts(message) == ["ж" * lead, cluster + "ж" * 20], rule


def test_a_conjunct_at_a_hindi_national_table_cut_moves_whole() -> None:
    """TS 23.038 Annex A's Hindi locking table holds vowel signs and the virama, so GSM-7 text
    has clusters too; 9 octets of UDH (concat + locking shift IE) leave 149 septets a part."""
    text = "न" * 148 + KSSA + "न" * 20
    message = encode_message(text, HINDI, reference=4)
    assert message.encoding is Encoding.gsm7_hindi
    assert _part_texts(message) == ["न" * 148, KSSA + "न" * 20]


@pytest.mark.parametrize(("profile", "room"), [(DEFAULT, 153), (PACKED, 153), (LATIN1, 153)])
def test_cr_lf_at_a_gsm7_cut_stays_together(profile: EncodingProfile, room: int) -> None:
    """UAX #29 GB3: CR LF is one cluster, the only one the GSM-7 default alphabet, its
    extension table and Latin-1 can form. Cut, one part ends on a bare CR (which packed
    GSM-7 must pad, TS 23.038 §6.1.2.3.1) and the next starts with a bare LF."""
    text = "a" * (room - 1) + "\r\n" + "b" * 20
    message = encode_message(text, profile, reference=4)
    assert _part_texts(message) == ["a" * (room - 1), "\r\nb" + "b" * 19]


def test_the_default_alphabet_and_latin1_form_no_cluster_but_cr_lf() -> None:
    """Why plain GSM-7 and Latin-1 skip the cluster lookup unless the text has CR LF: of their
    characters only CR can join a neighbour (UAX #29 GB3), checked pair by pair with \\X."""
    alphabet = sorted(gsm7_codec().charset | {chr(code) for code in range(256)})
    joined = {
        a + b for a in alphabet for b in alphabet if len(clusters(a + b)) == 1 and a + b != "\r\n"
    }
    assert joined == set()


def test_a_cut_inside_a_cluster_is_kept_when_moving_it_would_cost_a_part() -> None:
    """Two full parts with E_ACUTE across the boundary: moving the cut needs a third SMS, and
    an extra SMS is worse than an accent shown on the next part."""
    text = "ж" * 66 + E_ACUTE + "ж" * 66
    message = encode_message(text, DEFAULT, reference=4)
    assert _part_texts(message) == ["ж" * 66 + "e", "\u0301" + "ж" * 66]


def test_a_cluster_longer_than_a_part_is_cut_where_it_must_be() -> None:
    """Zalgo text: one base with 100 combining marks cannot fit 67 units; it is cut, but the
    parts still rejoin to the text and every later cut can still fall between clusters."""
    zalgo = "a" + "\u0301" * 100
    text = zalgo + "ж" * 30 + FAMILY + "ж" * 40
    message = encode_message(text, DEFAULT, reference=4)
    texts = _part_texts(message)
    assert "".join(texts) == text
    assert texts[0] == zalgo[:67]
    assert all(is_boundary(text, cut) for cut in _cuts(texts)[1:])


def test_a_text_of_flags_is_cut_between_flags_until_that_costs_a_part() -> None:
    """Regional indicators pair up from the start of their run (UAX #29 GB12/GB13), so no
    two neighbours in a run of flags mark a sure boundary: the lookup restarts from the
    last cut's cluster instead of the text's start, and every cut falls between flags."""
    flags = "".join(chr(0x1F1E6 + i % 26) + chr(0x1F1E6 + i * 7 % 26) for i in range(160))
    message = encode_message(flags, DEFAULT, reference=4)  # 640 units: 10 parts of 64
    texts = _part_texts(message)
    assert [len(t) for t in texts] == [32] * 10
    assert all(is_boundary(flags, cut) for cut in _cuts(texts))


def test_surrogate_pairs_are_never_split_even_inside_a_long_cluster() -> None:
    """A run of skin-tone modifiers (each a surrogate pair) after one hand is one cluster of
    201 units; it is cut, but only between pairs (UTF-16 §3.9 D91, TS 23.038 §6.2.3)."""
    text = "\U0001f44d" + "\U0001f3fd" * 100
    message = encode_message(text, DEFAULT, reference=4)
    for part in message.parts:
        part.payload.decode("utf-16-be")  # strict: a lone surrogate raises


def test_single_parts_and_plain_gsm7_never_look_clusters_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path stays as fast as before: one GSM-7 part, one UCS-2 part, and multi-part
    GSM-7 without CR LF never build the cluster map."""

    def refuse(*_: object) -> None:
        raise AssertionError("cluster lookup on a path that needs none")

    monkeypatch.setattr(choose_module, "UnitClusters", refuse)
    for text in ("a" * 160, "ж" * 70, FAMILY * 6, "a" * 1000 + "\n\r", "{}" * 300):
        encode_message(text, DEFAULT, reference=4)


# --- properties ---------------------------------------------------------------------------

PIECES = (
    "a", "b", " ", "ж", "中", "😀", "\r", "\n", "\r\n", "€",
    FAMILY, FLAG_FR, THUMBS_MEDIUM, E_ACUTE, KSSA, HANGUL_JAMO,
    "\U0001f1eb", "\u0301", "\u200d", "\u094d", "\U0001f3fd", "\ufe0f", "\u0915", "\u0928",
    "\u093f", "\u0600",  # vowel sign I (SpacingMark), ARABIC NUMBER SIGN (Prepend)
)  # fmt: skip


def _joined(pieces: Sequence[str], longest: int) -> st.SearchStrategy[str]:
    """Texts of a drawn number of pieces, so multi-part texts are as common as short ones."""
    return st.integers(0, longest).flatmap(
        lambda size: st.lists(st.sampled_from(pieces), min_size=size, max_size=size).map("".join)
    )


TEXTS = _joined(PIECES, 160)
GSM_TEXTS = _joined(("a", "b", " ", "\r", "\n", "\r\n", "€", "{"), 500)
HINDI_TEXTS = _joined(("न", "क", KSSA, "\u093f", "\u094d", " ", "\r\n", "a"), 300)
PROFILES = st.sampled_from([DEFAULT, WIDE, SAR, LATIN1, HINDI])


@settings(max_examples=300)
@given(text=TEXTS, index=st.integers(0, 400), data=st.data())
def test_the_local_lookup_agrees_with_segmenting_the_whole_text(
    text: str, index: int, data: st.DataObject
) -> None:
    """cluster_span restarts \\X near the index, or at a known boundary before it; it must
    find the cluster the whole-text segmentation has there (graphemes.py's restart rule)."""
    index = min(index, len(text))
    spans, start = [], 0
    for cluster in clusters(text):
        spans.append((start, start + len(cluster)))
        start += len(cluster)
    expected = next(((a, b) for a, b in spans if a <= index < b), (len(text), len(text)))
    known = data.draw(st.sampled_from([0, *(a for a, _ in spans if a <= index)]))
    assert cluster_span(text, index) == expected
    assert cluster_span(text, index, known) == expected


@settings(max_examples=200)
@given(text=st.one_of(TEXTS, GSM_TEXTS, HINDI_TEXTS), index=st.integers(0, 800))
def test_unit_floor_is_the_last_cluster_start_in_encoded_units(text: str, index: int) -> None:
    """UnitClusters.floor, in UTF-16 units and in septets (default or Hindi tables), is the
    last start of a whole-text cluster at or before the unit asked about."""
    cases: list[tuple[UnitKind, Gsm7Codec | None]] = [
        ("ucs2", None),
        ("septet", gsm7_codec()),
        ("septet", gsm7_codec(6, 6)),
    ]
    for kind, codec in cases:
        if codec is None:
            body, shifted = text.encode("utf-16-be"), frozenset[str]()
            widths = [len(c.encode("utf-16-be")) // 2 for c in text]
        elif codec.encode(text) is None:
            continue
        else:
            body, shifted = codec.encode(text) or b"", codec.shifted
            widths = [len(codec.encode(c) or b"") for c in text]
        char_starts = [0, *itertools.accumulate(widths)]
        unit = max(s for s in char_starts if s <= index)  # asked only at character boundaries
        starts, offset = [], 0
        for cluster in clusters(text):
            starts.append(char_starts[offset])
            offset += len(cluster)
        expected = max((s for s in [*starts, char_starts[-1]] if s <= unit), default=0)
        assert UnitClusters(text, body, kind, shifted).floor(unit) == expected, kind


def _capacity(message: EncodedMessage, profile: EncodingProfile) -> int:
    """Units a part of a multi-part message holds (TS 23.040 §9.2.3.24.1, UDHL included)."""
    udh = 1 + (6 if profile.reference_bits == 16 else 5)
    if message.encoding is Encoding.ucs2:
        return (140 - udh) // 2
    if message.encoding is Encoding.latin1:
        return 140 - udh
    shift = 3 * (bool(message.locking_shift) + bool(message.single_shift))
    return 160 - udh_septets(udh + shift)


def _width(cluster: str, message: EncodedMessage) -> int:
    if message.encoding is Encoding.ucs2:
        return len(cluster.encode("utf-16-be")) // 2
    if message.encoding is Encoding.latin1:
        return len(cluster)
    codec = gsm7_codec(int(message.locking_shift or 0), int(message.single_shift or 0))
    return len(codec.encode(cluster) or b"")


def _greedy(widths: Sequence[int], capacity: int) -> int:
    """Fewest parts for indivisible items of `widths` (greedy is optimal)."""
    parts, used = 1, 0
    for width in widths:
        if used + width > capacity:
            parts, used = parts + 1, 0
        used += width
    return parts


@settings(max_examples=300)
@given(text=st.one_of(TEXTS, GSM_TEXTS, HINDI_TEXTS), profile=PROFILES)
def test_no_cluster_is_split_when_a_split_with_as_many_parts_exists(
    text: str, profile: EncodingProfile
) -> None:
    """The part count is the plain (code point) minimum, and when some cut keeping every
    cluster whole needs no more parts, no cut of ours falls inside a cluster."""
    message = encode_message(text, profile, reference=4)
    texts = _part_texts(message)
    assert "".join(texts) == message.text
    if len(message.parts) == 1:
        event("single part")
        return
    capacity = _capacity(message, profile)
    assert len(message.parts) == _greedy([_width(c, message) for c in message.text], capacity)
    widths = [_width(c, message) for c in clusters(message.text)]
    if max(widths) > capacity or _greedy(widths, capacity) > len(message.parts):
        event("cluster-safe split costs a part")
        return
    event(f"cluster-safe, {message.encoding.value}")
    assert all(is_boundary(message.text, cut) for cut in _cuts(texts))
