"""SMPP 3.4 PDU codec: bytes <-> `pdu` dataclasses, TLVs included, no I/O (sans-IO).

`encode_pdu` builds a whole PDU (header included) and derives command_length, sm_length,
number_of_dests and no_unsuccess. `decode_pdu` reads exactly one whole frame (as `PduBuffer`
yields them) and raises the `RemoteProtocolError` subclass whose command_status the peer should
get, with the frame's command_id and sequence_number attached.

Two paths, one behaviour. A table-driven path (`_LAYOUTS`: field name, kind, maximum size per
SMPP 3.4 §4) handles every PDU and is the reference. The hot PDUs (submit_sm, deliver_sm, their
responses, header-only PDUs) have hand-written fast paths, measured in benchmarks/codec.py; on
anything unusual they hand over to the table-driven path, so errors always come from one place
and tests check that both paths agree.

Rules taken here (SMPP 3.4 §3.1, §5; domain.md §1):
- C-octet string sizes include the NUL; strings are latin-1 on the wire (lossless; the spec says
  ASCII). Encoding refuses a value that does not fit; decoding refuses a string without its NUL
  within the maximum (ESME_RINVPARLEN).
- A body that ends before a mandatory field gets ESME_RINVCMDLEN; sm_length over 254 (§5.2.21)
  or past the end gets ESME_RINVMSGLEN; a truncated TLV gets ESME_RINVOPTPARSTREAM; a standard
  TLV of the wrong length gets ESME_RINVPARLEN.
- Liberal reading where the wild needs it: any response with an empty body, or an error response
  whose body is one NUL, decodes with empty fields (SMPP 5.0 clarified error responses carry no
  body); schedule_delivery_time, validity_period and final_date accept any value that fits their
  17 octets (encoding insists on empty or the 16-character §7.1 format); octets after the last
  mandatory field of a PDU without TLVs are accepted only if they parse as TLVs, then dropped;
  a standard C-string TLV may lack its NUL; sequence_number 0 is fine.
- Unknown TLV tags keep their raw value bytes (keyed by int) so they re-encode byte for byte;
  standard tags decode to int, str or bytes per `constants.TLV_FORMATS`. A repeated tag keeps
  its last value.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeVar, cast

from gateway.smpp.constants import HEADER_LENGTH, RESPONSE_BIT, TLV_FORMATS, TlvTag
from gateway.smpp.errors import (
    InvalidCommandIdError,
    InvalidCommandLengthError,
    InvalidDestinationFlagError,
    InvalidMessageLengthError,
    InvalidNumberOfDestinationsError,
    InvalidOptionalParameterStreamError,
    InvalidParameterLengthError,
    LocalProtocolError,
    RemoteProtocolError,
)
from gateway.smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    PduBase,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    Unbind,
    UnbindResp,
    UnsuccessSme,
)

__all__ = ["decode_header", "decode_pdu", "encode_pdu"]

_HEADER: Final = struct.Struct(">IIII")
_pack_header: Final = _HEADER.pack
_TLV_HEAD: Final = struct.Struct(">HH")
_UINT32: Final = struct.Struct(">I")
_MAX_SHORT_MESSAGE: Final = 254  # SMPP 3.4 §5.2.22: 0..254 octets; longer text uses message_payload
_TIME_LENGTH: Final = 16  # SMPP 3.4 §7.1: YYMMDDhhmmsstnnp
_RespT = TypeVar("_RespT", SubmitSmResp, DeliverSmResp)

# --- the table: (field name, kind, size); size is a C-string maximum including its NUL ---------

_CSTR, _TIME, _INT8, _SHORT_MESSAGE, _DESTS, _UNSUCCESS = range(6)
Layout = tuple[tuple[str, int, int], ...]

_SOURCE_21: Final = (
    ("source_addr_ton", _INT8, 1),
    ("source_addr_npi", _INT8, 1),
    ("source_addr", _CSTR, 21),
)
_DEST_21: Final = (
    ("dest_addr_ton", _INT8, 1),
    ("dest_addr_npi", _INT8, 1),
    ("destination_addr", _CSTR, 21),
)
_SERVICE_TYPE: Final = (("service_type", _CSTR, 6),)
_MESSAGE_ID: Final = (("message_id", _CSTR, 65),)
_SCHEDULE: Final = (("schedule_delivery_time", _TIME, 17), ("validity_period", _TIME, 17))
_MESSAGE_BODY: Final = (  # submit_sm / deliver_sm / submit_multi from esm_class on (§4.4.1)
    ("esm_class", _INT8, 1),
    ("protocol_id", _INT8, 1),
    ("priority_flag", _INT8, 1),
    *_SCHEDULE,
    ("registered_delivery", _INT8, 1),
    ("replace_if_present_flag", _INT8, 1),
    ("data_coding", _INT8, 1),
    ("sm_default_msg_id", _INT8, 1),
    ("short_message", _SHORT_MESSAGE, _MAX_SHORT_MESSAGE),
)
_BIND: Final = (  # §4.1.1
    ("system_id", _CSTR, 16),
    ("password", _CSTR, 9),
    ("system_type", _CSTR, 13),
    ("interface_version", _INT8, 1),
    ("addr_ton", _INT8, 1),
    ("addr_npi", _INT8, 1),
    ("address_range", _CSTR, 41),
)
_SHORT_MESSAGE_LAYOUT: Final = (*_SERVICE_TYPE, *_SOURCE_21, *_DEST_21, *_MESSAGE_BODY)

_LAYOUTS: Final[dict[type[PduBase], Layout]] = {
    BindTransmitter: _BIND,
    BindReceiver: _BIND,
    BindTransceiver: _BIND,
    BindTransmitterResp: (("system_id", _CSTR, 16),),  # §4.1.2
    BindReceiverResp: (("system_id", _CSTR, 16),),
    BindTransceiverResp: (("system_id", _CSTR, 16),),
    Outbind: (("system_id", _CSTR, 16), ("password", _CSTR, 9)),  # §4.1.7
    Unbind: (),
    UnbindResp: (),
    EnquireLink: (),
    EnquireLinkResp: (),
    GenericNack: (),
    SubmitSm: _SHORT_MESSAGE_LAYOUT,  # §4.4.1
    DeliverSm: _SHORT_MESSAGE_LAYOUT,  # §4.6.1
    SubmitSmResp: _MESSAGE_ID,  # §4.4.2
    DeliverSmResp: _MESSAGE_ID,  # §4.6.2
    SubmitMulti: (*_SERVICE_TYPE, *_SOURCE_21, ("dest_addresses", _DESTS, 0), *_MESSAGE_BODY),
    SubmitMultiResp: (*_MESSAGE_ID, ("unsuccess_smes", _UNSUCCESS, 0)),  # §4.5.2
    DataSm: (  # §4.7.1
        *_SERVICE_TYPE,
        ("source_addr_ton", _INT8, 1),
        ("source_addr_npi", _INT8, 1),
        ("source_addr", _CSTR, 65),
        ("dest_addr_ton", _INT8, 1),
        ("dest_addr_npi", _INT8, 1),
        ("destination_addr", _CSTR, 65),
        ("esm_class", _INT8, 1),
        ("registered_delivery", _INT8, 1),
        ("data_coding", _INT8, 1),
    ),
    DataSmResp: _MESSAGE_ID,  # §4.7.2
    QuerySm: (*_MESSAGE_ID, *_SOURCE_21),  # §4.8.1
    QuerySmResp: (  # §4.8.2
        *_MESSAGE_ID,
        ("final_date", _TIME, 17),
        ("message_state", _INT8, 1),
        ("error_code", _INT8, 1),
    ),
    CancelSm: (*_SERVICE_TYPE, *_MESSAGE_ID, *_SOURCE_21, *_DEST_21),  # §4.9.1
    CancelSmResp: (),
    ReplaceSm: (  # §4.10.1
        *_MESSAGE_ID,
        *_SOURCE_21,
        *_SCHEDULE,
        ("registered_delivery", _INT8, 1),
        ("sm_default_msg_id", _INT8, 1),
        ("short_message", _SHORT_MESSAGE, _MAX_SHORT_MESSAGE),
    ),
    ReplaceSmResp: (),
    AlertNotification: (  # §4.12.1
        ("source_addr_ton", _INT8, 1),
        ("source_addr_npi", _INT8, 1),
        ("source_addr", _CSTR, 65),
        ("esme_addr_ton", _INT8, 1),
        ("esme_addr_npi", _INT8, 1),
        ("esme_addr", _CSTR, 65),
    ),
}
_HAS_TLVS: Final = frozenset(
    cls for cls in PDU_CLASSES if any(f.name == "tlvs" for f in dataclasses.fields(cls))
)

# Standard TLV value rules (§5.3.2), as one octet per possible tag so the decoder indexes instead
# of calling dict.get: 0 any octets (unknown tags too), 1/2/4 an integer of that width,
# 3 exactly three octets (network_error_code: type + code, §5.3.2.31), 5 a C-octet string.
_K_OCTETS, _K_FIXED3, _K_CSTR = 0, 3, 5
_TLV_KIND: Final[dict[int, int]] = {
    int(tag): _K_CSTR if fmt == "cstr" else int(fmt[3])
    for tag, fmt in TLV_FORMATS.items()
    if fmt.startswith("int") or fmt == "cstr"
}
_TLV_KIND[TlvTag.network_error_code] = _K_FIXED3
_TLV_KINDS: Final = bytes(_TLV_KIND.get(tag, _K_OCTETS) for tag in range(0x10000))
_TLV_CSTR_MAX: Final[dict[int, int]] = {  # maxima including the NUL
    TlvTag.receipted_message_id: 65,
    TlvTag.additional_status_info_text: 256,
}
_TLV_INT: Final = {1: struct.Struct(">HHB"), 2: struct.Struct(">HHH"), 4: struct.Struct(">HHI")}

# --- TLVs ------------------------------------------------------------------------------------


def _decode_tlvs(frame: bytes, pos: int, end: int) -> Tlvs:
    """Read TLVs from frame[pos:end] (§3.2.4: tag 2, length 2, value); `end` is len(frame)."""
    tlvs: Tlvs = {}
    unpack_head = _TLV_HEAD.unpack_from
    kinds = _TLV_KINDS
    cstr_max = _TLV_CSTR_MAX.get
    try:
        while pos < end:
            tag, length = unpack_head(frame, pos)  # struct.error when fewer than 4 octets
            pos += 4
            stop = pos + length
            if stop > end:
                raise InvalidOptionalParameterStreamError(f"TLV 0x{tag:04x} value cut short")
            kind = kinds[tag]
            if kind == _K_OCTETS:
                tlvs[tag] = frame[pos:stop]
            elif kind == _K_CSTR:
                # The usual value (one NUL, last, within the maximum) decoded in place;
                # anything else is checked by _tlv_cstr.
                if frame.find(0, pos, stop) == stop - 1 and length <= cstr_max(tag, 0x10000):
                    tlvs[tag] = frame[pos : stop - 1].decode("latin-1")
                else:
                    tlvs[tag] = _tlv_cstr(tag, frame[pos:stop])
            elif kind != length:
                raise InvalidParameterLengthError(f"TLV 0x{tag:04x} has a bad length ({length})")
            elif kind == 1:
                tlvs[tag] = frame[pos]
            elif kind == _K_FIXED3:
                tlvs[tag] = frame[pos:stop]
            else:
                tlvs[tag] = int.from_bytes(frame[pos:stop])
            pos = stop
    except struct.error:
        raise InvalidOptionalParameterStreamError(f"TLV header cut at octet {pos}") from None
    return tlvs


def _tlv_cstr(tag: int, value: bytes) -> str:
    """A C-string TLV value. Its NUL is optional on input (seen in the wild); inner NULs are not."""
    if value[-1:] == b"\0":
        value = value[:-1]
    if b"\0" in value or len(value) >= _TLV_CSTR_MAX.get(tag, 0x10000):
        raise InvalidParameterLengthError(f"TLV 0x{tag:04x}: bad C-octet string")
    return value.decode("latin-1")


def _encode_tlvs(tlvs: Tlvs) -> bytes:
    """Encode TLVs in insertion order; raises LocalProtocolError for values that do not fit."""
    parts: list[bytes] = []
    append = parts.append
    kinds = _TLV_KINDS
    try:
        for tag, value in tlvs.items():
            kind = kinds[tag] if 0 <= tag <= 0xFFFF else -1
            if type(value) is str and kind == _K_CSTR and len(value) < 64 and "\0" not in value:
                raw = value.encode("latin-1")
                append(_TLV_HEAD.pack(tag, len(raw) + 1))
                append(raw + b"\0")
            elif type(value) is int and 0 < kind < _K_CSTR and kind != _K_FIXED3 and value >= 0:
                append(_TLV_INT[kind].pack(tag, kind, value))
            elif type(value) is bytes and kind == _K_OCTETS and len(value) <= 0xFFFF:
                append(_TLV_HEAD.pack(tag, len(value)))
                append(value)
            else:
                append(_encode_tlv(tag, value, kind))
    except (UnicodeEncodeError, struct.error):
        return _encode_tlvs_checked(tlvs)  # raises the precise error
    return b"".join(parts)


def _encode_tlvs_checked(tlvs: Tlvs) -> bytes:
    return b"".join(
        _encode_tlv(tag, value, _TLV_KINDS[tag] if 0 <= tag <= 0xFFFF else -1)
        for tag, value in tlvs.items()
    )


def _encode_tlv(tag: int, value: object, kind: int) -> bytes:
    """One TLV with every check; the slow path of `_encode_tlvs`."""
    name = f"TLV 0x{tag:04x}"
    if kind < 0:
        raise LocalProtocolError(f"TLV tag {tag!r} does not fit 16 bits")
    if kind in _TLV_INT:
        return _TLV_HEAD.pack(tag, kind) + _uint(value, kind, name)
    if kind == _K_CSTR:
        raw = _cstr(value, _TLV_CSTR_MAX.get(tag, 0x10000), name)
    elif isinstance(value, bytes) and (kind == _K_OCTETS or len(value) == _K_FIXED3):
        raw = value
    else:
        raise LocalProtocolError(f"{name}: {value!r} is not a valid octet string")
    if len(raw) > 0xFFFF:
        raise LocalProtocolError(f"{name}: {len(raw)} octets do not fit 16 bits")
    return _TLV_HEAD.pack(tag, len(raw)) + raw


# --- encoding ----------------------------------------------------------------------------------


def _uint(value: object, width: int, name: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value < 1 << (8 * width):
        raise LocalProtocolError(f"{name}: {value!r} is not an unsigned {8 * width}-bit integer")
    return value.to_bytes(width)


def _cstr(value: object, size: int, name: str) -> bytes:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{name}: expected str, got {value!r}")
    if len(value) >= size or "\0" in value:
        raise LocalProtocolError(f"{name}: {value!r} is not a C-octet string of max {size}")
    try:
        return value.encode("latin-1") + b"\0"
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name}: {value!r} is not latin-1") from None


def _encode_field(pdu: PduBase, name: str, kind: int, size: int) -> bytes:
    value = getattr(pdu, name)
    if kind == _CSTR:
        return _cstr(value, size, name)
    if kind == _TIME:
        if isinstance(value, str) and len(value) not in (
            0,
            _TIME_LENGTH,
        ):  # §7.1: NULL or YYMMDDhhmmsstnnp
            raise LocalProtocolError(f"{name}: {value!r} is neither empty nor 16 characters")
        return _cstr(value, size, name)
    if kind == _INT8:
        return _uint(value, 1, name)
    if kind == _SHORT_MESSAGE:
        if not isinstance(value, bytes) or len(value) > size:
            raise LocalProtocolError(
                f"short_message: at most {size} octets of bytes; use the message_payload TLV"
            )
        return bytes((len(value),)) + value
    if kind == _DESTS:
        return _encode_dests(value)
    return _encode_unsuccess(value)


def _encode_dests(dests: list[SmeAddress | DistributionList]) -> bytes:
    """number_of_dests then dest_address entries (§4.5.1.1, §4.5.1.2)."""
    if not 1 <= len(dests) <= 255:
        raise LocalProtocolError(f"submit_multi needs 1..255 destinations, got {len(dests)}")
    parts = [bytes((len(dests),))]
    for dest in dests:
        if isinstance(dest, SmeAddress):
            parts.append(b"\x01" + _uint(dest.dest_addr_ton, 1, "dest_addr_ton"))
            parts.append(_uint(dest.dest_addr_npi, 1, "dest_addr_npi"))
            parts.append(_cstr(dest.destination_addr, 21, "destination_addr"))
        elif isinstance(dest, DistributionList):
            parts.append(b"\x02" + _cstr(dest.dl_name, 21, "dl_name"))
        else:
            raise LocalProtocolError(f"dest_addresses: {dest!r} is not SmeAddress/DistributionList")
    return b"".join(parts)


def _encode_unsuccess(entries: list[UnsuccessSme]) -> bytes:
    """no_unsuccess then unsuccess_sme entries (§4.5.2)."""
    if len(entries) > 255:
        raise LocalProtocolError(f"submit_multi_resp: {len(entries)} unsuccess_smes, max 255")
    parts = [bytes((len(entries),))]
    for entry in entries:
        parts.append(_uint(entry.dest_addr_ton, 1, "dest_addr_ton"))
        parts.append(_uint(entry.dest_addr_npi, 1, "dest_addr_npi"))
        parts.append(_cstr(entry.destination_addr, 21, "destination_addr"))
        parts.append(_uint(entry.error_status_code, 4, "error_status_code"))
    return b"".join(parts)


def _header(length: int, pdu: PduBase) -> bytes:
    try:
        return _HEADER.pack(length, pdu.command_id, pdu.command_status, pdu.sequence_number)
    except struct.error:
        raise LocalProtocolError(
            f"{pdu.command_id.name}: command_status {pdu.command_status!r} or sequence_number "
            f"{pdu.sequence_number!r} is not an unsigned 32-bit integer"
        ) from None


def _check_payload(pdu: SubmitSm | DeliverSm | SubmitMulti) -> None:
    if pdu.short_message and TlvTag.message_payload in pdu.tlvs:
        # §5.3.2.32: message_payload and a non-empty short_message are mutually exclusive.
        raise LocalProtocolError("short_message and message_payload cannot both carry data")


def _encode_generic(pdu: PduBase) -> bytes:
    """The reference encoder: walk the class's layout."""
    parts = [_encode_field(pdu, name, kind, size) for name, kind, size in _LAYOUTS[type(pdu)]]
    if isinstance(pdu, SubmitSm | DeliverSm | SubmitMulti):
        _check_payload(pdu)
    if type(pdu) in _HAS_TLVS:
        parts.append(_encode_tlvs(getattr(pdu, "tlvs")))  # noqa: B009 - PduBase has no tlvs
    body = b"".join(parts)
    return _header(HEADER_LENGTH + len(body), pdu) + body


