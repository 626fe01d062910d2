"""Message ids and delivery receipts: the id allocator, the receipt text and its deliver_sm.

The receipt follows the de-facto format of SMPP 3.4 Appendix B (domain.md §1.13):

    id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000
    text:<first 20 characters>

carried in a deliver_sm with esm_class 0x04 (SMSC delivery receipt, §5.2.12), and with the
receipted_message_id (0x001E), message_state (0x0427) and, on failure, network_error_code
(0x0423: type 3 = GSM, then the 2-octet code) TLVs (§5.3.2.12, §5.3.2.35, §5.3.2.31).
The receipt goes from the original destination back to the original source. Dates are UTC.

Intermediate receipts (`receipts.intermediate`, e.g. ENROUTE, BUFFRED) have the same layout
with dlvrd:000 err:000 and their own `stat:` word, and carry message_state only for a word
that has an SMPP 3.4 state (ENROUTE, ACCEPTD, UNKNOWN): like many carriers, BUFFRED or
SCHEDLD is said by the text alone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final, Literal

import phonenumbers

from gateway.smpp.constants import DataCoding, EsmClass, MessageState, TlvTag, Ton
from gateway.smpp.pdu import DeliverSm
from simulator.behaviour import MESSAGE_STATE
from simulator.config import HandsetFormat, MessageIdFormat, Outcome

RECEIPT_TEXT_CHARS: Final = 20
_NETWORK_ERROR_GSM: Final = 3
# Characters kept in the receipt's text: printable ASCII that GSM-7 encodes at the same
# code point (3GPP TS 23.038 §6.2.1); anything else becomes '?'.
_SAFE: Final = frozenset(
    " !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_UNSAFE: Final = re.compile("[^" + re.escape("".join(sorted(_SAFE))) + "]")
_RECEIPT_ESM_CLASS: Final = int(EsmClass.smsc_delivery_receipt)
_new: Final = object.__new__

INTERMEDIATE_STATE: Final = {
    "ENROUTE": MessageState.ENROUTE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
}
"""message_state TLV value of the intermediate `stat:` words that have one (SMPP 3.4 §5.2.28)."""


def handset_address(where: tuple[int, int, str], fmt: HandsetFormat) -> tuple[int, int, str]:
    """The (ton, npi, addr) a receipt gives as its source: the submitted destination `where`,
    written as `fmt` says (config `receipts.handset_format`). A destination that is not
    international digits, or (for `national`) not a number phonenumbers knows, stays as it
    was submitted."""
    _, npi, addr = where
    digits = addr.removeprefix("+")
    if fmt == "as_submitted" or not (digits.isascii() and digits.isdigit()):
        return where
    if fmt == "plus":
        return Ton.international, npi, "+" + digits
    if fmt == "idd":
        return Ton.unknown, npi, "00" + digits
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return where
    if not phonenumbers.is_valid_number(number):
        return where
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return Ton.national, npi, "".join(c for c in national if c.isdigit())


class MessageIds:
    """Unique message ids, counting up from `start`, written in decimal or lower-case hex."""

    __slots__ = ("_hex", "_next")

    def __init__(self, id_format: MessageIdFormat, start: int) -> None:
        self._hex = id_format is MessageIdFormat.hex
        self._next = start

    def allocate(self) -> str:
        """The next id (SMPP 3.4 §5.2.23: a C-octet string of at most 64 characters)."""
        number = self._next
        self._next = number + 1
        return format(number, "x") if self._hex else str(number)


def receipt_id(
    message_id: str,
    response_format: MessageIdFormat,
    receipt_format: Literal["same", "decimal", "hex"],
) -> str:
    """The id written in the receipt text: the submit_sm_resp id, or it converted to another base.

    Converting reproduces SMSCs that answer in hex but report in decimal, or the reverse.
    """
    if receipt_format == "same" or receipt_format == response_format.value:
        return message_id
    number = int(message_id, 16 if response_format is MessageIdFormat.hex else 10)
    return format(number, "x") if receipt_format == "hex" else str(number)


class ReceiptDates:
    """YYMMDDhhmm (UTC) for a wall-clock timestamp, cached per minute (one strftime a minute)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def format(self, timestamp: float) -> str:
        minute = int(timestamp // 60)
        text = self._cache.get(minute)
        if text is None:
            if len(self._cache) > 1024:
                self._cache.clear()
            moment = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
            text = self._cache[minute] = moment.strftime("%y%m%d%H%M")
        return text


def receipt_text(
    *, message_id: str, outcome: Outcome, err: int, submit_date: str, done_date: str, text: str
) -> str:
    """The receipt's short_message text (SMPP 3.4 Appendix B layout)."""
    delivered = "001" if outcome is Outcome.DELIVRD else "000"
    snippet = _UNSAFE.sub("?", text[:RECEIPT_TEXT_CHARS])
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submit_date} "
        f"done date:{done_date} stat:{outcome.value} err:{err:03d} text:{snippet}"
    )


