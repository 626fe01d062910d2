"""Smart encoding: which characters it may change, and when a change is worth sending.

The rule (issue 13 item 2, reference/README.md "Common smart-encoding replacements"): look-alikes
become their GSM-7 twins, invisible characters with no effect on rendering (ZWSP U+200B, word
joiner U+2060, BOM U+FEFF, soft hyphen U+00AD) may be removed, and ZWJ U+200D / ZWNJ U+200C are
never touched. By default (smart_encoding_mode "gsm7_only") the replaced text is sent only when
it travels as GSM-7; "reduce_parts" also sends it when it merely needs fewer parts.

The round-trip properties define "the text only changes by documented replacements" exactly:
with smart encoding off what the handset decodes is the text; with it on it is either the text
or `text.translate(SMART_REPLACEMENTS)`, the latter only under the mode's conditions.
"""

from __future__ import annotations

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from compliance.encoding import (
    EncodedMessage,
    Encoding,
    EncodingProfile,
    InvalidProfileError,
    apply_smart_encoding,
    decode_short_message,
)
from compliance.encoding.choose import SmartOutcome, explain_smart_encoding
from compliance.encoding.gsm7 import gsm7_codec
from compliance.encoding.smart import SMART_REPLACEMENTS
from compliance.segment import encode_message

ZWJ = "\u200d"
ZWNJ = "\u200c"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ ...
PERSIAN_MIKHAHAM = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # mi-khaham, "I want"
HINDI_HALF_KA = "\u0915\u094d\u200d\u0937"  # KA VIRAMA ZWJ SSA: explicit half form of KA
TABLE = str.maketrans(dict(SMART_REPLACEMENTS))

GSM7_ONLY = EncodingProfile(smart_encoding=True, max_parts=255)
REDUCE_PARTS = EncodingProfile(
    smart_encoding=True, smart_encoding_mode="reduce_parts", max_parts=255
)
NATIONAL_LATIN1 = EncodingProfile(
    smart_encoding=True,
    national_languages=frozenset({"turkish", "portuguese", "hindi"}),
    allow_latin1=True,
    max_parts=255,
)
OFF = EncodingProfile(max_parts=255)


def _received(message: EncodedMessage) -> str:
    """The text a handset shows: every part decoded on its own, then joined."""
    texts = []
    for part in message.parts:
        if message.concatenation == "payload":
            data, udhi = part.tlvs[0x0424], False
            assert isinstance(data, bytes)
        else:
            data, udhi = part.short_message, bool(part.esm_class & 0x40)
        decoded = decode_short_message(data, message.data_coding, udhi=udhi, packed=message.packed)
        texts.append(decoded.text or "")
    return "".join(texts)


# --- what may change ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [FAMILY, f"{FAMILY} “dinner” at 8", PERSIAN_MIKHAHAM, f"\u2018{HINDI_HALF_KA}\u2019"],
    ids=["family", "family-with-quotes", "persian-zwnj", "hindi-half-form"],
)
def test_zero_width_joiner_and_non_joiner_are_never_removed(text: str) -> None:
    """ZWJ and ZWNJ choose what is drawn: ZWJ joins an emoji ZWJ sequence into one glyph (UTS
    #51; without it the family is four separate people) and asks for a half form after a
    virama (The Unicode Standard §12.2, Devanagari); ZWNJ keeps Persian "mi" and "khaham"
    apart (§23.2 "Cursive Connection"). Removing either changes the text the reader sees."""
    replaced, replacements = apply_smart_encoding(text)
    assert replaced.count(ZWJ) == text.count(ZWJ)
    assert replaced.count(ZWNJ) == text.count(ZWNJ)
    assert {r.original for r in replacements}.isdisjoint({ZWJ, ZWNJ})
    for profile in (GSM7_ONLY, REDUCE_PARTS, NATIONAL_LATIN1):
        sent = encode_message(text, profile, reference=1).text
        assert (sent.count(ZWJ), sent.count(ZWNJ)) == (text.count(ZWJ), text.count(ZWNJ))


def test_only_the_four_invisible_characters_without_rendering_effect_are_removed() -> None:
    """ZWSP, WORD JOINER, BOM (ZERO WIDTH NO-BREAK SPACE) and SOFT HYPHEN only hint where a line
    may break (Unicode §23.2, UAX #14) and draw nothing in an SMS bubble: the issue's list of
    what may be dropped. Every other table entry is a visible look-alike."""
    removed = {char for char, replacement in SMART_REPLACEMENTS.items() if replacement == ""}
    assert removed == {"\u200b", "\u2060", "\ufeff", "\u00ad"}


