"""Smart encoding: replace look-alike characters so a text stays in the GSM-7 alphabet.

Owns the substitution table and its application. Every key is a character outside the GSM-7
default alphabet and extension table (TS 23.038 §6.2.1, §6.2.1.1) that has a GSM-7 look-alike;
every value is GSM-7 (or empty: invisible characters are removed). The lists follow what SMS
providers document for their own smart encoding (quotes and apostrophes as in Twilio's and
Sinch's lists; dashes and ellipsis as in Telnyx's examples) plus Unicode's space, dash and
bullet characters. Letters are never changed: "é" stays, "á" stays (it forces UCS-2 or a
national table), because stripping accents changes words.

Only characters with no effect on rendering are removed: ZERO WIDTH SPACE, WORD JOINER, the
BOM / ZERO WIDTH NO-BREAK SPACE and SOFT HYPHEN, which only hint where a line may break (The
Unicode Standard §23.2 "Layout Controls", UAX #14). ZERO WIDTH JOINER and ZERO WIDTH
NON-JOINER are never touched: they choose what is drawn. ZWJ joins emoji ZWJ sequences into
one glyph (UTS #51: without it a family shows as four people), and both select joined or
separate letter forms in Persian, Arabic and Indic words (§23.2 "Cursive Connection"), so
removing them misspells words.

Whether a replacement is worth it is decided in choose.py: by default it is kept only when
the replaced text travels as GSM-7 (the profile's `smart_encoding_mode`, "gsm7_only");
"reduce_parts" also keeps it when it merely saves parts in UCS-2 or Latin-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from compliance.encoding.model import Replacement

_SINGLE_QUOTES: Final = (
    "\u2018\u2019\u201a\u201b\u2032\u2035\u02b9\u02bb\u02bc\u02bd\u02c8\u02ca\u02cb"
    "\u00b4\u0060\u275b\u275c\uff07"
)
_DOUBLE_QUOTES: Final = (
    "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u02ba\u02ee\u275d\u275e\u301d\u301e\uff02"
)
_DASHES: Final = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACES: Final = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
_BULLETS: Final = "\u2022\u2023\u2043\u2219\u25e6\u25cf"
# Removed: no glyph and no effect on shaping. Never ZWNJ U+200C or ZWJ U+200D (see above).
_INVISIBLE: Final = "\u200b\u2060\ufeff\u00ad"

SMART_REPLACEMENTS: Final[Mapping[str, str]] = {
    **dict.fromkeys(_SINGLE_QUOTES, "'"),
    **dict.fromkeys(_DOUBLE_QUOTES, '"'),
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_BULLETS, "*"),
    **dict.fromkeys(_INVISIBLE, ""),
    "\u2026": "...",  # HORIZONTAL ELLIPSIS
    "\u2028": "\n",  # LINE SEPARATOR
    "\u2029": "\n",  # PARAGRAPH SEPARATOR
    "\u2039": "<",  # SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    "\u203a": ">",  # SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
    "\u02c6": "^",  # MODIFIER LETTER CIRCUMFLEX ACCENT
    "\u02dc": "~",  # SMALL TILDE
    "\u2044": "/",  # FRACTION SLASH
    "\u2215": "/",  # DIVISION SLASH
    "\u00d7": "x",  # MULTIPLICATION SIGN
}

_TABLE: Final = str.maketrans(dict(SMART_REPLACEMENTS))
_KEYS: Final = frozenset(SMART_REPLACEMENTS)


def apply_smart_encoding(text: str) -> tuple[str, tuple[Replacement, ...]]:
    """Replace look-alikes in `text`.

    Returns:
        The new text and what changed, as (original, replacement, count) in order of first
        appearance; `text` itself and () when nothing matched.
    """
    found = _KEYS.intersection(text)
    if not found:
        return text, ()
    replacements = tuple(
        Replacement(char, SMART_REPLACEMENTS[char], text.count(char))
        for char in sorted(found, key=text.index)
    )
    return text.translate(_TABLE), replacements
