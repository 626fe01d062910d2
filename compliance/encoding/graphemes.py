"""Grapheme clusters: where a text may be cut without breaking what a reader sees as one character.

Owns the lookup of extended grapheme clusters (Unicode UAX #29 §3.1) near a cut, in code
points and in encoded units. The clusters themselves come from the `regex` module's `\\X`,
which implements UAX #29 with its own, current Unicode data (flags, emoji ZWJ sequences and
skin tones, base + combining marks, Hangul syllables, Indic conjuncts of rule GB9c); nothing
here re-implements the rules.

Only the neighbourhood of a cut is segmented. `\\X` restarts at a position p where neither
text[p - 1] nor text[p] can belong to a cluster of two or more code points (the class
`_JOINING` below, read off the rules of UAX #29 §3.1.1 with the library's property data):
every rule that joins two code points (GB3, GB6-GB9c, GB11-GB13) needs one of those on one
side of the pair, and a boundary with neither resets the look-back of GB9c, GB11 and
GB12/13, so the clusters after p are the same as those of the whole text.

Pure: the standard library and `regex` only.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import regex

if TYPE_CHECKING:
    from compliance.encoding.capacity import UnitKind

_CLUSTER: Final = regex.compile(r"\X")
_ESC: Final = b"\x1b"

# Code points that can share a cluster with a neighbour: CR (GB3), Hangul jamo and syllables
# (GB6-GB8), Extend (which includes the Indic linkers of GB9c and the emoji modifiers) and
# ZWJ (GB9, GB11), SpacingMark (GB9a), Prepend (GB9b), regional indicators (GB12/13).
_JOINING: Final = regex.compile(
    r"[\r\p{Grapheme_Cluster_Break=L}\p{Grapheme_Cluster_Break=V}\p{Grapheme_Cluster_Break=T}"
    r"\p{Grapheme_Cluster_Break=LV}\p{Grapheme_Cluster_Break=LVT}"
    r"\p{Grapheme_Cluster_Break=Extend}\p{Grapheme_Cluster_Break=ZWJ}"
    r"\p{Grapheme_Cluster_Break=SpacingMark}\p{Grapheme_Cluster_Break=Prepend}"
    r"\p{Grapheme_Cluster_Break=Regional_Indicator}]"
)


@functools.lru_cache(maxsize=4096)
def _joins(char: str) -> bool:
    return _JOINING.match(char) is not None


def clusters(text: str) -> list[str]:
    """Every extended grapheme cluster of `text`, in order (the whole-text segmentation)."""
    return _CLUSTER.findall(text)


def cluster_span(text: str, index: int, known: int = 0) -> tuple[int, int]:
    """Start and end (code points) of the cluster holding text[index].

    `known` is a cluster boundary at or before `index` (0 will do): the search never goes
    back past it, so walking a text cut by cut segments it once. `index` == len(text) gives
    (len(text), len(text)): the end of the text is a boundary.
    """
    size = len(text)
    if index >= size:
        return size, size
    start = index
    while start > known and (_joins(text[start - 1]) or _joins(text[start])):
        start -= 1  # back to a position where a cluster surely starts
    # \X matches at every position, so the matches tile the text from `start` on
    return next((m.start(), m.end()) for m in _CLUSTER.finditer(text, start) if m.end() > index)


def cluster_start(text: str, index: int, known: int = 0) -> int:
    """Where the cluster holding text[index] starts (`index` itself at a boundary); `known`
    as for cluster_span."""
    if 0 < index < len(text) and (_joins(text[index - 1]) or _joins(text[index])):
        return cluster_span(text, index, known)[0]
    return index  # the start, the end, or between two characters that join nothing


def clusters_cut(text: str, cuts: Iterable[int]) -> list[tuple[int, str]]:
    """(cut, cluster) for every cut (a code point offset) that falls inside a cluster."""
    found = []
    for cut in cuts:
        start, end = cluster_span(text, cut)
        if start != cut:
            found.append((cut, text[start:end]))
    return found


def is_boundary(text: str, index: int) -> bool:
    """True when a grapheme cluster starts (or the text ends) at code point `index`."""
    return cluster_start(text, index) == index


class UnitClusters:
    """Cluster boundaries of a text, measured in the units of its encoded `body`.

    `kind` says what a unit is (capacity.UnitKind): a UTF-16 code unit, where characters
    beyond U+FFFF take two; a septet, where the `shifted` characters take two (ESC + code,
    TS 23.038 §6.2.1.1); or an octet. Offsets are converted only where a cut falls.
    """

    __slots__ = ("_body", "_kind", "_known", "_shifted", "_text")

    def __init__(
        self, text: str, body: bytes, kind: UnitKind, shifted: frozenset[str] = frozenset()
    ) -> None:
        self._text = text
        self._body = body
        self._kind = kind
        self._shifted = shifted
        self._known = 0  # the last cluster start found: asked in order, the text is read once

    def floor(self, unit: int) -> int:
        """The last cluster boundary at or before `unit` (a character boundary of the body)."""
        index = self._index(unit)
        start = cluster_start(self._text, index, self._known if self._known <= index else 0)
        self._known = start
        if start == index:
            return unit
        return unit - self._units(self._text[start:index])

    def _index(self, unit: int) -> int:
        if self._kind == "septet":
            return unit - self._body.count(_ESC, 0, unit)
        if self._kind == "ucs2" and len(self._body) != 2 * len(self._text):
            return len(codecs.utf_16_be_decode(self._body[: 2 * unit], "surrogatepass")[0])
        return unit

    def _units(self, chars: str) -> int:
        if self._kind == "septet":
            return len(chars) + sum(char in self._shifted for char in chars)
        if self._kind == "ucs2":
            return len(chars) + sum(char > "\uffff" for char in chars)
        return len(chars)
