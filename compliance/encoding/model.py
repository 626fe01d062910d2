"""The values of the encoding API: profile in; encoded messages, decoded texts and UDH info out.

`EncodingProfile` is a carrier's (or one message's) encoding configuration. `EncodedMessage` and
`Part` are what the segmenter returns, ready to copy into submit_sm PDUs. `DecodedText`,
`UdhInfo` and `ConcatInfo` are what the decoder returns for a deliver_sm.

`Part` and `EncodedMessage` are slotted but not frozen: they are built once per outgoing message
on the hot path, where frozen construction measured about 2.5x slower (style guide §3). Nothing
mutates them after `encode_message` returns; treat them as read-only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

from compliance.encoding.errors import InvalidProfileError

Concatenation = Literal["udh", "sar", "payload"]
ConcatenationUsed = Literal["none", "udh", "sar", "payload"]
# When smart encoding keeps its replacements: only when the result travels as GSM-7 (default or
# national tables), or also when it merely needs fewer parts in UCS-2 or Latin-1.
SmartMode = Literal["gsm7_only", "reduce_parts"]
TlvValue = int | str | bytes  # the value type of gateway.smpp.pdu.Tlvs


class NationalLanguage(enum.IntEnum):
    """National language identifiers of 3GPP TS 23.038 §6.2.1.2.4 and Annex A."""

    turkish = 1
    spanish = 2
    portuguese = 3
    bengali = 4
    gujarati = 5
    hindi = 6
    kannada = 7
    malayalam = 8
    oriya = 9
    punjabi = 10
    tamil = 11
    telugu = 12
    urdu = 13


# TS 23.038 Annex A.3.2: Spanish has a single shift table only.
LOCKING_SHIFT_LANGUAGES: Final = frozenset(NationalLanguage) - {NationalLanguage.spanish}


class Encoding(enum.StrEnum):
    """How a text travels; also the `encoding` label of `smsgw_segments_total`."""

    gsm7 = "gsm7"
    gsm7_turkish = "gsm7_turkish"
    gsm7_spanish = "gsm7_spanish"
    gsm7_portuguese = "gsm7_portuguese"
    gsm7_bengali = "gsm7_bengali"
    gsm7_gujarati = "gsm7_gujarati"
    gsm7_hindi = "gsm7_hindi"
    gsm7_kannada = "gsm7_kannada"
    gsm7_malayalam = "gsm7_malayalam"
    gsm7_oriya = "gsm7_oriya"
    gsm7_punjabi = "gsm7_punjabi"
    gsm7_tamil = "gsm7_tamil"
    gsm7_telugu = "gsm7_telugu"
    gsm7_urdu = "gsm7_urdu"
    ucs2 = "ucs2"
    latin1 = "latin1"
    binary = "binary"
    # Decoding only (SMPP 3.4 §5.2.19 data_coding 1, 6, 7): never chosen for outgoing text.
    ia5 = "ia5"
    iso8859_5 = "iso8859_5"
    iso8859_8 = "iso8859_8"

    @property
    def is_gsm7(self) -> bool:
        """True for the default alphabet and every national language variant."""
        return self.value.startswith("gsm7")


def national_encoding(language: NationalLanguage) -> Encoding:
    """The Encoding member for GSM-7 with `language`'s shift table(s)."""
    return Encoding(f"gsm7_{language.name}")


class Replacement(NamedTuple):
    """One smart-encoding substitution: `original` became `replacement`, `occurrences` times."""

    original: str
    replacement: str
    occurrences: int


