"""Properties of the segmenter: any text and profile; parts decode, fit, rejoin and cost least.

`encode_message` is checked against our own decoder (compliance.encoding.decode and the
Reassembler) and against an oracle that counts parts from per-character widths, for texts mixing
the GSM-7 default alphabet, its extension table (TS 23.038 §6.2.1.1), Turkish / Spanish /
Portuguese letters (Annex A), smart-encoding look-alikes, astral characters and CJK, over
profiles covering UDH with 8- and 16-bit references (TS 23.040 §9.2.3.24.1/.8), SAR TLVs,
message_payload, packed GSM-7, national shift tables, Latin-1 and smart encoding. Exact
boundaries (160/161, 153*k, 70/71, 67*k, escapes and surrogate pairs at the cut, max_parts) are
pinned by examples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.encoding import (
    DecodedText,
    EncodedMessage,
    Encoding,
    EncodingProfile,
    Part,
    Reassembler,
    TooManyPartsError,
    concat_from_sar,
    decode_short_message,
)
from compliance.encoding.choose import explain_smart_encoding
from compliance.encoding.gsm7 import gsm7_codec
from compliance.encoding.model import LOCKING_SHIFT_LANGUAGES, NationalLanguage
from compliance.encoding.udh import parse_udh
from compliance.errors import ComplianceError
from compliance.segment import _build_parts, _message, encode_message

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "€{}[]~^|\\\x0c"
TURKISH = "çğĞıİşŞ"
SPANISH = "çáíóúÁÍÓÚ"
PORTUGUESE = "çáíóúãõâêôÃÕÂÊÔÀΦΓΩ"
LATIN1 = "àáâãçêëíîïðñóôõ÷ýþÿ¢©®°±²µ¶»¼½¾"
LOOKALIKES = "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u2022\u200b\u00d7"
ASTRAL = "😀🎉👍🚚𝄞🇫🇷"
CJK_AND_OTHERS = "中文字日本語한국어Жжαβ\u0301\x00\t`"
ALPHABETS = (
    GSM_BASIC,
    GSM_BASIC + GSM_EXTENSION,
    "ab\r€{",  # dense escapes and CRs: cuts land on them often
    GSM_BASIC + TURKISH,
    GSM_BASIC + GSM_EXTENSION + SPANISH,
    GSM_BASIC + PORTUGUESE,
    GSM_BASIC + LOOKALIKES,
    GSM_BASIC + LATIN1,
    "aж😀中",  # dense surrogate pairs
    GSM_BASIC + GSM_EXTENSION + ASTRAL + CJK_AND_OTHERS,
)

TSP = frozenset({"turkish", "spanish", "portuguese"})
PROFILES: dict[str, EncodingProfile] = {
    "udh8": EncodingProfile(max_parts=255),
    "udh16": EncodingProfile(reference_bits=16, max_parts=255),
    "sar": EncodingProfile(concatenation="sar", max_parts=255),
    "payload": EncodingProfile(concatenation="payload", max_parts=255),
    "packed": EncodingProfile(gsm7_packed=True, max_parts=255),
    "packed_payload": EncodingProfile(gsm7_packed=True, concatenation="payload", max_parts=255),
    "national": EncodingProfile(national_languages=TSP, max_parts=255),
    "national_packed16": EncodingProfile(
        national_languages=TSP, gsm7_packed=True, reference_bits=16, max_parts=255
    ),
    "national_sar": EncodingProfile(national_languages=TSP, concatenation="sar", max_parts=255),
    "smart": EncodingProfile(smart_encoding=True, max_parts=255),
    "smart_national_latin1": EncodingProfile(
        smart_encoding=True, national_languages=TSP, allow_latin1=True, max_parts=255
    ),
    "latin1_sar": EncodingProfile(allow_latin1=True, concatenation="sar", max_parts=255),
}
UNPACKED = {name: p for name, p in PROFILES.items() if not p.gsm7_packed}

CUTS = (70, 160, *(67 * k for k in range(1, 5)), *(152 * k for k in range(1, 4)))


def _around_cut(cut: int, shift: int, filler: str, special: str, tail: str) -> str:
    """`special` (an escape, a CR, a surrogate pair, a national letter) placed at a part cut."""
    return filler * (cut + shift) + special + tail


TEXTS = st.one_of(
    st.tuples(st.sampled_from(ALPHABETS), st.integers(0, 700)).flatmap(
        lambda drawn: st.text(alphabet=drawn[0], min_size=drawn[1], max_size=drawn[1] + 20)
    ),
    st.builds(
        _around_cut,
        st.sampled_from(CUTS),
        st.integers(-3, 2),
        st.sampled_from(["a", "ж", "ğ", "á", "{"]),
        st.sampled_from(["€", "\r", "\r\r", "😀", "ğ", "ç", "é", "a"]),
        st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=30),
    ),
    st.text(
        alphabet=st.one_of(
            st.sampled_from(GSM_BASIC + GSM_EXTENSION + PORTUGUESE + LOOKALIKES + ASTRAL),
            st.characters(exclude_categories=["Cs"]),
        ),
        max_size=400,
    ),
)
NAMED_PROFILES = st.sampled_from(sorted(PROFILES.items()))
REFERENCES = st.integers(0, 255)

TLV_MESSAGE_PAYLOAD = 0x0424
UDHI = 0x40


# --- helpers ------------------------------------------------------------------------------


def _user_data(part: Part, message: EncodedMessage) -> tuple[bytes, bool]:
    """The octets a receiver decodes for `part` and whether they start with a UDH."""
    if message.concatenation != "payload":
        return part.short_message, bool(part.esm_class & UDHI)
    payload = part.tlvs[TLV_MESSAGE_PAYLOAD]
    assert isinstance(payload, bytes)
    return payload, False


def _decode(part: Part, message: EncodedMessage) -> DecodedText:
    data, udhi = _user_data(part, message)
    return decode_short_message(data, message.data_coding, udhi=udhi, packed=message.packed)


def _septet_chunks(message: EncodedMessage) -> list[bytes]:
    """The whole text's septets cut by each part's unit count."""
    locking = int(message.locking_shift or 0)
    single = int(message.single_shift or 0)
    body = gsm7_codec(locking, single).encode(message.text)
    assert body is not None
    chunks, start = [], 0
    for part in message.parts:
        chunks.append(body[start : start + part.units])
        start += part.units
    assert start == len(body)
    return chunks


def _udh_septets(udh_octets: int) -> int:
    return -(-8 * udh_octets // 7)


def _received_septets(chunk: bytes, udh: bytes, packed: bool) -> bytes:
    """What a receiver unpacks from a part carrying `chunk`.

    TS 23.038 §6.1.2.3.1: packed text ending in CR on an octet boundary gets a second CR, and
    receivers read CR CR as CR. So a packed text that itself ends in CR CR one septet past an
    octet boundary reads back with one CR: the only case where packing is not exact.
    """
    total = (_udh_septets(len(udh)) if udh else 0) + len(chunk)
    if packed and total % 8 == 1 and chunk.endswith(b"\r\r"):
        return chunk[:-1]
    return chunk


def _air_octets(part: Part, message: EncodedMessage, profile: EncodingProfile) -> int:
    """Octets of TP-User-Data over the air, the quantity capped at 140 (TS 23.040 §9.2.3.16).

    The UDH counts, including the one an SMSC builds from SAR TLVs (with the profile's
    reference size); GSM-7 counts as packed, fill bits included, whatever short_message holds.
    """
    udh = len(part.udh)
    if message.concatenation == "sar":
        udh = 1 + (6 if profile.reference_bits == 16 else 5)
    if message.encoding.is_gsm7:
        return -(-7 * ((_udh_septets(udh) if udh else 0) + part.units) // 8)
    return udh + len(part.payload)


def _greedy_parts(widths: Sequence[int], single: int, multi: int) -> int:
    """Oracle: parts needed for indivisible characters of `widths` units (greedy is optimal)."""
    if sum(widths) <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > multi:
            parts, used = parts + 1, 0
        used += width
    return parts


def _table_pairs(profile: EncodingProfile) -> list[tuple[int, int]]:
    """(locking, single) pairs the profile allows, default first (TS 23.038 Annex A)."""
    pairs = [(0, 0)]
    for language in profile.languages:
        pairs.append((0, int(language)))
        if language in LOCKING_SHIFT_LANGUAGES:
            pairs += [(int(language), 0), (int(language), int(language))]
    return pairs


def _oracle_costs(text: str, profile: EncodingProfile) -> dict[str, int]:
    """Parts each exact candidate needs: GSM-7 per table pair, UCS-2, Latin-1 if allowed."""
    concat = 6 if profile.reference_bits == 16 else 5  # UDHL excluded
    costs = {
        "ucs2": _greedy_parts(
            [len(c.encode("utf-16-be")) // 2 for c in text], 70, (140 - 1 - concat) // 2
        )
    }
    for locking, single in _table_pairs(profile):
        codec = gsm7_codec(locking, single)
        septets = [codec.encode(c) for c in text]
        if any(s is None for s in septets):
            continue
        shift = 3 * (bool(locking) + bool(single))  # one 3-octet IE per national table
        one = 160 - (_udh_septets(1 + shift) if shift else 0)
        many = 160 - _udh_septets(1 + concat + shift)
        parts = _greedy_parts([len(s or b"") for s in septets], one, many)
        if parts == 1 or not shift or profile.concatenation == "udh":
            costs[f"gsm7 tables {locking}/{single}"] = parts
    if profile.allow_latin1 and all(ord(c) < 256 for c in text):
        costs["latin1"] = _greedy_parts([1] * len(text), 140, 140 - 1 - concat)
    return costs


def _encodable_without_ucs2(text: str, profile: EncodingProfile) -> bool:
    """Some alphabet the profile allows, other than UCS-2, represents `text` exactly."""
    if any(gsm7_codec(*pair).encode(text) is not None for pair in _table_pairs(profile)):
        return True
    return profile.allow_latin1 and all(ord(c) < 256 for c in text)


def _apply(message: EncodedMessage, text: str) -> str:
    return text.translate({ord(r.original): r.replacement for r in message.replacements})


def _encode(text: str, profile: EncodingProfile, reference: int = 0) -> EncodedMessage:
    return encode_message(text, profile, reference=reference % (1 << profile.reference_bits))


# --- round trip, fit, no split ------------------------------------------------------------


@settings(max_examples=400)
@given(text=TEXTS, named=NAMED_PROFILES, reference=st.integers(0, 65535))
def test_parts_decode_one_by_one_and_rejoin_to_the_text(
    text: str, named: tuple[str, EncodingProfile], reference: int
) -> None:
    """Each part decodes alone (no escape or surrogate pair is split) and they rejoin exactly."""
    _, profile = named
    message = _encode(text, profile, reference)
    assert _apply(message, text) == message.text
    decoded = [_decode(part, message) for part in message.parts]
    if not message.encoding.is_gsm7:
        assert "".join(d.text or "" for d in decoded) == message.text
        return
    chunks = _septet_chunks(message)
    received = [
        _received_septets(chunk, part.udh, message.packed)
        for chunk, part in zip(chunks, message.parts, strict=True)
    ]
    assert [d.user_data for d in decoded] == received
    for chunk in chunks:
        assert not chunk.endswith(b"\x1b"), "a part ends between an escape and its code"
    codec = gsm7_codec(int(message.locking_shift or 0), int(message.single_shift or 0))
    rejoined = "".join(d.text or "" for d in decoded)
    assert rejoined == codec.decode(b"".join(received))
    if received == chunks:
        assert rejoined == message.text


@settings(max_examples=300)
@given(text=TEXTS, named=NAMED_PROFILES)
def test_ucs2_parts_never_split_a_surrogate_pair(
    text: str, named: tuple[str, EncodingProfile]
) -> None:
    _, profile = named
    message = _encode(text, profile)
    if message.encoding is not Encoding.ucs2:
        return
    for part in message.parts:
        payload = part.payload
        assert len(payload) % 2 == 0
        assert not 0xDC <= payload[0] <= 0xDF, "part begins with a low surrogate"
        assert not 0xD8 <= payload[-2] <= 0xDB, "part ends with a high surrogate"
        payload.decode("utf-16-be")  # strict: raises on any lone surrogate


@settings(max_examples=300)
@given(text=TEXTS, named=NAMED_PROFILES, reference=REFERENCES)
def test_every_part_fits_140_octets_with_its_header(
    text: str, named: tuple[str, EncodingProfile], reference: int
) -> None:
    _, profile = named
    message = _encode(text, profile, reference)
    if message.concatenation == "payload":
        (part,) = message.parts
        assert part.short_message == b""
        assert message.segments > 1
        return
    assert message.segments == len(message.parts) <= profile.max_parts
    for part in message.parts:
        assert _air_octets(part, message, profile) <= 140
        assert len(part.short_message) <= 160  # unpacked GSM-7: one septet an octet
        if message.packed or not message.encoding.is_gsm7:
            assert len(part.short_message) <= 140


@settings(max_examples=200)
@given(text=TEXTS, named=NAMED_PROFILES, reference=REFERENCES)
def test_headers_number_the_parts_and_carry_the_reference(
    text: str, named: tuple[str, EncodingProfile], reference: int
) -> None:
    _, profile = named
    message = _encode(text, profile, reference)
    total = len(message.parts)
    for seq, part in enumerate(message.parts, start=1):
        assert part.seq == seq
        assert bool(part.esm_class & UDHI) == bool(part.udh)
        if message.concatenation == "udh":
            concat = parse_udh(part.short_message).concat
            assert concat is not None
            assert (concat.reference, concat.total, concat.seq) == (reference, total, seq)
            assert concat.reference_bits == profile.reference_bits
        elif message.concatenation == "sar":
            assert part.tlvs == {0x020C: reference, 0x020E: total, 0x020F: seq}
            assert not part.udh


@settings(max_examples=150)
@given(text=TEXTS, named=st.sampled_from(sorted(UNPACKED.items())), data=st.data())
def test_reassembler_rejoins_the_parts_in_any_order(
    text: str, named: tuple[str, EncodingProfile], data: st.DataObject
) -> None:
    _, profile = named
    message = _encode(text, profile, reference=77)
    order = data.draw(st.permutations(message.parts))
    reassembler = Reassembler(timeout=60.0)
    finished = []
    for part in order:
        sar = concat_from_sar(part.tlvs) if message.concatenation == "sar" else None
        finished += reassembler.add(
            source="447700900001",
            destination="12345",
            decoded=_decode(part, message),
            sar=sar,
            now=0.0,
        )
    (whole,) = finished
    assert whole.complete
    assert whole.text == message.text
    assert reassembler.pending == 0


# --- the cheapest exact encoding ----------------------------------------------------------


@settings(max_examples=300)
@given(text=TEXTS, named=st.sampled_from(sorted(UNPACKED.items())))
def test_no_exact_alternative_needs_fewer_parts(
    text: str, named: tuple[str, EncodingProfile]
) -> None:
    _, profile = named
    message = _encode(text, profile)
    for candidate, parts in _oracle_costs(text, profile).items():
        assert message.segments <= parts, f"{candidate} needs {parts}, chose {message.encoding}"


@settings(max_examples=300)
@given(text=TEXTS, named=NAMED_PROFILES)
def test_gsm_text_never_becomes_ucs2_and_text_needing_ucs2_always_does(
    text: str, named: tuple[str, EncodingProfile]
) -> None:
    _, profile = named
    message = _encode(text, profile)
    if gsm7_codec().encode(text) is not None:
        assert message.encoding is not Encoding.ucs2
        assert message.replacements == ()
        if not profile.national_languages and not profile.allow_latin1:
            assert message.encoding is Encoding.gsm7
    if message.encoding is Encoding.ucs2:
        assert message.ucs2_forcing_chars
        assert gsm7_codec().encode(message.text) is None
    elif not _encodable_without_ucs2(text, profile) and not message.replacements:
        pytest.fail(f"{text!r} has no exact non-UCS-2 encoding yet got {message.encoding}")


@settings(max_examples=200)
@given(text=TEXTS)
def test_smart_replacements_are_kept_only_when_they_pay(text: str) -> None:
    """With smart encoding, the replaced text wins only with fewer parts or a better alphabet."""
    plain_profile = PROFILES["udh8"]
    smart_profile = PROFILES["smart"]
    smart = _encode(text, smart_profile)
    plain = _encode(text, plain_profile)
    if not smart.replacements:
        assert smart.text == text
        assert (smart.encoding, smart.segments) == (plain.encoding, plain.segments)
        return
    assert smart.text == _apply(smart, text)
    assert smart.encoding is Encoding.gsm7
    assert plain.encoding is Encoding.ucs2
    assert smart.segments <= plain.segments
    for replacement in smart.replacements:
        assert text.count(replacement.original) == replacement.occurrences


@settings(max_examples=200)
@given(text=TEXTS, named=NAMED_PROFILES)
def test_too_many_parts_is_refused_with_the_count_it_needed(
    text: str, named: tuple[str, EncodingProfile]
) -> None:
    _, unlimited = named
    limited = dataclasses.replace(unlimited, max_parts=2)
    needed = _encode(text, unlimited)
    if needed.segments <= 2:
        assert _encode(text, limited).segments == needed.segments
        return
    with pytest.raises(TooManyPartsError) as caught:
        _encode(text, limited)
    assert (caught.value.parts, caught.value.max_parts) == (needed.segments, 2)
    assert (caught.value.encoding, caught.value.units) == (needed.encoding.value, needed.units)


SHORT_MIX = GSM_BASIC[:20] + GSM_EXTENSION + TURKISH + LATIN1 + LOOKALIKES + ASTRAL + CJK_AND_OTHERS


def _ranked(text: str, profile: EncodingProfile, reference: int, smart: bool) -> EncodedMessage:
    """encode_message without its shortcuts: every candidate ranked, then cut and built."""
    choice = explain_smart_encoding(text, profile, smart=smart).chosen
    parts, concatenation = _build_parts(choice, profile, reference)
    return _message(choice, profile, parts, concatenation, reference)


@settings(max_examples=500)
@given(
    text=st.one_of(TEXTS, st.text(alphabet=SHORT_MIX, max_size=80)),
    named=NAMED_PROFILES,
    reference=st.integers(0, 65535),
    smart=st.sampled_from([None, False, True]),
)
def test_shortcuts_give_what_ranking_every_candidate_gives(
    text: str, named: tuple[str, EncodingProfile], reference: int, smart: bool | None
) -> None:
    """One GSM-7 part and one UCS-2 part (when nothing else can compete) skip the ranking of
    candidates; the message is the one the ranking builds, field for field."""
    _, profile = named
    reference %= 1 << profile.reference_bits
    use_smart = profile.smart_encoding if smart is None else smart
    expected = _outcome(lambda: _ranked(text, profile, reference, use_smart))
    got = _outcome(lambda: encode_message(text, profile, reference=reference, smart=smart))
    assert got == expected


def _outcome(encode: Callable[[], EncodedMessage]) -> EncodedMessage | str:
    """The message, or the refusal's text."""
    try:
        return encode()
    except TooManyPartsError as error:
        return f"TooManyPartsError: {error}"


