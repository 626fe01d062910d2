"""One dataclass per SMPP 3.4 PDU, field names exactly as the spec spells them (§4).

The header's command_length is derived when encoding and command_id is a class attribute;
sequence_number and command_status are fields on every PDU. Length fields that only describe
another field (sm_length, number_of_dests, no_unsuccess) are derived from it, never stored.

Optional parameters live in `tlvs`, an insertion-ordered dict from tag to value: standard tags
(see constants.TLV_FORMATS) hold int, str or bytes; unknown tags hold their raw value bytes so
they re-encode byte for byte.

PDUs are `slots=True` but not frozen: they sit on the hot path, where frozen construction
costs measurable time (style guide §3), and nothing mutates them after decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from gateway.smpp.constants import INTERFACE_VERSION_34, CommandId

TlvValue = int | str | bytes
Tlvs = dict[int, TlvValue]


@dataclass(slots=True, kw_only=True)
class PduBase:
    """Header fields shared by every PDU (SMPP 3.4 §3.2)."""

    command_id: ClassVar[CommandId]
    sequence_number: int = 0
    command_status: int = 0

    @property
    def is_response(self) -> bool:
        """True for *_resp PDUs and generic_nack."""
        return bool(self.command_id & 0x80000000)


# --- session management (§4.1, §4.2, §4.11) -------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _BindRequest(PduBase):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION_34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitter(_BindRequest):
    command_id: ClassVar[CommandId] = CommandId.bind_transmitter


@dataclass(slots=True, kw_only=True)
class BindReceiver(_BindRequest):
    command_id: ClassVar[CommandId] = CommandId.bind_receiver


@dataclass(slots=True, kw_only=True)
class BindTransceiver(_BindRequest):
    command_id: ClassVar[CommandId] = CommandId.bind_transceiver


@dataclass(slots=True, kw_only=True)
class _BindResponse(PduBase):
    system_id: str = ""
    tlvs: Tlvs = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(_BindResponse):
    command_id: ClassVar[CommandId] = CommandId.bind_transmitter_resp


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(_BindResponse):
    command_id: ClassVar[CommandId] = CommandId.bind_receiver_resp


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(_BindResponse):
    command_id: ClassVar[CommandId] = CommandId.bind_transceiver_resp


@dataclass(slots=True, kw_only=True)
class Outbind(PduBase):
    command_id: ClassVar[CommandId] = CommandId.outbind
    system_id: str = ""
    password: str = ""


@dataclass(slots=True, kw_only=True)
class Unbind(PduBase):
    command_id: ClassVar[CommandId] = CommandId.unbind


@dataclass(slots=True, kw_only=True)
class UnbindResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.unbind_resp


@dataclass(slots=True, kw_only=True)
class EnquireLink(PduBase):
    command_id: ClassVar[CommandId] = CommandId.enquire_link


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.enquire_link_resp


@dataclass(slots=True, kw_only=True)
class GenericNack(PduBase):
    command_id: ClassVar[CommandId] = CommandId.generic_nack


# --- message submission and delivery (§4.4 - §4.7) -----------------------------------------


@dataclass(slots=True, kw_only=True)
class _ShortMessage(PduBase):
    """The shared body of submit_sm and deliver_sm (§4.4.1, §4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class SubmitSm(_ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.submit_sm


@dataclass(slots=True, kw_only=True)
class DeliverSm(_ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.deliver_sm


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.submit_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.deliver_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class SmeAddress:
    """One submit_multi destination with dest_flag 1 (§4.5.1.1)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(slots=True, kw_only=True)
class DistributionList:
    """One submit_multi destination with dest_flag 2 (§4.5.1.2)."""

    dl_name: str = ""


@dataclass(slots=True, kw_only=True)
class UnsuccessSme:
    """One failed destination in submit_multi_resp (§4.5.2)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


@dataclass(slots=True, kw_only=True)
class SubmitMulti(PduBase):
    command_id: ClassVar[CommandId] = CommandId.submit_multi
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: list[SmeAddress | DistributionList] = field(default_factory=list)
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class SubmitMultiResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.submit_multi_resp
    message_id: str = ""
    unsuccess_smes: list[UnsuccessSme] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class DataSm(PduBase):
    """data_sm (§4.7.1): addresses up to 64 characters, content in TLVs."""

    command_id: ClassVar[CommandId] = CommandId.data_sm
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: Tlvs = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class DataSmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.data_sm_resp
    message_id: str = ""
    tlvs: Tlvs = field(default_factory=dict)


# --- ancillary operations (§4.8 - §4.10, §4.12) --------------------------------------------


@dataclass(slots=True, kw_only=True)
class QuerySm(PduBase):
    command_id: ClassVar[CommandId] = CommandId.query_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(slots=True, kw_only=True)
class QuerySmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.query_sm_resp
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(slots=True, kw_only=True)
class CancelSm(PduBase):
    command_id: ClassVar[CommandId] = CommandId.cancel_sm
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(slots=True, kw_only=True)
class CancelSmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.cancel_sm_resp


@dataclass(slots=True, kw_only=True)
class ReplaceSm(PduBase):
    command_id: ClassVar[CommandId] = CommandId.replace_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(slots=True, kw_only=True)
class ReplaceSmResp(PduBase):
    command_id: ClassVar[CommandId] = CommandId.replace_sm_resp


@dataclass(slots=True, kw_only=True)
class AlertNotification(PduBase):
    command_id: ClassVar[CommandId] = CommandId.alert_notification
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: Tlvs = field(default_factory=dict)


Pdu = (
    BindTransmitter
    | BindReceiver
    | BindTransceiver
    | BindTransmitterResp
    | BindReceiverResp
    | BindTransceiverResp
    | Outbind
    | Unbind
    | UnbindResp
    | EnquireLink
    | EnquireLinkResp
    | GenericNack
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | SubmitMulti
    | SubmitMultiResp
    | DataSm
    | DataSmResp
    | QuerySm
    | QuerySmResp
    | CancelSm
    | CancelSmResp
    | ReplaceSm
    | ReplaceSmResp
    | AlertNotification
)

PDU_CLASSES: tuple[type[PduBase], ...] = (
    BindTransmitter, BindReceiver, BindTransceiver,
    BindTransmitterResp, BindReceiverResp, BindTransceiverResp,
    Outbind, Unbind, UnbindResp, EnquireLink, EnquireLinkResp, GenericNack,
    SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, SubmitMulti, SubmitMultiResp,
    DataSm, DataSmResp, QuerySm, QuerySmResp, CancelSm, CancelSmResp,
    ReplaceSm, ReplaceSmResp, AlertNotification,
)  # fmt: skip

PDU_CLASS_BY_COMMAND_ID: dict[int, type[PduBase]] = {cls.command_id: cls for cls in PDU_CLASSES}

# Which response answers which request (generic_nack can answer any of them).
RESPONSE_CLASS: dict[type[PduBase], type[PduBase]] = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
    Unbind: UnbindResp,
    EnquireLink: EnquireLinkResp,
    SubmitSm: SubmitSmResp,
    DeliverSm: DeliverSmResp,
    SubmitMulti: SubmitMultiResp,
    DataSm: DataSmResp,
    QuerySm: QuerySmResp,
    CancelSm: CancelSmResp,
    ReplaceSm: ReplaceSmResp,
}
