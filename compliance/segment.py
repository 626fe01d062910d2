"""The segmenter: a text and a carrier profile in, submit_sm-ready parts out.

Owns `encode_message` (and `encode_binary` for 8-bit data): it takes the cheapest encoding from
compliance.encoding.choose, refuses texts longer than the profile's max_parts, and turns each
chunk into a `Part` for the profile's concatenation mechanism:

- single part: the encoded text in short_message (with a UDH only for national language IEs);
- "udh": a UDH per part with IEI 0x00 or 0x08 (TS 23.040 §9.2.3.24.1/.8), esm_class 0x40 UDHI
  (SMPP 3.4 §5.2.12);
- "sar": SAR TLVs sar_msg_ref_num / sar_total_segments / sar_segment_seqnum (SMPP 3.4
  §5.3.2.22-24), the SMSC builds the header;
- "payload": the whole text in one message_payload TLV (SMPP 3.4 §5.3.2.32), sm_length 0.

GSM-7 goes unpacked (one septet per octet) unless the profile asks for packing (TS 23.038
§6.1.2.1, fill bits after the UDH). Parts are cut between grapheme clusters whenever that
costs no extra part (compliance.encoding.capacity). Pure: imports only the standard library and
compliance.encoding, which adds `regex` (a unit test walks this module's AST).
"""

from __future__ import annotations

from typing import Final

from compliance.encoding.capacity import MAX_OCTETS, fits_one_part
from compliance.encoding.choose import (
    Choice,
    binary_choice,
    choose_for_default_body,
    ucs2_forcing_chars,
)
from compliance.encoding.errors import InvalidReferenceError, TooManyPartsError
from compliance.encoding.gsm7 import MAX_SEPTETS, gsm7_codec, pack_septets
from compliance.encoding.model import (
    ConcatenationUsed,
    EncodedMessage,
    Encoding,
    EncodingProfile,
    NationalLanguage,
    Part,
)
from compliance.encoding.udh import build_udh, concat_ie, sar_tlvs

UDHI: Final = 0x40  # SMPP 3.4 §5.2.12 esm_class GSM network specific feature
TLV_MESSAGE_PAYLOAD: Final = 0x0424
DATA_CODING_LATIN1: Final = 0x03
DATA_CODING_BINARY: Final = 0x04
DATA_CODING_UCS2: Final = 0x08

_DEFAULT_CODEC: Final = gsm7_codec(0, 0)


def encode_message(
    text: str, profile: EncodingProfile, *, reference: int, smart: bool | None = None
) -> EncodedMessage:
    """Encode and segment `text` for a carrier.

    Args:
        text: the message text.
        profile: the carrier's encoding profile.
        reference: concatenation reference for a multi-part message (0-255, or 0-65535 with
            reference_bits=16); ignored for a single part.
        smart: force smart encoding on or off for this message; None follows the profile.

    Returns:
        The parts and what was chosen (encoding, counts, replacements, forcing characters).

    Raises:
        TooManyPartsError: the cheapest encoding still needs more than profile.max_parts.
        InvalidReferenceError: a multi-part message with a reference out of range.
    """
    body = _DEFAULT_CODEC.encode(text)
    packed = profile.gsm7_packed
    if body is not None and fits_one_part(body, "septet", MAX_SEPTETS, packed=packed):
        # hot path: one GSM-7 part, no UDH
        return _single_gsm7(text, body, profile)
    use_smart = profile.smart_encoding if smart is None else smart
    if body is None and not use_smart:
        ucs2 = text.encode("utf-16-be", "surrogatepass")
        if len(ucs2) <= MAX_OCTETS:  # next commonest: one UCS-2 part
            return _single_ucs2(text, ucs2)
    choice = choose_for_default_body(text, body, profile, smart=use_smart)
    parts, concatenation = _build_parts(choice, profile, reference)
    return _message(choice, profile, parts, concatenation, reference)


def _single_gsm7(text: str, septets: bytes, profile: EncodingProfile) -> EncodedMessage:
    """`choose_encoding` + `_build_parts` + `_message` for the commonest case, inlined."""
    count = len(septets)
    packed = profile.gsm7_packed
    part = Part(
        seq=1,
        short_message=pack_septets(septets) if packed else septets,
        esm_class=0,
        units=count,
    )
    return EncodedMessage(
        text=text,
        encoding=Encoding.gsm7,
        data_coding=profile.default_data_coding,
        parts=(part,),
        segments=1,
        concatenation="none",
        reference=None,
        septets=count,
        octets=(7 * count + 7) // 8,
        units=count,
        characters=len(text),
        packed=packed,
    )


def _single_ucs2(text: str, ucs2: bytes) -> EncodedMessage:
    """`choose_encoding` + `_build_parts` + `_message` for a text outside the default GSM-7
    tables that fits one UCS-2 part, inlined. Without look-alike replacement nothing else can
    win: no candidate takes fewer than one part, and at one part UCS-2 ranks before Latin-1
    and the national tables (compliance.encoding.choose)."""
    units = len(ucs2) // 2
    part = Part(seq=1, short_message=ucs2, esm_class=0, units=units)
    return EncodedMessage(
        text=text,
        encoding=Encoding.ucs2,
        data_coding=DATA_CODING_UCS2,
        parts=(part,),
        segments=1,
        concatenation="none",
        reference=None,
        septets=None,
        octets=len(ucs2),
        units=units,
        characters=len(text),
        ucs2_forcing_chars=ucs2_forcing_chars(text),
    )


