"""Delivery receipts from carriers: recognising them, parsing them, and the ids they match by.

A receipt is a deliver_sm (or data_sm) whose esm_class message type is "SMSC delivery receipt"
or "intermediate notification" (SMPP 3.4 §5.2.12), or that carries receipted_message_id with
message_state (§5.3.2.12, §5.3.2.35). Its text follows the de-facto layout of SMPP 3.4
Appendix B:

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:E text:...

Real carriers vary it: keys in any case, fields missing or reordered, dates with seconds or
a 4-digit year, a trailing NUL, text sent as UCS-2 (decoded first: `receipt_text`), ids in
hex where the submit_sm_resp was decimal (or the reverse), leading zeros, `stat` spelt out
(DELIVERED, UNDELIVERABLE). The TLVs win over the text when both are present.

Only DELIVRD, UNDELIV, EXPIRED, DELETED and REJECTD (in any spelling, or as message_state)
finish a message; ENROUTE, ACCEPTD, SCHEDLD, BUFFRED, UNKNOWN and any other word are
intermediate (see `FINAL_STATES`).

Matching: at submit time each carrier message id is stored under `candidate_ids(cid)`; a
receipt is looked up under `receipt_id_candidates(ids, mode)`, in order of preference, and the
first key that maps to a message wins (gateway/store/lua/apply.lua). The per-carrier `mode` is the
override for carriers whose ids cannot be matched automatically; `auto` only converts where
the form of the id leaves no doubt (see `receipt_id_candidates`).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from compliance.encoding import Encoding, EncodingProfile, decode_short_message
from compliance.encoding.decode import encoding_for_data_coding
from gateway.smpp.constants import ESM_MESSAGE_TYPE_MASK, EsmClass, MessageState, TlvTag
from gateway.smpp.pdu import DataSm, DeliverSm

IdMode = Literal["auto", "exact", "hex_to_dec", "dec_to_hex", "strip_zeros"]


class ReceiptState(enum.Enum):
    """What a receipt says happened; the values are the words apply.lua understands."""

    enroute = "enroute"
    accepted = "accepted"
    scheduled = "scheduled"
    buffered = "buffered"
    delivered = "delivered"
    undelivered = "undelivered"
    expired = "expired"
    deleted = "deleted"
    rejected = "rejected"
    unknown = "unknown"


FINAL_STATES: Final = frozenset(
    {
        ReceiptState.delivered,
        ReceiptState.undelivered,
        ReceiptState.expired,
        ReceiptState.deleted,
        ReceiptState.rejected,
    }
)
"""The states that finish a message. Every other one is intermediate: it is recorded on the
message's history and the message waits for the receipt that follows.

- ENROUTE, SCHEDLD (SMPP 5.0 SCHEDULED) and BUFFRED say the carrier is still trying.
- ACCEPTD is final in SMPP 3.4 ("read on behalf of the subscriber by customer service"), but
  carriers send it to mean "accepted by the network", before DELIVRD or UNDELIV.
- UNKNOWN (message_state 7) is listed with the final states in SMPP 3.4 Appendix B, but
  SMPP 5.0's message_state table gives it no type, final or intermediate ("may be temporary
  or permanent"), and carriers send it before a definite receipt. It says nothing about the
  outcome, so it does not finish the message: a later DELIVRD or UNDELIV decides. A message
  that never gets one stays `submitted` with the UNKNOWN on its history.
- A word the engine does not know is `unknown` too, for the same reason: finishing the message
  on it would make the receipt that follows a duplicate.