def _encode_short_message(pdu: SubmitSm | DeliverSm) -> bytes:
    """Fast path for submit_sm and deliver_sm (§4.4.1, §4.6.1): one f-string, one encode."""
    sm = pdu.short_message
    st = pdu.service_type
    sa = pdu.source_addr
    da = pdu.destination_addr
    sd = pdu.schedule_delivery_time
    vp = pdu.validity_period
    tlvs = pdu.tlvs
    try:
        if (  # C-string maxima of §4.4.1 less the NUL; anything odd goes the reference way
            len(st) > 5
            or len(sa) > 20
            or len(da) > 20
            or (sd and len(sd) != _TIME_LENGTH)
            or (vp and len(vp) != _TIME_LENGTH)
            or len(sm) > _MAX_SHORT_MESSAGE
            or "\0" in st
            or "\0" in sa
            or "\0" in da
            or "\0" in sd
            or "\0" in vp
            or type(sm) is not bytes
            or (sm and TlvTag.message_payload in tlvs)
        ):
            return _encode_generic(pdu)  # raises the precise LocalProtocolError
        body = (
            f"{st}\0{chr(pdu.source_addr_ton)}{chr(pdu.source_addr_npi)}{sa}\0"
            f"{chr(pdu.dest_addr_ton)}{chr(pdu.dest_addr_npi)}{da}\0{chr(pdu.esm_class)}"
            f"{chr(pdu.protocol_id)}{chr(pdu.priority_flag)}{sd}\0{vp}\0"
            f"{chr(pdu.registered_delivery)}{chr(pdu.replace_if_present_flag)}"
            f"{chr(pdu.data_coding)}{chr(pdu.sm_default_msg_id)}{chr(len(sm))}"
        ).encode("latin-1")
    except (UnicodeEncodeError, ValueError, TypeError, OverflowError):
        return _encode_generic(pdu)  # an integer out of 0..255, a non-latin-1 character, ...
    if tlvs:
        tail = _encode_tlvs(tlvs)
        return _header(HEADER_LENGTH + len(body) + len(sm) + len(tail), pdu) + body + sm + tail
    return _header(HEADER_LENGTH + len(body) + len(sm), pdu) + body + sm


