"""The handset a receipt or an MO message comes from, written as the engine keys a recipient.

The engine records, shards and indexes a message under its recipient's E.164 digits without
'+' (compliance/numbers.py), and submits those digits as destination_addr with TON 1. A
receipt comes back from that handset (its source_addr), but many SMSCs write the number their
own way: with '+', with the "00" international prefix, or nationally (a trunk prefix '0', or
TON 2). Taken as written, such a receipt is looked for in the wrong shard (with
`streams.shards` > 1), where its message is not: the message would wait for its receipt
timeout and be reported expired although it was delivered. Nor would the number match the
destination of a message held for its receipt (gateway/store/lua/apply.lua, "Receipts by
destination").

A receipt's handset is normally its source_addr, as SMSCs swap a receipt's addresses. Some do
not: the receipt's source_addr is then the message's sender and its destination_addr the
handset. `receipt_handsets` takes the destination when the source cannot be a handset (an
alphanumeric sender) and the destination is a number. A numeric sender (a long code) cannot
be told from a handset: such a receipt is looked for where that number leads, with its
destination as the alternative handset for a match by destination (apply.lua), and found in
the other shards later (gateway/engine/orphan_receipts.py).

`handset_number` gives the digits back. A national number needs its country: `national`
resolves it (the engine passes the compliance policy's number parser, so it is
`default_region` of compliance.yaml, as for MO opt-outs); without one, or when it cannot,
the number is used as written, which is all an unknown format allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.smpp.constants import Ton

NationalResolver = Callable[[str], str | None]
"""E.164 digits (no '+') of a number in national format, or None when it cannot tell."""

# Ton members as plain ints, compared once or twice per receipt (an enum member costs an
# attribute look-up on its class).
_UNKNOWN: Final = int(Ton.unknown)
_INTERNATIONAL: Final = int(Ton.international)
_NATIONAL: Final = int(Ton.national)


def handset_number(addr: str, ton: int, national: NationalResolver | None = None) -> str:
    """The E.164 digits (no '+') of the handset `addr` (of type of number `ton`), as far as
    they can be told; otherwise `addr` as written (an alphanumeric or short code, say)."""
    if addr.startswith("+"):
        digits = addr[1:]
        return digits if _all_digits(digits) else addr
    if not _all_digits(addr):
        return addr
    if ton == _NATIONAL:
        return _resolved(addr, national)
    if addr.startswith("00"):  # the ITU international prefix
        return addr[2:]
    if ton == _INTERNATIONAL:
        return addr
    if ton == _UNKNOWN:
        return _resolved(addr, national) if addr.startswith("0") else addr
    return addr  # network-specific, subscriber, abbreviated: no country code to find


def receipt_handsets(
    source: str, source_ton: int, destination: str, destination_ton: int,
    national: NationalResolver | None = None,
) -> tuple[str, str]:  # fmt: skip
    """The E.164 digits of the handset a receipt reports on, and of the alternative one.

    The handset is its source_addr's, or its destination_addr's when the source is a name (the
    SMSC did not swap the addresses). The alternative is the destination's digits when both
    addresses are numbers (the handset if the SMSC did not swap them, else our long code),
    or "".
    """
    handset = handset_number(source, source_ton, national)
    if not destination:
        return handset, ""
    other = handset_number(destination, destination_ton, national)
    if not _all_digits(other) or other == handset:
        return handset, ""
    if not _all_digits(handset):
        return other, ""
    return handset, other


def _resolved(addr: str, national: NationalResolver | None) -> str:
    found = national(addr) if national is not None else None
    return found or addr


def _all_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
