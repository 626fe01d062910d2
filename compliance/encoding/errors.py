"""Errors raised by text encoding, segmentation, UDH parsing and reassembly.

Everything here derives from `EncodingError`, itself a `ComplianceError`. Expected outcomes are
values, not exceptions: a message that needs UCS-2 is an `EncodedMessage` with encoding ucs2, an
incomplete concatenated MO is a `ReassembledMessage` with complete=False. These classes are for
what a caller must fix: a message longer than the carrier accepts, a bad profile, a
short_message whose user data header cannot be parsed.
"""

from __future__ import annotations

from compliance.errors import ComplianceError


class EncodingError(ComplianceError):
    """Root of every error the encoding subpackage raises."""


class InvalidProfileError(EncodingError, ValueError):
    """An `EncodingProfile` field is out of range; the message names the field."""


class InvalidReferenceError(EncodingError, ValueError):
    """A concatenation reference does not fit the profile's 8 or 16 bits."""


class MalformedUserDataError(EncodingError, ValueError):
    """A short_message is too short for the user data header its UDHL announces (TS 23.040)."""


class TooManyPartsError(EncodingError):
    """The cheapest encoding of a text still needs more parts than the profile allows.

    Attributes carry the counts so the caller can build a rejection reason without parsing the
    message: `parts` needed, `max_parts` allowed, the `encoding` name and its `units` (septets,
    octets or UTF-16 code units).
    """

    def __init__(self, *, parts: int, max_parts: int, encoding: str, units: int) -> None:
        self.parts = parts
        self.max_parts = max_parts
        self.encoding = encoding
        self.units = units
        super().__init__(
            f"text needs {parts} parts as {encoding} ({units} units); the limit is {max_parts}"
        )