# struct packers for a header plus a message_id of n octets and its NUL, by n (0..64)
_PACK_MESSAGE_ID: Final = tuple(struct.Struct(f">IIII{n}sx").pack for n in range(65))


def _message_id_encoder(cls: type[_RespT]) -> Callable[[_RespT], bytes]:
    """The fast path for submit_sm_resp or deliver_sm_resp (message_id C65, §4.4.2, §4.6.2).

    One function per class, so command_id is a local constant rather than a class attribute
    looked up on every call. An ASCII id without NUL (the UTF-8 encoding is as long as the
    text) goes out in one struct call; anything else takes the generic path and its errors.
    """
    command_id = cls.command_id

    def encode(pdu: _RespT) -> bytes:
        message_id = pdu.message_id
        if type(message_id) is str:
            body = message_id.encode()
            size = len(body)
            if size == len(message_id) and size < 65 and 0 not in body:
                try:
                    return _PACK_MESSAGE_ID[size](
                        17 + size, command_id, pdu.command_status, pdu.sequence_number, body
                    )
                except struct.error:
                    pass
        return _encode_generic(pdu)  # raises the precise LocalProtocolError

    return encode


def _encode_header_only(pdu: PduBase) -> bytes:
    return _header(HEADER_LENGTH, pdu)