# --- exact boundaries ---------------------------------------------------------------------

DEFAULT = EncodingProfile()
WIDE = EncodingProfile(reference_bits=16)
PACKED = EncodingProfile(gsm7_packed=True)


def _units(text: str, profile: EncodingProfile = DEFAULT) -> list[int]:
    return [part.units for part in encode_message(text, profile, reference=1).parts]


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("a" * 160, [160]),
        ("a" * 161, [153, 8]),
        ("€" * 80, [160]),  # two septets each
        ("€" * 81, [152, 10]),
        ("ж" * 70, [70]),
        ("ж" * 71, [67, 4]),
        ("😀" * 35, [70]),  # two UTF-16 code units each
        ("😀" * 36, [66, 6]),
    ],
)
def test_single_part_limits(text: str, units: list[int]) -> None:
    assert _units(text) == units


@pytest.mark.parametrize("k", range(2, 11))
def test_gsm7_153_septets_a_part(k: int) -> None:
    assert _units("a" * 153 * k) == [153] * k
    assert _units("a" * 152 * k, WIDE) == [152] * k
    if k < 10:
        assert _units("a" * (153 * k + 1)) == [153] * k + [1]


@pytest.mark.parametrize("k", range(2, 11))
def test_ucs2_67_code_units_a_part(k: int) -> None:
    assert _units("ж" * 67 * k) == [67] * k
    assert _units("ж" * 66 * k, WIDE) == [66] * k
    if k < 10:
        assert _units("ж" * (67 * k + 1)) == [67] * k + [1]