"""

# message_state TLV values (SMPP 3.4 §5.2.28, 1-8; SMPP 5.0 adds 0 SCHEDULED).
_STATE_FROM_TLV: Final[dict[int, ReceiptState]] = {
    0: ReceiptState.scheduled,
    MessageState.ENROUTE: ReceiptState.enroute,
    MessageState.DELIVERED: ReceiptState.delivered,
    MessageState.EXPIRED: ReceiptState.expired,
    MessageState.DELETED: ReceiptState.deleted,
    MessageState.UNDELIVERABLE: ReceiptState.undelivered,
    MessageState.ACCEPTED: ReceiptState.accepted,
    MessageState.UNKNOWN: ReceiptState.unknown,
    MessageState.REJECTED: ReceiptState.rejected,
}

# `stat:` words, upper-cased: the Appendix B abbreviations (Table B-2), their spelt-out forms
# and the SMPP 5.0 / carrier intermediate words. Whole words only: a prefix would read an
# unforeseen word such as DELIVERY_FAILED as DELIVRD.
_STATE_FROM_TEXT: Final = {
    "DELIVRD": ReceiptState.delivered,
    "DELIVERED": ReceiptState.delivered,
    "UNDELIV": ReceiptState.undelivered,
    "UNDELIVERABLE": ReceiptState.undelivered,
    "UNDELIVERED": ReceiptState.undelivered,
    "FAILED": ReceiptState.undelivered,
    "EXPIRED": ReceiptState.expired,
    "DELETED": ReceiptState.deleted,
    "REJECTD": ReceiptState.rejected,
    "REJECTED": ReceiptState.rejected,
    "ENROUTE": ReceiptState.enroute,
    "ACCEPTD": ReceiptState.accepted,
    "ACCEPTED": ReceiptState.accepted,
    "SCHEDLD": ReceiptState.scheduled,
    "SCHEDULED": ReceiptState.scheduled,
    "BUFFRED": ReceiptState.buffered,
    "BUFFERED": ReceiptState.buffered,
    "UNKNOWN": ReceiptState.unknown,
}

_NOT_LETTERS: Final = re.compile("[^A-Z]")

_RECEIPT_TYPES: Final = frozenset(
    {int(EsmClass.smsc_delivery_receipt), int(EsmClass.intermediate_notification)}
)

# key:value pairs; a value runs up to the next space or NUL. "text:" is last and takes the rest.
# A NUL is never part of a value: carriers end the text with the C-string terminator
# ("err:000\x00", Jasmin's test samples) or pad it with NULs.
_FIELD: Final = re.compile(
    r"\b(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err)\s*:\s*([^\s\x00]*)", re.IGNORECASE
)
# What receipt text looks like as octets, to tell ASCII text from packed septets.
_LOOKS_LIKE_TEXT: Final = re.compile(rb"\b(id|stat)\s*:", re.IGNORECASE)
_DEFAULT_PROFILE: Final = EncodingProfile()
_TEXT_FIELD: Final = re.compile(r"\btext\s*:", re.IGNORECASE)
_STANDARD_KEYS: Final = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
# What each space-separated token of the Appendix B layout starts with ("submit" and "done"
# are tokens of their own).
_STANDARD_PREFIXES: Final = ("id:", "sub:", "dlvrd:", "date:", "date:", "stat:", "err:")
# The same layout with ASCII letters and digits for values: what nearly every carrier sends.
# Where it matches, `_standard_fields` would read the same seven values (each runs to the
# next space, and none can hold a key or "text:"), so one regex call replaces it.
_APPENDIX_B: Final = re.compile(
    r"id:([0-9A-Za-z]+) sub:([0-9A-Za-z]+) dlvrd:([0-9A-Za-z]+) submit date:([0-9A-Za-z]+) "
    r"done date:([0-9A-Za-z]+) stat:([0-9A-Za-z]+) err:([0-9A-Za-z]+)(?: text:|\Z)"
)
_HEX_DIGITS: Final = "0123456789abcdef"
# TLV tags as plain ints: the TLV dicts are keyed by int, and an enum member costs an
# attribute look-up on its class at every use.
_RECEIPTED_MESSAGE_ID: Final = int(TlvTag.receipted_message_id)
_MESSAGE_STATE: Final = int(TlvTag.message_state)
_MESSAGE_PAYLOAD: Final = int(TlvTag.message_payload)
_NETWORK_ERROR_CODE: Final = int(TlvTag.network_error_code)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """One parsed delivery receipt.

    `ids` holds the receipted message id as the TLV gave it and, when the text gave another
    spelling, that one too (TLV first). `error_code` is the `err:` field, or the
    network_error_code TLV's code when the text has none.
    """

    ids: tuple[str, ...]
    state: ReceiptState
    error_code: str | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: dt.datetime | None = None
    done_date: dt.datetime | None = None

    @property
    def message_id(self) -> str:
        """The preferred spelling of the receipted message id."""
        return self.ids[0]

    @property
    def final(self) -> bool:
        """Whether this receipt finishes its message (`FINAL_STATES`); the others are
        intermediate, recorded without finishing it."""
        return self.state in FINAL_STATES


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """Whether this deliver_sm / data_sm is a receipt rather than an MO message."""
    if pdu.esm_class & ESM_MESSAGE_TYPE_MASK in _RECEIPT_TYPES:
        return True
    tlvs = pdu.tlvs
    return _RECEIPTED_MESSAGE_ID in tlvs and _MESSAGE_STATE in tlvs


def parse_receipt(
    pdu: DeliverSm | DataSm, *, profile: EncodingProfile | None = None, now: float | None = None
) -> Receipt | None:
    """The receipt this PDU carries, or None when it is an MO message or names no id.

    A receipt with no id anywhere cannot be matched and is returned as None only when it is
    also not flagged as a receipt; a flagged receipt without any id gets the empty id, so the
    caller counts it unmatched instead of passing it on as an MO message.

    Args:
        pdu: the deliver_sm or data_sm.
        profile: the receiving carrier's encoding profile: what data_coding 0 means on it and
            whether its GSM-7 arrives packed (see `receipt_text`). Default: GSM-7 unpacked.
        now: the current time (epoch seconds), to read a 12-digit date whose layout is
            ambiguous (see `parse_receipt_date`).
    """
    if not is_receipt(pdu):
        return None
    text = _receipt_text(pdu, profile or _DEFAULT_PROFILE)
    text_id, sub, dlvrd, submit_date, done_date, stat, err = _field_values(text)
    return _receipt(
        _receipt_ids(pdu.tlvs.get(_RECEIPTED_MESSAGE_ID), text_id),
        _state(pdu, stat),
        err or _network_error(pdu),
        _int_or_none(sub),
        _int_or_none(dlvrd),
        _receipt_date(submit_date, now),
        _receipt_date(done_date, now),
    )


def _receipt_ids(tlv_id: object, text_id: str | None) -> tuple[str, ...]:
    """The receipted_message_id TLV's id, then the text's when it is spelt differently, both
    trimmed; a blank one is left out, and ("",) stands for none."""
    first = tlv_id.strip() if isinstance(tlv_id, str) else ""
    second = text_id.strip() if text_id else ""
    if not first:
        return (second,)
    if not second or second == first:
        return (first,)
    return (first, second)


def _store(name: str) -> Callable[[Receipt, object], None]:
    """The slot descriptor's store of Receipt field `name` (bypassing the frozen __setattr__)."""
    store: Callable[[Receipt, object], None] = Receipt.__dict__[name].__set__
    return store