_ENCODERS: Final[dict[type[PduBase], Callable[[Any], bytes]]] = {
    cls: _encode_header_only if not layout and cls not in _HAS_TLVS else _encode_generic
    for cls, layout in _LAYOUTS.items()
}
_ENCODERS.update({SubmitSm: _encode_short_message, DeliverSm: _encode_short_message})
_ENCODERS[SubmitSmResp] = _message_id_encoder(SubmitSmResp)
_ENCODERS[DeliverSmResp] = _message_id_encoder(DeliverSmResp)


def encode_pdu(pdu: Pdu) -> bytes:
    """Encode one PDU, header included.

    Args:
        pdu: any `gateway.smpp.pdu` dataclass; command_length, sm_length, number_of_dests and
            no_unsuccess are derived from it.

    Returns:
        The PDU's octets, ready to write.

    Raises:
        LocalProtocolError: a value does not fit SMPP 3.4 (a C-string over its maximum, a
            short_message over 254 octets (use the message_payload TLV), an integer out of
            range, a malformed time field, a TLV value of the wrong type).
    """
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise LocalProtocolError(f"not an SMPP PDU: {pdu!r}")
    return encoder(pdu)


# --- decoding ----------------------------------------------------------------------------------


class _Reader:
    """A cursor over one frame for the table-driven decoder."""

    __slots__ = ("end", "frame", "pos")

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.pos = HEADER_LENGTH
        self.end = len(frame)

    def int8(self, name: str) -> int:
        if self.pos >= self.end:
            raise InvalidCommandLengthError(f"body ends before {name}")
        self.pos += 1
        return self.frame[self.pos - 1]

    def uint32(self, name: str) -> int:
        if self.pos + 4 > self.end:
            raise InvalidCommandLengthError(f"body ends before {name}")
        self.pos += 4
        value: int = _UINT32.unpack_from(self.frame, self.pos - 4)[0]
        return value

    def cstr(self, name: str, size: int) -> str:
        start = self.pos
        if start >= self.end:
            raise InvalidCommandLengthError(f"body ends before {name}")
        nul = self.frame.find(b"\0", start, start + size)
        if nul < 0:
            raise InvalidParameterLengthError(f"{name}: no NUL within {size} octets")
        self.pos = nul + 1
        return self.frame[start:nul].decode("latin-1")

    def short_message(self) -> bytes:
        length = self.int8("sm_length")
        if length > _MAX_SHORT_MESSAGE:  # §5.2.21: 0..254, so 255 is refused, never re-encoded
            raise InvalidMessageLengthError(f"sm_length {length} is over {_MAX_SHORT_MESSAGE}")
        stop = self.pos + length
        if stop > self.end:
            raise InvalidMessageLengthError(f"sm_length {length} runs past the end of the PDU")
        self.pos = stop
        return self.frame[stop - length : stop]

    def dests(self) -> list[SmeAddress | DistributionList]:
        count = self.int8("number_of_dests")
        if count == 0:
            raise InvalidNumberOfDestinationsError("submit_multi with number_of_dests 0")
        dests: list[SmeAddress | DistributionList] = []
        for _ in range(count):
            flag = self.int8("dest_flag")
            if flag == 1:
                ton, npi = self.int8("dest_addr_ton"), self.int8("dest_addr_npi")
                addr = self.cstr("destination_addr", 21)
                dests.append(
                    SmeAddress(dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr)
                )
            elif flag == 2:  # §4.5.1: 2 = distribution list
                dests.append(DistributionList(dl_name=self.cstr("dl_name", 21)))
            else:
                raise InvalidDestinationFlagError(f"dest_flag {flag} is neither 1 nor 2")
        return dests

    def unsuccess(self) -> list[UnsuccessSme]:
        entries = []
        for _ in range(self.int8("no_unsuccess")):
            ton, npi = self.int8("dest_addr_ton"), self.int8("dest_addr_npi")
            addr = self.cstr("destination_addr", 21)
            code = self.uint32("error_status_code")
            entries.append(
                UnsuccessSme(
                    dest_addr_ton=ton,
                    dest_addr_npi=npi,
                    destination_addr=addr,
                    error_status_code=code,
                )
            )
        return entries

    def field(self, name: str, kind: int, size: int) -> object:
        if kind == _INT8:
            return self.int8(name)
        if kind in (_CSTR, _TIME):
            return self.cstr(name, size)
        if kind == _SHORT_MESSAGE:
            return self.short_message()
        if kind == _DESTS:
            return self.dests()
        return self.unsuccess()