def test_every_replacement_is_gsm7_and_every_original_is_not() -> None:
    """TS 23.038 §6.2.1: a replacement is only useful if it is in the default alphabet or its
    extension table and the original is not."""
    codec = gsm7_codec()
    for original, replacement in SMART_REPLACEMENTS.items():
        assert codec.encode(original) is None, repr(original)
        assert codec.encode(replacement) is not None, repr(replacement)


# --- when a change is worth it ------------------------------------------------------------


def test_replacements_that_leave_the_text_ucs2_are_not_sent_by_default() -> None:
    """An emoji keeps the text in UCS-2 whatever happens to the quotes around it, so changing
    the quotes would alter the text for nothing a handset can tell (issue 13 item 2)."""
    text = "“Dinner” at 8 😀"
    decision = explain_smart_encoding(text, GSM7_ONLY, smart=True)
    assert decision.outcome is SmartOutcome.not_gsm7
    assert decision.chosen.text == text
    assert decision.replaced is not None
    assert decision.replaced.encoding is Encoding.ucs2
    assert encode_message(text, GSM7_ONLY, reference=1).text == text


def test_removing_invisible_characters_to_save_a_ucs2_part_needs_reduce_parts() -> None:
    """67 Cyrillic letters and 5 ZWSP are 72 UTF-16 units (2 parts, TS 23.040 §9.2.3.24.1);
    without the ZWSP they fit one 70-unit part. Still UCS-2, so only the operator's
    `reduce_parts` may buy that part with a change to the text."""
    text = "ж" * 67 + "\u200b" * 5
    safe = encode_message(text, GSM7_ONLY, reference=1)
    assert (safe.text, safe.segments, safe.replacements) == (text, 2, ())
    assert explain_smart_encoding(text, GSM7_ONLY, smart=True).outcome is SmartOutcome.not_gsm7
    cheap = encode_message(text, REDUCE_PARTS, reference=1)
    assert (cheap.text, cheap.segments, cheap.encoding) == ("ж" * 67, 1, Encoding.ucs2)
    assert explain_smart_encoding(text, REDUCE_PARTS, smart=True).outcome is SmartOutcome.applied


def test_reduce_parts_still_keeps_the_text_when_nothing_is_saved() -> None:
    """A no-break space becomes a space at the same UTF-16 length: no part saved, no change."""
    text = "ж\u00a0ж 😀"
    decision = explain_smart_encoding(text, REDUCE_PARTS, smart=True)
    assert decision.outcome is SmartOutcome.no_saving
    assert decision.chosen.text == text


@pytest.mark.parametrize(
    ("text", "profile", "smart", "outcome"),
    [
        ("“Hi” — ok…", GSM7_ONLY, True, SmartOutcome.applied),
        ("“Hi” — ok…", GSM7_ONLY, False, SmartOutcome.disabled),
        ("plain text", GSM7_ONLY, True, SmartOutcome.not_needed),
        ("a" * 200, GSM7_ONLY, True, SmartOutcome.not_needed),
        ("привет", GSM7_ONLY, True, SmartOutcome.no_lookalikes),
        ("привет “мир”", GSM7_ONLY, True, SmartOutcome.not_gsm7),
        # Turkish tables need a shift IE, so they win only when they save a part
        ("çağ “x”", NATIONAL_LATIN1, True, SmartOutcome.no_saving),
        ("çağ “x” " + "ğ" * 80, NATIONAL_LATIN1, True, SmartOutcome.applied),
    ],
)
def test_the_decision_names_its_outcome(
    text: str, profile: EncodingProfile, smart: bool, outcome: SmartOutcome
) -> None:
    decision = explain_smart_encoding(text, profile, smart=smart)
    assert decision.outcome is outcome
    assert decision.mode == profile.smart_encoding_mode
    applied = outcome is SmartOutcome.applied
    assert (decision.chosen.text != text) == applied
    assert encode_message(text, profile, reference=1, smart=smart).text == decision.chosen.text


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidProfileError, match="smart_encoding_mode"):
        EncodingProfile(smart_encoding_mode="always")  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------

