"""SMPP 3.4 numbers: command ids, command statuses, TON/NPI, data codings, TLV tags and formats.

Values follow SMPP v3.4 §5 (see ../shared/reference/domain.md §1). Unknown or vendor values
are never an error here: `status_from_int` keeps them as raw ints (h2 `_error_code_from_int`).
"""

from __future__ import annotations

import enum
from typing import Final, Literal

RESPONSE_BIT: Final = 0x80000000
MAX_SEQUENCE_NUMBER: Final = 0x7FFFFFFF
HEADER_LENGTH: Final = 16
INTERFACE_VERSION_34: Final = 0x34


class CommandId(enum.IntEnum):
    """SMPP 3.4 §5.1.2.1 command_id values; responses have RESPONSE_BIT set."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103


class BindType(enum.Enum):
    """How an ESME binds (SMPP 3.4 §4.1): which of the three bind requests it sends."""

    transmitter = "transmitter"
    receiver = "receiver"
    transceiver = "transceiver"


class CommandStatus(enum.IntEnum):
    """SMPP 3.4 §5.1.3 command_status values (0x400-0x4FF are vendor-specific, kept as int)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


_STATUS_BY_VALUE: Final = {int(s): s for s in CommandStatus}


def status_from_int(value: int) -> CommandStatus | int:
    """Return the CommandStatus member for `value`, or `value` itself when unknown or vendor."""
    return _STATUS_BY_VALUE.get(value, value)


def status_name(value: int) -> str:
    """A bounded label for metrics: the spec name, `vendor` for 0x400-0x4FF, else `unknown`."""
    member = _STATUS_BY_VALUE.get(value)
    if member is not None:
        return member.name
    return "vendor" if 0x400 <= value <= 0x4FF else "unknown"


class Ton(enum.IntEnum):
    """Type of number (SMPP 3.4 §5.2.5)."""

    unknown = 0
    international = 1
    national = 2
    network_specific = 3
    subscriber_number = 4
    alphanumeric = 5
    abbreviated = 6


class Npi(enum.IntEnum):
    """Numbering plan indicator (SMPP 3.4 §5.2.6)."""

    unknown = 0
    isdn = 1
    data = 3
    telex = 4
    land_mobile = 6
    national = 8
    private = 9
    ermes = 10
    internet = 14
    wap_client_id = 18


class DataCoding(enum.IntEnum):
    """data_coding values this project uses (SMPP 3.4 §5.2.19); others pass through as int."""

    default = 0x00
    ia5 = 0x01
    octet_unspecified_2 = 0x02
    latin1 = 0x03
    binary = 0x04
    ucs2 = 0x08
    flash_gsm = 0xF0


class EsmClass(enum.IntFlag):
    """esm_class bits (SMPP 3.4 §5.2.12)."""

    default = 0x00
    datagram_mode = 0x01
    forward_mode = 0x02
    store_and_forward_mode = 0x03
    smsc_delivery_receipt = 0x04
    sme_delivery_ack = 0x08
    sme_manual_ack = 0x10
    intermediate_notification = 0x20
    udhi = 0x40
    reply_path = 0x80


ESM_MESSAGE_TYPE_MASK: Final = 0x3C


class RegisteredDelivery(enum.IntFlag):
    """registered_delivery bits (SMPP 3.4 §5.2.17)."""

    none = 0x00
    receipt_final = 0x01
    receipt_failure_only = 0x02
    intermediate = 0x10