_new: Final = object.__new__
_set_ids, _set_state, _set_error_code, _set_submitted, _set_delivered = map(
    _store, ("ids", "state", "error_code", "submitted", "delivered")
)
_set_submit_date, _set_done_date = _store("submit_date"), _store("done_date")


def _receipt(
    ids: tuple[str, ...], state: ReceiptState, error_code: str | None, submitted: int | None,
    delivered: int | None, submit_date: dt.datetime | None, done_date: dt.datetime | None,
) -> Receipt:  # fmt: skip
    """Receipt(ids=..., ...) built by slot stores: a frozen dataclass's __init__ sets each
    field through object.__setattr__, 1.2 us for these seven where the stores take 0.5, once
    per receipt (tests check both build equal receipts)."""
    receipt: Receipt = _new(Receipt)
    _set_ids(receipt, ids)
    _set_state(receipt, state)
    _set_error_code(receipt, error_code)
    _set_submitted(receipt, submitted)
    _set_delivered(receipt, delivered)
    _set_submit_date(receipt, submit_date)
    _set_done_date(receipt, done_date)
    return receipt


def _receipt_text(pdu: DeliverSm | DataSm, profile: EncodingProfile) -> str:
    payload = pdu.tlvs.get(_MESSAGE_PAYLOAD)
    raw = payload if isinstance(payload, bytes) and payload else b""
    if not raw and isinstance(pdu, DeliverSm):
        raw = pdu.short_message
    return receipt_text(raw, pdu.data_coding, profile)


