"""Message text on the wire: GSM 03.38 default alphabet and UCS-2, UDH split, for the simulator.

A small, self-contained codec (3GPP TS 23.038 §6.2.1 default alphabet and its extension table,
unpacked: one septet per octet, as SMPP carries it with data_coding 0) used to decode what
ESMEs submit (for the reassembly log and the receipt's `text:` field) and to encode injected MO
messages. It does not do national language shift tables or packing; the gateway's own encoder
lives in `compliance/`.
"""

from __future__ import annotations

from typing import Final

from gateway.smpp.constants import DataCoding, EsmClass

# 3GPP TS 23.038 §6.2.1, code -> character; 0x1B is the escape to the extension table.
GSM7_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# 3GPP TS 23.038 §6.2.1.1 extension table (after 0x1B).
GSM7_EXTENSION: Final = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_ESCAPE: Final = 0x1B
_UDHI: Final = int(EsmClass.udhi)  # a plain int: IntFlag's & runs in Python
_ENCODE_BASIC: Final = {char: code for code, char in enumerate(GSM7_BASIC) if code != _ESCAPE}
_ENCODE_EXTENSION: Final = {char: code for code, char in GSM7_EXTENSION.items()}

UCS2_CODINGS: Final = frozenset({DataCoding.ucs2, 0x18})  # 0x18: UCS-2 class 0, passed through
LATIN1_CODINGS: Final = frozenset({DataCoding.latin1})
ASCII_CODINGS: Final = frozenset({DataCoding.ia5})
GSM7_CODINGS: Final = frozenset({DataCoding.default, DataCoding.flash_gsm, 0x10, 0xF1, 0xF2, 0xF3})


# code -> character for a str.translate over the octets read as Latin-1 (above 0x7F: '?').
_DECODE_BASIC: Final = GSM7_BASIC + "?" * 128


def decode_gsm7(octets: bytes) -> str:
    """Decode unpacked GSM-7 septets; unknown escapes and bytes above 0x7F become '?'."""
    if _ESCAPE not in octets:  # the usual case, in C: 4x faster than the loop below
        return octets.decode("latin-1").translate(_DECODE_BASIC)
    chars: list[str] = []
    escaped = False
    for octet in octets:
        if escaped:
            chars.append(GSM7_EXTENSION.get(octet, "?"))
            escaped = False
        elif octet == _ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[octet] if octet < 0x80 else "?")
    return "".join(chars)


def encode_gsm7(text: str) -> bytes | None:
    """Encode `text` as unpacked GSM-7 septets, or None when a character is not in GSM-7."""
    out = bytearray()
    for char in text:
        code = _ENCODE_BASIC.get(char)
        if code is not None:
            out.append(code)
            continue
        extension = _ENCODE_EXTENSION.get(char)
        if extension is None:
            return None
        out += bytes((_ESCAPE, extension))
    return bytes(out)


def decode_text(data_coding: int, octets: bytes) -> str:
    """Decode a message body (without UDH) by its data_coding (SMPP 3.4 §5.2.19).

    GSM-7 for the default alphabet, UTF-16BE for UCS-2 (a lone surrogate becomes U+FFFD),
    Latin-1 and ASCII as such; anything else (binary) is shown as hex.
    """
    if data_coding in GSM7_CODINGS:
        return decode_gsm7(octets)
    if data_coding in UCS2_CODINGS:
        return octets.decode("utf-16-be", errors="replace")
    if data_coding in LATIN1_CODINGS:
        return octets.decode("latin-1")
    if data_coding in ASCII_CODINGS:
        return octets.decode("ascii", errors="replace")
    return octets.hex()


def pack_gsm7(short_message: bytes, esm_class: int) -> bytes:
    """Pack an unpacked GSM-7 short_message 8-in-7, LSB first (TS 23.038 §6.1.2.1).

    A UDH (esm_class UDHI) stays as octets; the text starts on the septet boundary after it,
    the fill bits zero (TS 23.040 §9.2.3.24). When 7 bits of the last octet would be spare,
    a CR fills them so the receiver does not read a trailing '@' (TS 23.038 §6.1.2.3.1).
    """
    udh, septets = split_udh(esm_class, short_message)
    fill = (len(udh) * 8 + 6) // 7
    total = fill + len(septets)
    if total % 8 == 7:
        septets += b"\r"
    value = 0
    for index, septet in enumerate(bytes(fill) + septets):
        value |= (septet & 0x7F) << (7 * index)
    packed = value.to_bytes((7 * (fill + len(septets)) + 7) // 8, "little")
    return udh + packed[len(udh) :]


def split_udh(esm_class: int, octets: bytes) -> tuple[bytes, bytes]:
    """Split `short_message` into (UDH, body) when esm_class has UDHI (SMPP 3.4 §5.2.12).

    The UDH is UDHL plus UDHL octets (3GPP TS 23.040 §9.2.3.24); a UDHL running past the end
    yields an empty body rather than an error.
    """
    if not esm_class & _UDHI or not octets:
        return b"", octets
    end = 1 + octets[0]
    return octets[:end], octets[end:]


def encode_text(text: str) -> tuple[int, bytes]:
    """(data_coding, body): GSM-7 when every character fits, else UCS-2 (UTF-16BE)."""
    gsm = encode_gsm7(text)
    if gsm is not None:
        return DataCoding.default, gsm
    return DataCoding.ucs2, text.encode("utf-16-be")


def segment_body(data_coding: int, body: bytes, reference: int) -> list[bytes]:
    """Split an encoded body into short_messages with a concat UDH (IEI 0x00) when too long.

    Single parts hold 160 septets / 140 octets; concatenated parts 153 septets / 67 UCS-2
    units (3GPP TS 23.040 §9.2.3.24.1). Escapes and surrogate pairs are never split.
    """
    ucs2 = data_coding in UCS2_CODINGS
    if len(body) <= 140 or (not ucs2 and len(body) <= 160):
        return [body]
    chunks = _chunks(body, 134 if ucs2 else 153, ucs2)
    total = len(chunks)
    if total > 255:
        raise ValueError("message needs more than 255 parts")
    header = bytes((5, 0x00, 3, reference & 0xFF, total))
    return [header + bytes((seq,)) + chunk for seq, chunk in enumerate(chunks, start=1)]


def _chunks(body: bytes, size: int, ucs2: bool) -> list[bytes]:
    chunks: list[bytes] = []
    start = 0
    while start < len(body):
        end = min(start + size, len(body))
        if end < len(body):
            if ucs2 and 0xD8 <= body[end - 2] <= 0xDB:  # high surrogate: keep the pair whole
                end -= 2
            elif not ucs2 and body[end - 1] == _ESCAPE:  # an escape and its code stay together
                end -= 1
        chunks.append(body[start:end])
        start = end
    return chunks