@pytest.mark.parametrize(
    ("profile", "room"), [(DEFAULT, 153), (WIDE, 152), (PACKED, 153)], ids=["8", "16", "packed"]
)
def test_extension_character_at_the_cut_moves_to_the_next_part(
    profile: EncodingProfile, room: int
) -> None:
    text = "a" * (room - 1) + "€" + "b" * 20
    message = encode_message(text, profile, reference=9)
    assert [p.units for p in message.parts] == [room - 1, 22]
    texts = [_decode(part, message).text for part in message.parts]
    assert texts == ["a" * (room - 1), "€" + "b" * 20]


@pytest.mark.parametrize(("profile", "room"), [(DEFAULT, 67), (WIDE, 66)], ids=["8", "16"])
def test_emoji_at_the_cut_moves_to_the_next_part(profile: EncodingProfile, room: int) -> None:
    text = "ж" * (room - 1) + "😀" + "ж" * 10
    message = encode_message(text, profile, reference=9)
    assert [p.units for p in message.parts] == [room - 1, 12]
    texts = [_decode(part, message).text for part in message.parts]
    assert texts == ["ж" * (room - 1), "😀" + "ж" * 10]


def test_packed_full_part_never_ends_with_cr() -> None:
    """TS 23.038 §6.1.2.3.1: a CR at the end of a full packed part moves to the next part."""
    text = "a" * 152 + "\r" + "b" * 10
    packed = encode_message(text, PACKED, reference=3)
    assert [p.units for p in packed.parts] == [152, 11]
    assert "".join(_decode(p, packed).text or "" for p in packed.parts) == text
    assert _units(text) == [153, 10]  # unpacked, the CR may end a part