_DEFAULT_ALPHABETS = frozenset({Encoding.gsm7, Encoding.latin1, Encoding.ia5})


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodingProfile:
    """A carrier's encoding configuration (the per-carrier `encoding:` block of the config).

    Attributes:
        gsm7_packed: GSM-7 travels packed (8 septets in 7 octets) instead of one septet per
            octet, both ways: what we send and what the carrier delivers (MO, receipts).
        national_languages: names of NationalLanguage members whose shift tables the carrier
            delivers (e.g. {"turkish"}); used only when they save parts.
        allow_latin1: the carrier accepts data_coding 3 (ISO-8859-1); used when it saves parts.
        smart_encoding: replace look-alike characters to stay in GSM-7 (per message overridable).
        smart_encoding_mode: when a replacement is kept: "gsm7_only" (the default) only when
            it makes the text GSM-7; "reduce_parts" also when it saves UCS-2 or Latin-1 parts.
        concatenation: how long messages are split: UDH in short_message, SAR TLVs, or one
            message_payload TLV. Single-part messages always go in short_message.
        reference_bits: 8 (IEI 0x00, 153 septets a part) or 16 (IEI 0x08, 152 septets a part).
        max_parts: longest message accepted, in parts (1-255).
        default_data_coding: data_coding sent with GSM-7 text (0 = SMSC default alphabet).
        default_alphabet: what data_coding 0 ("SMSC default alphabet", SMPP 3.4 §5.2.19)
            means in what the carrier delivers (MO and receipts): GSM-7 on most SMSCs, but
            some use Latin-1 or ASCII (domain.md §1.7; Kannel's `alt-charset`). Decoding
            only: gsm7, latin1 or ia5.
    """

    gsm7_packed: bool = False
    national_languages: frozenset[str] = frozenset()
    allow_latin1: bool = False
    smart_encoding: bool = False
    smart_encoding_mode: SmartMode = "gsm7_only"
    concatenation: Concatenation = "udh"
    reference_bits: Literal[8, 16] = 8
    max_parts: int = 10
    default_data_coding: int = 0
    default_alphabet: Encoding = Encoding.gsm7

    def __post_init__(self) -> None:
        unknown = sorted(set(self.national_languages) - set(NationalLanguage.__members__))
        if unknown:
            known = ", ".join(NationalLanguage.__members__)
            raise InvalidProfileError(f"national_languages: unknown {unknown}; known: {known}")
        if self.smart_encoding_mode not in ("gsm7_only", "reduce_parts"):
            raise InvalidProfileError(
                "smart_encoding_mode: expected gsm7_only or reduce_parts,"
                f" got {self.smart_encoding_mode!r}"
            )
        if self.concatenation not in ("udh", "sar", "payload"):
            raise InvalidProfileError(
                f"concatenation: expected udh, sar or payload, got {self.concatenation!r}"
            )
        if self.reference_bits not in (8, 16):
            raise InvalidProfileError(
                f"reference_bits: expected 8 or 16, got {self.reference_bits}"
            )
        if not 1 <= self.max_parts <= 255:
            raise InvalidProfileError(f"max_parts: expected 1..255, got {self.max_parts}")
        if not 0 <= self.default_data_coding <= 255:
            raise InvalidProfileError(
                f"default_data_coding: expected 0..255, got {self.default_data_coding}"
            )
        if self.default_alphabet not in _DEFAULT_ALPHABETS:
            raise InvalidProfileError(
                f"default_alphabet: expected gsm7, latin1 or ia5, got {self.default_alphabet}"
            )

    @property
    def languages(self) -> tuple[NationalLanguage, ...]:
        """The configured national languages as enum members, by language id."""
        return tuple(sorted(NationalLanguage[name] for name in self.national_languages))


@dataclass(slots=True, kw_only=True)
class Part:
    """One submit_sm's worth of a message.

    Attributes:
        seq: 1-based position in the message.
        short_message: bytes for the short_message field, UDH included when UDH is used
            (empty when the text travels in the message_payload TLV).
        esm_class: 0x40 (UDHI, SMPP 3.4 §5.2.12) when short_message starts with a UDH, else 0.
        tlvs: SAR TLVs (0x020C/0x020E/0x020F) or message_payload (0x0424); empty otherwise.
        udh: the user data header alone (b"" when none), for reports.
        units: septets, octets or UTF-16 code units of text in this part (UDH excluded).
    """

    seq: int
    short_message: bytes
    esm_class: int
    tlvs: dict[int, TlvValue] = field(default_factory=dict)
    udh: bytes = b""
    units: int = 0

    @property
    def payload(self) -> bytes:
        """The encoded text of this part without its UDH (from message_payload when used)."""
        if self.short_message:
            return self.short_message[len(self.udh) :]
        value = self.tlvs.get(0x0424, b"")
        return value if isinstance(value, bytes) else b""


