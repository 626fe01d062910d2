"""How much text fits in one SMS, and where a long encoded text may be cut.

Owns the per-part capacities of TS 23.040 §9.2.3.16/§9.2.3.24 (140 octets of user data: 160
septets, 140 octets or 70 UTF-16 code units, less the UDH, which costs ceil(8n/7) septets in
GSM-7 because the text starts on a septet boundary) and the cutting rule: a part never ends
between an escape (0x1B) and its code (TS 23.038 §6.2.1.1) nor between the two halves of a
UTF-16 surrogate pair, so each part decodes on its own.
"""

from __future__ import annotations

from typing import Final, Literal

from compliance.encoding.gsm7 import CR, ESC, MAX_SEPTETS, udh_septets

UnitKind = Literal["septet", "octet", "ucs2"]

MAX_OCTETS: Final = 140


def part_capacity(kind: UnitKind, udh_octets: int) -> int:
    """Units of text that fit in one part whose UDH (UDHL included) has `udh_octets` octets.

    >>> part_capacity("septet", 6), part_capacity("octet", 6), part_capacity("ucs2", 7)
    (153, 134, 66)
    """
    if kind == "septet":
        return MAX_SEPTETS - udh_septets(udh_octets)
    if kind == "octet":
        return MAX_OCTETS - udh_octets
    return (MAX_OCTETS - udh_octets) // 2


def fits_one_part(body: bytes, kind: UnitKind, capacity: int, *, packed: bool = False) -> bool:
    """True when `body` fits one part of `capacity` units.

    With packed GSM-7 a full part must not end with CR: it would sit on an octet boundary with
    no room for the second CR of TS 23.038 §6.1.2.3.1, and receivers would drop it.
    """
    units = len(body) // 2 if kind == "ucs2" else len(body)
    if units < capacity:
        return True
    return units == capacity and not (packed and kind == "septet" and body.endswith(b"\r"))


def split_body(body: bytes, kind: UnitKind, capacity: int, *, packed: bool = False) -> list[bytes]:
    """Cut encoded text into parts of at most `capacity` units, greedily.

    `body` is unpacked septets ("septet"), octets, or UTF-16BE ("ucs2"). A part that would end
    on an escape or a high surrogate (or, packed, a full part on CR) ends one unit earlier.
    """
    if capacity < 2:
        raise ValueError(f"capacity must be at least 2 units, got {capacity}")
    width = 2 if kind == "ucs2" else 1
    limit = capacity * width
    chunks: list[bytes] = []
    start, size = 0, len(body)
    while not fits_one_part(body[start:], kind, capacity, packed=packed):
        end = start + limit
        if kind == "septet" and (body[end - 1] == ESC or (packed and body[end - 1] == CR)):
            end -= 1
        elif kind == "ucs2" and 0xD8 <= body[end - 2] <= 0xDB:
            end -= 2
        chunks.append(body[start:end])
        start = end
    chunks.append(body[start:size])
    return chunks