def test_packed_text_ending_cr_cr_after_an_octet_boundary_reads_back_as_one_cr() -> None:
    """The one inexact packed case: CR CR there is what a padded trailing CR looks like."""
    text = "a" * 7 + "\r\r"
    message = encode_message(text, PACKED, reference=3)
    assert _decode(message.parts[0], message).text == "a" * 7 + "\r"
    assert (
        message.parts[0].short_message
        == encode_message(text[:-1], PACKED, reference=3).parts[0].short_message
    )


def test_national_shift_header_costs_septets_in_every_part() -> None:
    """UDHL + 8-bit concat IE + Turkish locking shift IE: 9 octets, 11 septets; 149 remain."""
    profile = EncodingProfile(national_languages=frozenset({"turkish"}))
    message = encode_message("ğ" * 200, profile, reference=5)
    assert message.encoding is Encoding.gsm7_turkish
    assert message.locking_shift is NationalLanguage.turkish
    assert [p.units for p in message.parts] == [149, 51]
    assert "".join(_decode(p, message).text or "" for p in message.parts) == "ğ" * 200


@pytest.mark.parametrize(
    ("text", "encoding", "units"),
    [("a" * (153 * 10 + 1), "gsm7", 1531), ("ж" * (67 * 10 + 1), "ucs2", 671)],
)
def test_eleven_parts_are_refused_by_the_default_limit(
    text: str, encoding: str, units: int
) -> None:
    with pytest.raises(TooManyPartsError) as caught:
        encode_message(text, DEFAULT, reference=1)
    error = caught.value
    assert isinstance(error, ComplianceError)
    assert (error.parts, error.max_parts, error.encoding, error.units) == (11, 10, encoding, units)
    assert str(error) == f"text needs 11 parts as {encoding} ({units} units); the limit is 10"
    assert len(encode_message(text[:-1], DEFAULT, reference=1).parts) == 10