def receipt_text(raw: bytes, data_coding: int, profile: EncodingProfile) -> str:
    """The receipt's text from its octets, decoded as the carrier sent it.

    Appendix B text is ASCII by convention, and ASCII letters, digits, space and ':' have the
    same codes in unpacked GSM-7 and Latin-1, so most receipts are read as Latin-1 octets.
    Two exceptions decode first:

    - data_coding 8 (UCS-2, SMPP 3.4 §5.2.19; or a TS 23.038 UCS-2 scheme): UTF-16BE, where
      every ASCII character has a NUL octet before it, so read as octets no key would match.
    - GSM-7 (data_coding 0 on a carrier whose default alphabet is GSM-7) from a carrier with
      `gsm7_packed`, when the octets do not already read as receipt text: unpacked first
      (some SMSCs pack receipts as they pack MO text; others send those as ASCII).

    Trailing NULs (a C-string terminator counted in sm_length) are dropped.
    """
    if data_coding == 0:
        encoding = profile.default_alphabet
    else:
        encoding = encoding_for_data_coding(data_coding)
    if encoding is Encoding.ucs2:
        text = raw.decode("utf-16-be", "replace")
    elif encoding is Encoding.gsm7 and profile.gsm7_packed and not _LOOKS_LIKE_TEXT.search(raw):
        text = decode_short_message(raw, data_coding, udhi=False, packed=True).text or ""
    else:
        text = raw.decode("latin-1")
    return text.rstrip("\x00")


def _field_values(text: str) -> tuple[str | None, ...]:
    """The receipt's id, sub, dlvrd, submit date, done date, stat and err (None: absent).

    One match of `_APPENDIX_B` reads the layout nearly every carrier sends; any other text
    is read field by field (`_text_fields`)."""
    match = _APPENDIX_B.match(text)
    if match is not None:
        return match.groups()
    fields = _text_fields(text)
    return tuple(map(fields.get, _STANDARD_KEYS))


def _text_fields(text: str) -> dict[str, str]:
    """The receipt's key:value fields, keys lower-cased with one space ("submit date")."""
    fields = _standard_fields(text)
    return _regex_fields(text) if fields is None else fields


def _standard_fields(text: str) -> dict[str, str] | None:
    """The fields of a receipt in exactly the Appendix B layout, else None.

    "id:X sub:S dlvrd:D submit date:A done date:B stat:T err:E[ text:...]", lower-case keys,
    single spaces, every value non-empty and alphanumeric: then each value runs to the next
    space and no value can hold a key or "text:", so this reads what `_regex_fields` would,
    at a fraction of its cost. Anything else (including an id with a dash) returns None.
    """
    parts = text.split(" ", 9)
    if len(parts) < 9 or parts[3] != "submit" or parts[5] != "done":
        return None
    if len(parts) == 10 and not parts[9].startswith("text:"):
        return None
    tokens = (parts[0], parts[1], parts[2], parts[4], parts[6], parts[7], parts[8])
    fields: dict[str, str] = {}
    for key, prefix, token in zip(_STANDARD_KEYS, _STANDARD_PREFIXES, tokens, strict=True):
        value = token[len(prefix) :]
        if not (token.startswith(prefix) and value.isalnum()):
            return None
        fields[key] = value
    return fields