def _decode_generic(cls: type[PduBase], frame: bytes, status: int, seq: int) -> PduBase:
    """The reference decoder: walk the class's layout, then the TLVs."""
    end = len(frame)
    if cls.command_id & RESPONSE_BIT and (
        end == HEADER_LENGTH or (status and end == HEADER_LENGTH + 1 and frame[-1] == 0)
    ):
        return cls(sequence_number=seq, command_status=status)  # an empty (error) response
    reader = _Reader(frame)
    values = {name: reader.field(name, kind, size) for name, kind, size in _LAYOUTS[cls]}
    tlvs = _decode_tlvs(frame, reader.pos, end)
    if cls in _HAS_TLVS:
        values["tlvs"] = tlvs
    return cls(sequence_number=seq, command_status=status, **values)


def _decode_generic_pdu(cls: type[PduBase], frame: bytes, status: int, seq: int) -> Pdu:
    return cast(Pdu, _decode_generic(cls, frame, status, seq))


_SmT = TypeVar("_SmT", SubmitSm, DeliverSm)
_new = object.__new__

# submit_sm / deliver_sm mandatory fields up to sm_length (§4.4.1): C-strings within their
# maxima, integers as runs of octets. One match replaces a dozen find/index calls.
_SHORT_MESSAGE_RE: Final = re.compile(
    rb"([^\0]{0,5})\0(..)([^\0]{0,20})\0(..)([^\0]{0,20})\0(...)([^\0]{0,16})\0([^\0]{0,16})\0(.....)",
    re.DOTALL,
)


