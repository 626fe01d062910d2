"""hypothesis strategies for every SMPP 3.4 PDU, within the field maxima of SMPP 3.4 §4.

Written from the spec independently of codec.py's layout table, so the round-trip tests check
the table rather than echo it. Strings are latin-1 without NUL (C-octet strings, sizes include
the NUL); time fields are empty or 16 characters (§7.1); TLVs mix standard tags (typed values)
and unknown ones (raw bytes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from gateway.smpp import pdu as p
from gateway.smpp.constants import TLV_FORMATS, TlvTag

# C-octet string maxima including the NUL (SMPP 3.4 §4), by field name.
CSTR_MAX: dict[str, int] = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "message_id": 65,
    "dl_name": 21,
    "esme_addr": 65,
}
# data_sm and alert_notification carry 65-octet addresses (§4.7.1, §4.12.1).
CSTR_MAX_BY_CLASS: dict[tuple[type[Any], str], int] = {
    (p.DataSm, "source_addr"): 65,
    (p.DataSm, "destination_addr"): 65,
    (p.AlertNotification, "source_addr"): 65,
}
TIME_FIELDS = {"schedule_delivery_time", "validity_period", "final_date"}

UINT8 = st.integers(0, 255)
UINT32 = st.integers(0, 0xFFFFFFFF)
TLV_CSTR_MAX: dict[int, int] = {
    TlvTag.receipted_message_id: 65,
    TlvTag.additional_status_info_text: 256,
}
# Unknown tags: SMPP 3.4 reserved and vendor ranges (0x1400-0x3FFF is vendor-specific).
UNKNOWN_TAGS = st.integers(0, 0xFFFF).filter(lambda tag: tag not in TLV_FORMATS)


def cstr(size: int) -> st.SearchStrategy[str]:
    """A C-octet string value of at most size - 1 characters (latin-1, no NUL)."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=size - 1)


def time_field() -> st.SearchStrategy[str]:
    """Empty, or YYMMDDhhmmsstnnp (absolute) / ...R (relative), SMPP 3.4 §7.1."""
    digits = st.text("0123456789", min_size=15, max_size=15)
    return st.one_of(st.just(""), st.builds(lambda d, s: d + s, digits, st.sampled_from("+-R")))


def tlv_value(tag: int) -> st.SearchStrategy[int | str | bytes]:
    fmt = TLV_FORMATS.get(tag)
    if fmt in ("int1", "int2", "int4"):
        return st.integers(0, (1 << (8 * int(fmt[3]))) - 1)
    if fmt == "cstr":
        return cstr(TLV_CSTR_MAX.get(tag, 256))
    if tag == TlvTag.network_error_code:
        return st.binary(min_size=3, max_size=3)
    if fmt == "empty":
        return st.just(b"")
    return st.binary(max_size=40)


@st.composite
def tlvs(draw: st.DrawFn, *, allow_payload: bool = True) -> dict[int, int | str | bytes]:
    tags = draw(
        st.lists(
            st.one_of(st.sampled_from(sorted(TLV_FORMATS)), UNKNOWN_TAGS),
            max_size=5,
            unique=True,
        )
    )
    if not allow_payload:
        tags = [tag for tag in tags if tag != TlvTag.message_payload]
    return {int(tag): draw(tlv_value(tag)) for tag in tags}


DESTINATION = st.one_of(
    st.builds(p.SmeAddress, dest_addr_ton=UINT8, dest_addr_npi=UINT8, destination_addr=cstr(21)),
    st.builds(p.DistributionList, dl_name=cstr(21)),
)
UNSUCCESS = st.builds(
    p.UnsuccessSme,
    dest_addr_ton=UINT8,
    dest_addr_npi=UINT8,
    destination_addr=cstr(21),
    error_status_code=UINT32,
)


def field_strategy(cls: type[Any], name: str) -> st.SearchStrategy[Any]:
    if name in ("sequence_number", "command_status"):
        return UINT32
    if name in TIME_FIELDS:
        return time_field()
    size = CSTR_MAX_BY_CLASS.get((cls, name), CSTR_MAX.get(name))
    if size is not None:
        return cstr(size)
    if name == "short_message":
        return st.binary(max_size=254)
    if name == "dest_addresses":
        return st.lists(DESTINATION, min_size=1, max_size=4)
    if name == "unsuccess_smes":
        return st.lists(UNSUCCESS, max_size=4)
    if name == "tlvs":
        return tlvs()
    return UINT8  # every other mandatory field is a 1-octet integer


def _without_payload_clash(pdu: Any) -> Any:
    """short_message and message_payload are exclusive (§5.3.2.32): drop one when both set."""
    if getattr(pdu, "short_message", b"") and TlvTag.message_payload in getattr(pdu, "tlvs", {}):
        del pdu.tlvs[TlvTag.message_payload]
    return pdu


def pdus_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    fields = {f.name: field_strategy(cls, f.name) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields).map(_without_payload_clash)


def any_pdu() -> st.SearchStrategy[Any]:
    return st.one_of([pdus_of(cls) for cls in p.PDU_CLASSES])