def _regex_fields(text: str) -> dict[str, str]:
    """The fields of a receipt in any layout: keys in any case and order, loose spacing."""
    cut = _TEXT_FIELD.search(text)
    head = text[: cut.start()] if cut else text
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(head):
        key = match.group(1).lower().replace("_", " ")
        fields.setdefault(key, match.group(2))
    return fields


def _state(pdu: DeliverSm | DataSm, stat: str | None) -> ReceiptState:
    """The message_state TLV's state when it has a defined value (0-8), else the `stat:`
    word's; `unknown` when neither says anything the engine knows.

    The TLV wins over the text when they disagree (a binary field set by the SMSC, not a
    free-text convention), including in the direction that keeps a message open: TLV ENROUTE
    with `stat:DELIVRD` is intermediate. An undefined TLV value (9 SKIPPED, vendor values)
    is ignored and the text decides.
    """
    value = pdu.tlvs.get(_MESSAGE_STATE)
    if isinstance(value, int) and value in _STATE_FROM_TLV:
        return _STATE_FROM_TLV[value]
    if stat:
        word = stat.upper()
        state = _STATE_FROM_TEXT.get(word)
        if state is None:  # EN_ROUTE, "DELIVRD," or a trailing NUL: letters only
            state = _STATE_FROM_TEXT.get(_NOT_LETTERS.sub("", word), ReceiptState.unknown)
        return state
    return ReceiptState.unknown


def _network_error(pdu: DeliverSm | DataSm) -> str | None:
    """The code of a network_error_code TLV (§5.3.2.31: 1 octet type, 2 octets code)."""
    value = pdu.tlvs.get(_NETWORK_ERROR_CODE)
    if isinstance(value, bytes) and len(value) == 3:
        return f"{int.from_bytes(value[1:], 'big'):03d}"
    return None


def _int_or_none(value: str | None) -> int | None:
    # isdecimal, not isdigit: '²' is a digit that int() refuses (every decimal it reads)
    return int(value) if value and value.isdecimal() else None


def parse_receipt_date(value: str | None, *, near: dt.datetime | None = None) -> dt.datetime | None:
    """A receipt date as a UTC datetime, else None. Layouts by digit count (domain.md §1.13):

    - 10: YYMMDDhhmm (SMPP 3.4 Appendix B);
    - 12: YYMMDDhhmmss (seconds added; cloudhopper 2.6) or YYYYMMDDhhmm (a 4-digit year);
    - 14: YYYYMMDDhhmmss (cloudhopper's DeliveryReceiptTest: "20110314181534").

    Read by slicing, as `strptime` would with two digits per field (a tenth of its cost):
    a 2-digit YY 69-99 is 19YY and 00-68 is 20YY (POSIX), a 4-digit year must be 19YY or
    20YY, an impossible date or time is None. Twelve digits fit both layouts; when both give
    a real instant the one nearer `near` (the time the receipt arrived: its dates are recent)
    wins, else YYMMDDhhmmss, the layout seen more in the field. Only ASCII digits count,
    which is all a latin-1 receipt text can hold.
    """
    short, long = _layouts(value)
    if short is None or long is None:
        return short or long
    return _nearer(short, long, near)


def _receipt_date(value: str | None, now: float | None) -> dt.datetime | None:
    """`parse_receipt_date(value, near=<now as a datetime>)`, where `now` (epoch seconds)
    becomes a datetime only for a 12-digit date that fits both layouts: no other needs it."""
    short, long = _layouts(value)
    if short is None or long is None:
        return short or long
    return _nearer(short, long, None if now is None else dt.datetime.fromtimestamp(now, dt.UTC))


def _nearer(short: dt.datetime, long: dt.datetime, near: dt.datetime | None) -> dt.datetime:
    """The reading nearer `near`; YYMMDDhhmmss (`short`) on a tie or without `near`."""
    if near is not None and abs(long - near) < abs(short - near):
        return long
    return short


