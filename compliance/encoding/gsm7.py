"""GSM 7-bit text codec: text <-> septets for any locking/single shift table pair, and packing.

Owns the mapping between text and unpacked septets (one septet per octet, the form SMPP
carries with data_coding 0) under 3GPP TS 23.038 §6.2.1 (default alphabet), §6.2.1.1
(extension table, reached through ESC 0x1B, two septets a character) and Annex A (national
language locking and single shift tables), plus the 8-septets-in-7-octets packing of
TS 23.038 §6.1.2.1 with the UDH fill bits of TS 23.040 §9.2.3.24.

Hot path: `Gsm7Codec.encode` never loops over characters in Python. The C charmap codec maps
every character to one byte: table characters to their code, shifted characters to a
placeholder byte 0x80 + n, which a few `bytes.replace` calls then widen to ESC + code. The
charmap codec's fast map needs U+0000 at index 0, so code 0x00's character is parked in the
escape slot 0x1B (never a character) and swapped back with one `bytes.translate`.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Mapping
from typing import Final

from compliance.encoding.locking_tables import LOCKING_TABLES
from compliance.encoding.shift_tables import SINGLE_SHIFT_TABLES

ESC: Final = 0x1B
CR: Final = 0x0D
MAX_SEPTETS: Final = 160  # TS 23.040 §9.2.3.16: 140 octets of user data

_UNDEFINED: Final = "\ufffe"  # charmap codecs read this as "no character at this index"
_EMPTY_CELL: Final = "\x00"  # the tables' marker for a cell the spec leaves empty
_INVALID: Final = 0xFF  # the byte U+0000 encodes to before the fix-up: not a GSM character
_PLACEHOLDER_BASE: Final = 0x80
_LOW_CODES: Final = bytes(range(0x80))
_ONE_BYTE: Final = tuple(bytes((i,)) for i in range(256))


class Gsm7Codec:
    """Encoder and decoder for one (locking shift, single shift) table pair.

    Language id 0 is the default alphabet / default extension table. Get instances from
    `gsm7_codec()`, which builds each pair once.
    """

    __slots__ = (
        "_decode_locking",
        "_decode_single",
        "_encoding_map",
        "_expansions",
        "_fix",
        "charset",
        "locking",
        "shifted",
        "single",
    )

    def __init__(self, locking: int, single: int) -> None:
        self.locking = locking
        self.single = single
        table = LOCKING_TABLES[locking]
        extension = SINGLE_SHIFT_TABLES[single]
        cells = [_UNDEFINED] * 256
        seen: set[str] = set()
        for code, char in enumerate(table):
            if char not in (_EMPTY_CELL, "\x1b") and char not in seen:
                cells[code] = char
                seen.add(char)
        cells[ESC], cells[0] = cells[0], "\x00"
        expansions: list[bytes] = []
        shifted: set[str] = set()
        for code, char in sorted(extension.items()):
            if char not in seen:  # a locking character always wins: one septet, not two
                seen.add(char)
                shifted.add(char)
                cells[_PLACEHOLDER_BASE + len(expansions)] = char
                expansions.append(bytes((ESC, code)))
        fix = bytearray(range(256))
        fix[ESC], fix[0] = 0x00, _INVALID
        self._encoding_map = codecs.charmap_build("".join(cells))
        self._fix = bytes(fix)
        self._expansions = tuple(expansions)
        self._decode_locking = table.replace(_EMPTY_CELL, _UNDEFINED).replace("\x1b", _UNDEFINED)
        self._decode_single: Mapping[int, str] = extension
        self.charset: frozenset[str] = frozenset(seen)
        self.shifted: frozenset[str] = frozenset(shifted)  # two septets: ESC + code

    def encode(self, text: str) -> bytes | None:
        """Unpacked septets for `text`, or None when a character is not in these tables."""
        try:
            septets = codecs.charmap_encode(text, "strict", self._encoding_map)[0]
        except UnicodeEncodeError:
            return None
        septets = septets.translate(self._fix)
        if septets.isascii():
            return septets
        shifted = septets.translate(None, _LOW_CODES)
        if _INVALID in shifted:
            return None
        expansions = self._expansions
        for placeholder in set(shifted):
            septets = septets.replace(
                _ONE_BYTE[placeholder], expansions[placeholder - _PLACEHOLDER_BASE]
            )
        return septets

    def decode(self, septets: bytes) -> str:
        """Text for unpacked septets (TS 23.038 §6.2.1.1 rules for the escape).

        ESC + a code absent from the single shift table shows the locking table's character;
        ESC ESC shows a space; a trailing lone ESC is dropped; undefined codes become U+FFFD.
        """
        if ESC not in septets:
            return codecs.charmap_decode(septets, "replace", self._decode_locking)[0]
        out: list[str] = []
        index, size = 0, len(septets)
        while index < size:
            code = septets[index]
            index += 1
            if code != ESC:
                out.append(self._locking_char(code))
            elif index < size:
                out.append(self._shifted_char(septets[index]))
                index += 1
        return "".join(out)

    def _locking_char(self, code: int) -> str:
        char = self._decode_locking[code] if code < 0x80 else _UNDEFINED
        return "\ufffd" if char == _UNDEFINED else char

    def _shifted_char(self, code: int) -> str:
        if code == ESC:
            return " "  # TS 23.038 §6.2.1.1 note 1: reserved, displayed as a space
        char = self._decode_single.get(code)
        return char if char is not None else self._locking_char(code)


@functools.cache
def gsm7_codec(locking: int = 0, single: int = 0) -> Gsm7Codec:
    """The codec for a table pair (0 = default), built on first use and kept."""
    return Gsm7Codec(locking, single)


def udh_septets(udh_octets: int) -> int:
    """Septets a UDH of `udh_octets` occupies, fill bits included: ceil(8n / 7) (TS 23.040)."""
    return (udh_octets * 8 + 6) // 7


def pack_septets(
    septets: bytes, *, udh: bytes = b"", max_septets: int | None = MAX_SEPTETS
) -> bytes:
    """Pack septets 8-in-7, LSB first (TS 23.038 §6.1.2.1), after an optional UDH.

    The text starts on the septet boundary after the UDH; the fill bits are zero
    (TS 23.040 §9.2.3.24). When the last octet would have 7 spare bits, a CR fills them so
    receivers do not read a spurious '@'; when the text ends with CR exactly on an octet
    boundary another CR is added, as receivers drop one (TS 23.038 §6.1.2.3.1). The second
    rule needs a free septet: capacity.split_body never leaves a full part ending with CR.
    `max_septets` is None for message_payload, which has no 160-septet limit.
    """
    fill = udh_septets(len(udh)) if udh else 0
    total = fill + len(septets)
    room = max_septets is None or total < max_septets
    if total % 8 == 7 or (room and total % 8 == 0 and septets.endswith(b"\r")):
        septets += b"\r"
    packed = _pack(bytes(fill) + septets)
    return udh + packed[len(udh) :]


def unpack_septets(data: bytes, *, udh_length: int = 0) -> bytes:
    """Unpack 8-in-7 user data to one septet per octet, skipping a UDH and its fill bits.

    Undoes pack_septets' CR padding (TS 23.038 §6.1.2.3.1): a final CR filling 7 spare bits
    is dropped, and so is the CR a sender doubles when its text ends with CR on an octet
    boundary (§6.1.1 defines CR CR as identical to CR, so nothing visible is lost).
    """
    septets = _unpack(data)
    count = len(septets)
    if (count % 8 == 0 and septets.endswith(b"\r")) or (
        count % 8 == 1 and septets.endswith(b"\r\r")
    ):
        septets = septets[:-1]
    return septets[udh_septets(udh_length) :] if udh_length else septets


def _pack(septets: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(septets), 8):
        chunk = septets[start : start + 8]
        value = 0
        for shift, septet in enumerate(chunk):
            value |= (septet & 0x7F) << (7 * shift)
        out += value.to_bytes((7 * len(chunk) + 7) // 8, "little")
    return bytes(out)


def _unpack(data: bytes) -> bytes:
    count = len(data) * 8 // 7
    out = bytearray()
    for start in range(0, len(data), 7):
        value = int.from_bytes(data[start : start + 7], "little")
        out += bytes((value >> (7 * shift)) & 0x7F for shift in range(8))
    return bytes(out[:count])
