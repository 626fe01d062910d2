"""Text encoding for SMS: GSM-7 (default and national tables), UCS-2, Latin-1, UDH, reassembly.

The segmenter lives in compliance.segment (it builds on this package); `encode_message` and
`encode_binary` are re-exported here lazily, so either import path works without an import
cycle. This package is pure: the standard library and `regex` (UAX #29 grapheme clusters) only,
no I/O, time injected.

Modules: model (values), errors, gsm7 (septet codec and packing), locking_tables and
shift_tables (3GPP TS 23.038 data; UCS-2 is Python's utf-16-be), capacity (part sizes, safe
cuts), graphemes (cluster boundaries near a cut), smart (look-alike replacement), choose
(cheapest encoding), udh (headers and SAR), decode (short_message to text), reassembly
(concatenated MO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compliance.encoding.decode import (
    decode_short_message,
    decode_user_data,
    encoding_for_data_coding,
)
from compliance.encoding.errors import (
    EncodingError,
    InvalidProfileError,
    InvalidReferenceError,
    MalformedUserDataError,
    TooManyPartsError,
)
from compliance.encoding.model import (
    ConcatInfo,
    DecodedText,
    EncodedMessage,
    Encoding,
    EncodingProfile,
    NationalLanguage,
    Part,
    Replacement,
    UdhInfo,
)
from compliance.encoding.reassembly import ReassembledMessage, Reassembler
from compliance.encoding.smart import apply_smart_encoding
from compliance.encoding.udh import concat_from_sar, parse_udh

if TYPE_CHECKING:
    from compliance.segment import encode_binary, encode_message
else:

    def __getattr__(name: str) -> object:
        """Lazy re-export of the segmenter (compliance.segment imports this package)."""
        if name in ("encode_message", "encode_binary"):
            from compliance import segment  # imported late: it imports this package

            return getattr(segment, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConcatInfo",
    "DecodedText",
    "EncodedMessage",
    "Encoding",
    "EncodingError",
    "EncodingProfile",
    "InvalidProfileError",
    "InvalidReferenceError",
    "MalformedUserDataError",
    "NationalLanguage",
    "Part",
    "ReassembledMessage",
    "Reassembler",
    "Replacement",
    "TooManyPartsError",
    "UdhInfo",
    "apply_smart_encoding",
    "concat_from_sar",
    "decode_short_message",
    "decode_user_data",
    "encode_binary",
    "encode_message",
    "encoding_for_data_coding",
    "parse_udh",
]