@functools.lru_cache(maxsize=256)
def _layouts(value: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The date `value` gives in its 2-digit-year layout and in its 4-digit-year one (one of
    them None but for 12 digits; both None unless it is 10, 12 or 14 ASCII digits).
    Memoised: the receipts of a minute share their dates."""
    if not value or len(value) not in (10, 12, 14) or not (value.isascii() and value.isdigit()):
        return None, None
    if len(value) == 10:
        return _date(_two_digit_year(value[:2]), value[2:], seconds=False), None
    if len(value) == 14:
        return None, _date(_four_digit_year(value[:4]), value[4:], seconds=True)
    return (
        _date(_two_digit_year(value[:2]), value[2:], seconds=True),
        _date(_four_digit_year(value[:4]), value[4:], seconds=False),
    )


def _two_digit_year(yy: str) -> int:
    year = int(yy)
    return year + (2000 if year <= 68 else 1900)


def _four_digit_year(yyyy: str) -> int | None:
    return int(yyyy) if yyyy[:2] in ("19", "20") else None


def _date(year: int | None, rest: str, *, seconds: bool) -> dt.datetime | None:
    """MMDDhhmm[ss] in `year` (UTC), or None when the year or any field is impossible."""
    if year is None:
        return None
    try:
        return dt.datetime(
            year,
            int(rest[0:2]),
            int(rest[2:4]),
            int(rest[4:6]),
            int(rest[6:8]),
            int(rest[8:10]) if seconds else 0,
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None


def canonical_id(message_id: str) -> str:
    """A carrier message id folded for matching: trimmed, lower-case, no leading zeros."""
    folded = message_id.strip().lower()
    return folded.lstrip("0") or ("0" if folded else "")


def candidate_ids(carrier_message_id: str) -> tuple[str, ...]:
    """The keys a submit_sm_resp id is stored under: as given and, if different, canonical."""
    canonical = canonical_id(carrier_message_id)
    if canonical == carrier_message_id:
        return (carrier_message_id,)
    return (carrier_message_id, canonical)


def receipt_id_candidates(ids: str | Iterable[str], *, mode: IdMode) -> tuple[str, ...]:
    """The keys to look a receipt up under, most preferred first.

    Modes (the carrier's `receipt_id_mode`):
      exact        the id as the receipt gives it.
      strip_zeros  canonical form only (case and leading zeros ignored).
      hex_to_dec   the receipt's id is hex, the submit_sm_resp's was decimal.
      dec_to_hex   the receipt's id is decimal, the submit_sm_resp's was hex.
      auto         as given, then canonical; then, only for an id with hex letters (so it
                   cannot be decimal), its decimal value. A decimal-looking id is never
                   converted in auto mode, because it may equally be a hex id: carriers
                   that report hex resp ids in decimal receipts need `dec_to_hex`.
    """
    given = (ids,) if isinstance(ids, str) else tuple(ids)
    if len(given) == 1:  # most receipts: the TLV and the text agree, or only one gives an id
        return _unique(_keys_for(given[0], mode))
    keys: list[str] = []
    for message_id in given:
        keys.extend(_keys_for(message_id, mode))
    return _unique(keys)


def _keys_for(message_id: str, mode: IdMode) -> list[str]:
    if mode == "exact":
        return [message_id]
    canonical = canonical_id(message_id)
    if mode == "strip_zeros":
        return [canonical]
    if mode == "hex_to_dec":
        return [str(int(canonical, 16))] if _is_hex(canonical) else [canonical]
    if mode == "dec_to_hex":
        return [format(int(canonical), "x")] if canonical.isdecimal() else [canonical]
    # auto: hex letters (not only digits) make the id hex for certain; add its decimal value
    if _is_hex(canonical) and not canonical.isdigit():
        return [message_id, canonical, str(int(canonical, 16))]
    return [message_id, canonical]


def _is_hex(value: str) -> bool:
    """Lower-case ASCII hex digits only (strip leaves nothing), and at least one."""
    return bool(value) and not value.strip(_HEX_DIGITS)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
