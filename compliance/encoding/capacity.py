"""How much text fits in one SMS, and where a long encoded text may be cut.

Owns the per-part capacities of TS 23.040 §9.2.3.16/§9.2.3.24 (140 octets of user data: 160
septets, 140 octets or 70 UTF-16 code units, less the UDH, which costs ceil(8n/7) septets in
GSM-7 because the text starts on a septet boundary) and the cutting rule: a part never ends
between an escape (0x1B) and its code (TS 23.038 §6.2.1.1) nor between the two halves of a
UTF-16 surrogate pair, so each part decodes on its own; and, given the text's grapheme
clusters (graphemes.py), not inside a cluster (UAX #29) unless keeping it whole would cost a
part, so each part also displays on its own.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final, Literal

from compliance.encoding.gsm7 import CR, ESC, MAX_SEPTETS, udh_septets

if TYPE_CHECKING:
    from compliance.encoding.graphemes import UnitClusters

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


def split_body(
    body: bytes,
    kind: UnitKind,
    capacity: int,
    *,
    packed: bool = False,
    clusters: UnitClusters | None = None,
) -> list[bytes]:
    """Cut encoded text into parts of at most `capacity` units.

    `body` is unpacked septets ("septet"), octets, or UTF-16BE ("ucs2"). Each cut is the
    furthest one allowed: a part that would end on an escape or a high surrogate (or, packed,
    a full part on CR) ends one unit earlier. With `clusters`, a cut inside a grapheme
    cluster moves back to the cluster's start whenever the rest still fits the same number of
    parts (UAX #29; a cluster longer than a part is cut where it must be), so the part count
    is never more than the plain cut's.
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
    if clusters is None or len(chunks) == 1:
        return chunks
    cuts = _cluster_cuts(body, kind, capacity, packed, clusters, len(chunks) - 1)
    if cuts is None:
        return chunks  # every plain cut already falls between clusters
    bounds = [0, *(cut * width for cut in cuts), size]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def _cluster_cuts(
    body: bytes, kind: UnitKind, capacity: int, packed: bool, clusters: UnitClusters, count: int
) -> list[int] | None:
    """`count` cuts, each at the cluster boundary before the furthest cut when the remainder
    still fits the parts left (the fewest parts from any position are monotone in it, so
    checking the latest boundary is enough), else at the furthest cut; None when no cut moved.
    """
    cuts: list[int] = []
    moved = False
    start = 0
    for left in range(count - 1, -1, -1):
        furthest = _furthest_cut(body, start, kind, capacity, packed)
        cut = clusters.floor(furthest)
        if cut != furthest and (
            cut <= start
            or _splits_a_unit(body, cut, kind)
            or _parts_from(body, cut, kind, capacity, packed) > left + 1
        ):
            cut = furthest  # a cluster longer than a part, or cutting it costs a part
        moved = moved or cut != furthest
        cuts.append(cut)
        start = cut
    return cuts if moved else None


def _splits_a_unit(body: bytes, cut: int, kind: UnitKind) -> bool:
    """A cut after an escape or a high surrogate: never taken (only a str holding surrogate
    code points, which UTF-16 cannot tell from a pair, could ask for one)."""
    if kind == "septet":
        return body[cut - 1] == ESC
    return kind == "ucs2" and 0xD8 <= body[2 * cut - 2] <= 0xDB


def _units(body: bytes, kind: UnitKind) -> int:
    return len(body) // 2 if kind == "ucs2" else len(body)


def _fits_from(body: bytes, start: int, kind: UnitKind, capacity: int, packed: bool) -> bool:
    """`fits_one_part` for the units of `body` from unit `start` on, without copying."""
    units = _units(body, kind) - start
    if units < capacity:
        return True
    return units == capacity and not (packed and kind == "septet" and body.endswith(b"\r"))


def _furthest_cut(body: bytes, start: int, kind: UnitKind, capacity: int, packed: bool) -> int:
    """The unit offset where a part starting at `start` ends at the latest."""
    end = start + capacity
    if kind == "septet":
        if body[end - 1] == ESC or (packed and body[end - 1] == CR):
            end -= 1
    elif kind == "ucs2" and 0xD8 <= body[2 * end - 2] <= 0xDB:
        end -= 1
    return end


def _parts_from(body: bytes, start: int, kind: UnitKind, capacity: int, packed: bool) -> int:
    """The fewest parts for the units of `body` from `start` on (the furthest cut each time)."""
    parts = 1
    while not _fits_from(body, start, kind, capacity, packed):
        start = _furthest_cut(body, start, kind, capacity, packed)
        parts += 1
    return parts