def _decode_short_message(cls: type[_SmT], frame: bytes, status: int, seq: int) -> _SmT:
    """Fast path for submit_sm and deliver_sm; hands anything unusual to `_decode_generic`.

    Builds the object with object.__new__ and slot stores: calling a dataclass with 20 keyword
    arguments costs ~2.5 us on CPython 3.11, more than the rest of this function.
    """
    match = _SHORT_MESSAGE_RE.match(frame, HEADER_LENGTH)
    if match is None:
        return cast(_SmT, _decode_generic(cls, frame, status, seq))
    st, source_ton_npi, sa, dest_ton_npi, da, esm_pid_prio, sd, vp, tail = match.groups()
    start = match.end()
    stop = start + tail[4]  # sm_length
    end = len(frame)
    if stop > end or tail[4] > _MAX_SHORT_MESSAGE:
        return cast(_SmT, _decode_generic(cls, frame, status, seq))
    pdu = _new(cls)
    pdu.sequence_number = seq
    pdu.command_status = status
    pdu.service_type = st.decode("latin-1") if st else ""
    pdu.source_addr_ton, pdu.source_addr_npi = source_ton_npi
    pdu.source_addr = sa.decode("latin-1") if sa else ""
    pdu.dest_addr_ton, pdu.dest_addr_npi = dest_ton_npi
    pdu.destination_addr = da.decode("latin-1") if da else ""
    pdu.esm_class, pdu.protocol_id, pdu.priority_flag = esm_pid_prio
    pdu.schedule_delivery_time = sd.decode("latin-1") if sd else ""
    pdu.validity_period = vp.decode("latin-1") if vp else ""
    (
        pdu.registered_delivery,
        pdu.replace_if_present_flag,
        pdu.data_coding,
        pdu.sm_default_msg_id,
        _,
    ) = tail
    pdu.short_message = frame[start:stop]
    pdu.tlvs = _decode_tlvs(frame, stop, end) if stop < end else {}
    return pdu