def encode_binary(data: bytes, profile: EncodingProfile, *, reference: int) -> EncodedMessage:
    """Segment 8-bit data (data_coding 4) the same way; 140 octets a part, 134 with a UDH."""
    choice = binary_choice(data, profile)
    parts, concatenation = _build_parts(choice, profile, reference)
    return _message(choice, profile, parts, concatenation, reference)


def _build_parts(
    choice: Choice, profile: EncodingProfile, reference: int
) -> tuple[tuple[Part, ...], ConcatenationUsed]:
    total = len(choice.chunks)
    if total > profile.max_parts:
        raise TooManyPartsError(
            parts=total,
            max_parts=profile.max_parts,
            encoding=choice.encoding.value,
            units=choice.units,
        )
    packed = profile.gsm7_packed and choice.kind == "septet"
    if total == 1:
        udh = build_udh(choice.shift_elements)
        body = pack_septets(choice.body, udh=udh) if packed else udh + choice.body
        part = Part(seq=1, short_message=body, esm_class=UDHI if udh else 0, udh=udh)
        part.units = choice.units
        return (part,), "none"
    _check_reference(reference, profile)
    if profile.concatenation == "payload":
        body = pack_septets(choice.body, max_septets=None) if packed else choice.body
        part = Part(seq=1, short_message=b"", esm_class=0, tlvs={TLV_MESSAGE_PAYLOAD: body})
        part.units = choice.units
        return (part,), "payload"
    if profile.concatenation == "sar":
        return _sar_parts(choice, reference, packed), "sar"
    return _udh_parts(choice, profile, reference, packed), "udh"


def _udh_parts(
    choice: Choice, profile: EncodingProfile, reference: int, packed: bool
) -> tuple[Part, ...]:
    total = len(choice.chunks)
    bits = profile.reference_bits
    width = 2 if choice.kind == "ucs2" else 1
    parts: list[Part] = []
    for seq, chunk in enumerate(choice.chunks, start=1):
        udh = build_udh(concat_ie(reference, total, seq, bits) + choice.shift_elements)
        body = pack_septets(chunk, udh=udh) if packed else udh + chunk
        parts.append(
            Part(seq=seq, short_message=body, esm_class=UDHI, udh=udh, units=len(chunk) // width)
        )
    return tuple(parts)


def _sar_parts(choice: Choice, reference: int, packed: bool) -> tuple[Part, ...]:
    total = len(choice.chunks)
    width = 2 if choice.kind == "ucs2" else 1
    return tuple(
        Part(
            seq=seq,
            short_message=pack_septets(chunk) if packed else chunk,
            esm_class=0,
            tlvs=dict(sar_tlvs(reference, total, seq)),
            units=len(chunk) // width,
        )
        for seq, chunk in enumerate(choice.chunks, start=1)
    )


def _check_reference(reference: int, profile: EncodingProfile) -> None:
    if not 0 <= reference < 1 << profile.reference_bits:
        raise InvalidReferenceError(
            f"reference {reference} does not fit {profile.reference_bits} bits"
        )


def _message(
    choice: Choice,
    profile: EncodingProfile,
    parts: tuple[Part, ...],
    concatenation: ConcatenationUsed,
    reference: int,
) -> EncodedMessage:
    units = choice.units
    septet = choice.kind == "septet"
    national = choice.locking or choice.single
    return EncodedMessage(
        text=choice.text,
        encoding=choice.encoding,
        data_coding=_data_coding(choice.encoding, profile),
        parts=parts,
        segments=len(choice.chunks),
        concatenation=concatenation,
        reference=None if concatenation == "none" else reference,
        septets=units if septet else None,
        octets=(7 * units + 7) // 8 if septet else len(choice.body),
        units=units,
        characters=len(choice.text),
        ucs2_forcing_chars=() if choice.encoding is Encoding.gsm7 else _forcing(choice),
        replacements=choice.replacements,
        language=NationalLanguage(national) if national else None,
        locking_shift=NationalLanguage(choice.locking) if choice.locking else None,
        single_shift=NationalLanguage(choice.single) if choice.single else None,
        packed=profile.gsm7_packed and septet,
    )


def _forcing(choice: Choice) -> tuple[str, ...]:
    return () if choice.encoding is Encoding.binary else ucs2_forcing_chars(choice.text)


def _data_coding(encoding: Encoding, profile: EncodingProfile) -> int:
    if encoding is Encoding.ucs2:
        return DATA_CODING_UCS2
    if encoding is Encoding.latin1:
        return DATA_CODING_LATIN1
    if encoding is Encoding.binary:
        return DATA_CODING_BINARY
    return profile.default_data_coding