LOOKALIKES = "".join(SMART_REPLACEMENTS)
GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà€{}"
SCRIPTS = "жçğáãहक्ष\u094d\u0937میخ😀👍🏽🇫🇷" + ZWJ + ZWNJ
TEXTS = st.one_of(
    st.text(alphabet=GSM + LOOKALIKES, max_size=400),  # smart encoding reaches GSM-7
    st.text(alphabet="жğç\u200b\u2060" + LOOKALIKES, max_size=200),  # UCS-2 or national
    st.text(
        alphabet=st.one_of(
            st.sampled_from(GSM),
            st.sampled_from(LOOKALIKES),
            st.sampled_from(SCRIPTS),
            st.characters(exclude_categories=["Cs"]),
        ),
        max_size=300,
    ),
)
# Unpacked only: packed GSM-7 text ending CR CR on an octet boundary reads back with one CR
# (TS 23.038 §6.1.2.3.1), pinned in test_segment_properties.
TURKISH_HINDI = EncodingProfile(national_languages=frozenset({"turkish", "hindi"}), max_parts=255)
PROFILES = st.sampled_from(
    [
        OFF,
        EncodingProfile(concatenation="sar", max_parts=255),
        EncodingProfile(concatenation="payload", reference_bits=16, max_parts=255),
        TURKISH_HINDI,
        EncodingProfile(allow_latin1=True, max_parts=255),
    ]
)
_RANK = {Encoding.gsm7: 0, Encoding.ucs2: 1, Encoding.latin1: 2}


def _rank(encoding: Encoding) -> int:
    return _RANK.get(encoding, 3)


@settings(max_examples=250)
@given(text=TEXTS, profile=PROFILES)
def test_with_smart_encoding_off_the_handset_gets_the_text(
    text: str, profile: EncodingProfile
) -> None:
    """decode(encode(t)) == t for any text without lone surrogates, on every unpacked profile."""
    message = encode_message(text, profile, reference=3)
    assert message.replacements == ()
    assert _received(message) == text


@settings(max_examples=250)
@given(text=TEXTS, profile=PROFILES, mode=st.sampled_from(["gsm7_only", "reduce_parts"]))
@example(text="ж" * 67 + "\u200b" * 5, profile=OFF, mode="reduce_parts")  # UCS-2, 1 part saved
@example(text="çağ “x” " + "ğ" * 80, profile=TURKISH_HINDI, mode="gsm7_only")  # national
@example(text=f"{FAMILY} “x”", profile=OFF, mode="reduce_parts")  # ZWJ kept, no saving
def test_with_smart_encoding_on_the_text_changes_only_by_documented_replacements(
    text: str, profile: EncodingProfile, mode: str
) -> None:
    """decode(encode(t)) is t, or t with every SMART_REPLACEMENTS key replaced; the latter only
    when the unchanged text is not default GSM-7 and the change pays: GSM-7 with no more parts
    (gsm7_only), or fewer parts / a better supported alphabet (reduce_parts). ZWJ and ZWNJ
    always survive."""
    smart_profile = EncodingProfile(
        smart_encoding=True,
        smart_encoding_mode="reduce_parts" if mode == "reduce_parts" else "gsm7_only",
        concatenation=profile.concatenation,
        reference_bits=profile.reference_bits,
        national_languages=profile.national_languages,
        allow_latin1=profile.allow_latin1,
        max_parts=255,
    )
    smart = encode_message(text, smart_profile, reference=3)
    plain = encode_message(text, profile, reference=3)
    received = _received(smart)
    assert (received.count(ZWJ), received.count(ZWNJ)) == (text.count(ZWJ), text.count(ZWNJ))
    event("kept" if received == text else f"replaced, {smart.encoding.value}")
    if received == text:
        assert smart.replacements == ()
        assert (smart.encoding, smart.segments) == (plain.encoding, plain.segments)
        return
    assert received == text.translate(TABLE)
    assert gsm7_codec().encode(text) is None
    assert smart.segments <= plain.segments
    if mode == "gsm7_only":
        assert smart.encoding.is_gsm7
    assert smart.segments < plain.segments or _rank(smart.encoding) < _rank(plain.encoding)
    for replacement in smart.replacements:
        assert SMART_REPLACEMENTS[replacement.original] == replacement.replacement
        assert text.count(replacement.original) == replacement.occurrences