def _message_id_decoder(cls: type[_RespT]) -> Callable[[bytes, int, int], _RespT]:
    """The fast path for submit_sm_resp or deliver_sm_resp (message_id C65, §4.4.2, §4.6.2).

    One function per class rather than a functools.partial, which costs a C-level call.
    """

    def decode(frame: bytes, status: int, seq: int) -> _RespT:
        end = len(frame) - 1
        if end < HEADER_LENGTH:
            message_id = ""  # header only: common for deliver_sm_resp and for error responses
        elif end <= HEADER_LENGTH + 64 and frame[end] == 0:
            message_id = frame[HEADER_LENGTH:end].decode("latin-1")
            if "\0" in message_id:  # a C-string then something else: TLVs, or malformed
                return cast(_RespT, _decode_generic(cls, frame, status, seq))
        else:  # trailing TLVs, or malformed
            return cast(_RespT, _decode_generic(cls, frame, status, seq))
        pdu = _new(cls)
        pdu.sequence_number = seq
        pdu.command_status = status
        pdu.message_id = message_id
        return pdu

    return decode


def _decode_header_only(cls: type[PduBase], frame: bytes, status: int, seq: int) -> Pdu:
    """Fast path for PDUs without a body: enquire_link(_resp), unbind(_resp), generic_nack..."""
    if len(frame) != HEADER_LENGTH:
        return _decode_generic_pdu(cls, frame, status, seq)
    pdu = _new(cls)
    pdu.sequence_number = seq
    pdu.command_status = status
    return cast(Pdu, pdu)