def intermediate_text(
    *, message_id: str, stat: str, submit_date: str, done_date: str, text: str
) -> str:
    """An intermediate receipt's text: the Appendix B layout with `stat:` word `stat`."""
    snippet = _UNSAFE.sub("?", text[:RECEIPT_TEXT_CHARS])
    return (
        f"id:{message_id} sub:001 dlvrd:000 submit date:{submit_date} "
        f"done date:{done_date} stat:{stat} err:000 text:{snippet}"
    )


def build_intermediate_receipt(
    *,
    message_id: str,
    text: str,
    stat: str,
    original_source: tuple[int, int, str],
    original_destination: tuple[int, int, str],
) -> DeliverSm:
    """The deliver_sm of an intermediate receipt (esm_class 0x04, as carriers send them);
    `text` comes from `intermediate_text`. message_state only when `stat` has one."""
    tlvs: dict[int, int | str | bytes] = {TlvTag.receipted_message_id: message_id}
    state = INTERMEDIATE_STATE.get(stat.upper())
    if state is not None:
        tlvs[TlvTag.message_state] = state
    src_ton, src_npi, src = original_destination
    dst_ton, dst_npi, dst = original_source
    return DeliverSm(
        source_addr_ton=src_ton, source_addr_npi=src_npi, source_addr=src,
        dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, destination_addr=dst,
        esm_class=_RECEIPT_ESM_CLASS, data_coding=DataCoding.default,
        short_message=text.encode("ascii"), tlvs=tlvs,
    )  # fmt: skip


def build_receipt(
    *,
    message_id: str,
    text: str,
    outcome: Outcome,
    err: int,
    original_source: tuple[int, int, str],
    original_destination: tuple[int, int, str],
) -> DeliverSm:
    """The deliver_sm carrying a receipt; `text` comes from `receipt_text`.

    Args:
        message_id: the id given in submit_sm_resp (for receipted_message_id).
        original_source / original_destination: (ton, npi, addr) of the submitted message.
    """
    src_ton, src_npi, src = original_destination
    dst_ton, dst_npi, dst = original_source
    tlvs: dict[int, int | str | bytes] = {
        TlvTag.receipted_message_id: message_id,
        TlvTag.message_state: MESSAGE_STATE[outcome],
    }
    if outcome is not Outcome.DELIVRD:
        tlvs[TlvTag.network_error_code] = bytes((_NETWORK_ERROR_GSM,)) + err.to_bytes(2, "big")
    # Slot stores on a bare object: the dataclass call with these keywords costs more than the
    # rest of the receipt (tests check the result equals the keyword-built DeliverSm).
    pdu: DeliverSm = _new(DeliverSm)
    pdu.sequence_number = pdu.command_status = 0
    pdu.service_type = pdu.schedule_delivery_time = pdu.validity_period = ""
    pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr = src_ton, src_npi, src
    pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr = dst_ton, dst_npi, dst
    pdu.esm_class = _RECEIPT_ESM_CLASS
    pdu.protocol_id = pdu.priority_flag = pdu.registered_delivery = 0
    pdu.replace_if_present_flag = pdu.sm_default_msg_id = 0
    pdu.data_coding = DataCoding.default
    pdu.short_message = text.encode("ascii")
    pdu.tlvs = tlvs
    return pdu