@dataclass(slots=True, kw_only=True)
class EncodedMessage:
    """A text encoded and segmented for one carrier.

    Attributes:
        text: the text actually encoded (after smart-encoding replacements).
        encoding: the chosen encoding; data_coding: the SMPP data_coding to send.
        parts: one Part per submit_sm, in order.
        segments: SMS the handset receives (len(parts), except with message_payload where the
            SMSC splits one PDU; then the count it will need).
        concatenation: "none" for a single part, else the mechanism used.
        reference: the concatenation reference used, None for a single part.
        septets: GSM-7 septets of the whole text (None for other encodings).
        octets: octets of encoded text over the air (packed septets, UTF-16, Latin-1).
        units: septets, octets or UTF-16 code units of the whole text.
        characters: code points in `text`.
        ucs2_forcing_chars: distinct characters outside the GSM-7 default alphabet and its
            extension table, in order of first appearance (empty for plain GSM-7).
        replacements: smart-encoding substitutions applied.
        language: the national language whose table(s) are used; locking_shift / single_shift
            say which of the two tables (TS 23.040 IEI 0x25 / 0x24).
        packed: GSM-7 septets are packed 8-in-7 in short_message.
    """

    text: str
    encoding: Encoding
    data_coding: int
    parts: tuple[Part, ...]
    segments: int
    concatenation: ConcatenationUsed
    reference: int | None
    septets: int | None
    octets: int
    units: int
    characters: int
    ucs2_forcing_chars: tuple[str, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    language: NationalLanguage | None = None
    locking_shift: NationalLanguage | None = None
    single_shift: NationalLanguage | None = None
    packed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcatInfo:
    """Concatenation of one part: from UDH IEI 0x00/0x08 (TS 23.040 §9.2.3.24.1) or SAR TLVs."""

    reference: int
    total: int
    seq: int
    reference_bits: Literal[8, 16]


@dataclass(frozen=True, slots=True, kw_only=True)
class UdhInfo:
    """A parsed user data header (TS 23.040 §9.2.3.24).

    Attributes:
        length: octets of the header including the UDHL octet.
        concat: the concatenation element when present and valid (seq 1..total).
        single_shift / locking_shift: the national language IEs (0x24 / 0x25) when valid.
        elements: every information element as (IEI, data), in order, unknown ones included.
    """

    length: int
    concat: ConcatInfo | None = None
    single_shift: NationalLanguage | None = None
    locking_shift: NationalLanguage | None = None
    elements: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedText:
    """A decoded short_message (deliver_sm MO or receipt).

    Attributes:
        text: the text, or None for 8-bit binary data (and reserved alphabets).
        encoding: how it was decoded (gsm7 variants, ucs2, latin1, ia5, ..., binary).
        data_coding: the data_coding it arrived with.
        udh: the parsed UDH, None when UDHI was not set.
        user_data: the user data after the UDH: unpacked septets for GSM-7, raw octets else.
        locking_shift / single_shift: the national tables applied while decoding GSM-7.
    """

    text: str | None
    encoding: Encoding
    data_coding: int
    udh: UdhInfo | None = None
    user_data: bytes = b""
    locking_shift: NationalLanguage | None = None
    single_shift: NationalLanguage | None = None

    @property
    def concat(self) -> ConcatInfo | None:
        """The concatenation element of the UDH, if any."""
        return self.udh.concat if self.udh is not None else None