_unpack_header: Final = _HEADER.unpack_from
_DECODERS: Final[dict[int, Callable[[bytes, int, int], Pdu]]] = {
    cls.command_id: partial(_decode_header_only if not layout else _decode_generic_pdu, cls)
    for cls, layout in _LAYOUTS.items()
}
_DECODERS[SubmitSm.command_id] = partial(_decode_short_message, SubmitSm)
_DECODERS[DeliverSm.command_id] = partial(_decode_short_message, DeliverSm)
_DECODERS[SubmitSmResp.command_id] = _message_id_decoder(SubmitSmResp)
_DECODERS[DeliverSmResp.command_id] = _message_id_decoder(DeliverSmResp)


def decode_header(frame: bytes | bytearray | memoryview) -> tuple[int, int, int, int]:
    """Read the 16-octet header (§3.2): command_length, command_id, command_status, sequence_number.

    Raises:
        InvalidCommandLengthError: fewer than 16 octets.
    """
    if len(frame) < HEADER_LENGTH:
        raise InvalidCommandLengthError(f"{len(frame)} octets cannot hold a PDU header")
    header: tuple[int, int, int, int] = _HEADER.unpack_from(frame)
    return header


def decode_pdu(frame: bytes | bytearray | memoryview) -> Pdu:
    """Decode exactly one whole PDU, header included.

    Args:
        frame: one frame whose command_length equals its length (as `PduBuffer` yields them).

    Returns:
        The PDU dataclass for the frame's command_id.

    Raises:
        InvalidCommandLengthError: command_length differs from len(frame), or the body ends
            before a mandatory field.
        InvalidCommandIdError: the command_id is not an SMPP 3.4 operation.
        InvalidParameterLengthError, InvalidMessageLengthError,
        InvalidOptionalParameterStreamError, InvalidDestinationFlagError,
        InvalidNumberOfDestinationsError: a malformed body. Every error carries the frame's
            command_id and sequence_number (0 when the header is unreadable).
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    try:
        length, command_id, status, seq = _unpack_header(frame)
    except struct.error:
        raise InvalidCommandLengthError(f"{len(frame)} octets cannot hold a header") from None
    if length != len(frame):
        raise InvalidCommandLengthError(
            f"command_length {length} but the frame has {len(frame)} octets",
            command_id=command_id,
            sequence_number=seq,
        )
    try:
        decoder = _DECODERS[command_id]
    except KeyError:
        raise InvalidCommandIdError(
            f"unknown command_id 0x{command_id:08x}", command_id=command_id, sequence_number=seq
        ) from None
    try:
        return decoder(frame, status, seq)
    except RemoteProtocolError as exc:
        exc.command_id = command_id
        exc.sequence_number = seq
        raise