class MessageState(enum.IntEnum):
    """message_state values (SMPP 3.4 §5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class TlvTag(enum.IntEnum):
    """Standard SMPP 3.4 optional parameter tags (§5.3.2)."""

    dest_addr_subunit = 0x0005
    dest_network_type = 0x0006
    dest_bearer_type = 0x0007
    dest_telematics_id = 0x0008
    source_addr_subunit = 0x000D
    source_network_type = 0x000E
    source_bearer_type = 0x000F
    source_telematics_id = 0x0010
    qos_time_to_live = 0x0017
    payload_type = 0x0019
    additional_status_info_text = 0x001D
    receipted_message_id = 0x001E
    ms_msg_wait_facilities = 0x0030
    privacy_indicator = 0x0201
    source_subaddress = 0x0202
    dest_subaddress = 0x0203
    user_message_reference = 0x0204
    user_response_code = 0x0205
    source_port = 0x020A
    destination_port = 0x020B
    sar_msg_ref_num = 0x020C
    language_indicator = 0x020D
    sar_total_segments = 0x020E
    sar_segment_seqnum = 0x020F
    sc_interface_version = 0x0210
    callback_num_pres_ind = 0x0302
    callback_num_atag = 0x0303
    number_of_messages = 0x0304
    callback_num = 0x0381
    dpf_result = 0x0420
    set_dpf = 0x0421
    ms_availability_status = 0x0422
    network_error_code = 0x0423
    message_payload = 0x0424
    delivery_failure_reason = 0x0425
    more_messages_to_send = 0x0426
    message_state = 0x0427
    ussd_service_op = 0x0501
    display_time = 0x1201
    sms_signal = 0x1203
    ms_validity = 0x1204
    alert_on_message_delivery = 0x130C
    its_reply_type = 0x1380
    its_session_info = 0x1383


TlvFormat = Literal["int1", "int2", "int4", "cstr", "octets", "empty"]

# Value formats of the standard TLVs (SMPP 3.4 §5.3.2). Integers decode to int, C-octet
# strings to str (latin-1, lossless), everything else to bytes. Unknown tags stay bytes.
TLV_FORMATS: Final[dict[int, TlvFormat]] = {
    TlvTag.dest_addr_subunit: "int1",
    TlvTag.dest_network_type: "int1",
    TlvTag.dest_bearer_type: "int1",
    TlvTag.dest_telematics_id: "int2",
    TlvTag.source_addr_subunit: "int1",
    TlvTag.source_network_type: "int1",
    TlvTag.source_bearer_type: "int1",
    TlvTag.source_telematics_id: "int1",
    TlvTag.qos_time_to_live: "int4",
    TlvTag.payload_type: "int1",
    TlvTag.additional_status_info_text: "cstr",
    TlvTag.receipted_message_id: "cstr",
    TlvTag.ms_msg_wait_facilities: "int1",
    TlvTag.privacy_indicator: "int1",
    TlvTag.source_subaddress: "octets",
    TlvTag.dest_subaddress: "octets",
    TlvTag.user_message_reference: "int2",
    TlvTag.user_response_code: "int1",
    TlvTag.source_port: "int2",
    TlvTag.destination_port: "int2",
    TlvTag.sar_msg_ref_num: "int2",
    TlvTag.language_indicator: "int1",
    TlvTag.sar_total_segments: "int1",
    TlvTag.sar_segment_seqnum: "int1",
    TlvTag.sc_interface_version: "int1",
    TlvTag.callback_num_pres_ind: "int1",
    TlvTag.callback_num_atag: "octets",
    TlvTag.number_of_messages: "int1",
    TlvTag.callback_num: "octets",
    TlvTag.dpf_result: "int1",
    TlvTag.set_dpf: "int1",
    TlvTag.ms_availability_status: "int1",
    TlvTag.network_error_code: "octets",
    TlvTag.message_payload: "octets",
    TlvTag.delivery_failure_reason: "int1",
    TlvTag.more_messages_to_send: "int1",
    TlvTag.message_state: "int1",
    TlvTag.ussd_service_op: "int1",
    TlvTag.display_time: "int1",
    TlvTag.sms_signal: "int2",
    TlvTag.ms_validity: "int1",
    TlvTag.alert_on_message_delivery: "empty",
    TlvTag.its_reply_type: "int1",
    TlvTag.its_session_info: "int2",
}
