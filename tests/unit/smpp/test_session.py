"""The sans-IO session: two Sessions wired back to back, no sockets, no clock but `now`."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.smpp.codec import decode_pdu, encode_pdu
from gateway.smpp.constants import MAX_SEQUENCE_NUMBER, CommandId, CommandStatus
from gateway.smpp.errors import SessionStateError
from gateway.smpp.events import (
    BindFailed,
    BindRequested,
    BindSucceeded,
    Event,
    OutbindReceived,
    PeerMisbehaved,
    RequestReceived,
    ResponseReceived,
    ResponseUnmatched,
    Unbound,
)
from gateway.smpp.framing import PduBuffer
from gateway.smpp.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    Outbind,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from gateway.smpp.session import (
    TRANSITIONS,
    Role,
    Session,
    SessionState,
    next_state,
)


def deliver(source: Session, target: Session) -> list[Event]:
    return target.receive_data(source.data_to_send(), now=1.0)


def frames(data: bytes) -> list[Pdu]:
    buffer = PduBuffer()
    buffer.feed(data)
    return [decode_pdu(frame) for frame in buffer]


def bound_pair(bind: type[BindTransmitter | BindTransceiver] = BindTransceiver,
               resp: type = BindTransceiverResp) -> tuple[Session, Session]:  # fmt: skip
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.send_request(bind(system_id="a", password="b"))
    [requested] = deliver(esme, smsc)
    assert isinstance(requested, BindRequested)
    smsc.send_response(resp(sequence_number=requested.pdu.sequence_number, system_id="S"))
    [succeeded] = deliver(smsc, esme)
    assert isinstance(succeeded, BindSucceeded)
    return esme, smsc


def test_bind_handshake_binds_both_sides() -> None:
    esme, smsc = bound_pair()
    assert esme.state is SessionState.BOUND_TRX
    assert smsc.state is SessionState.BOUND_TRX


def test_refused_bind_goes_back_to_open() -> None:
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.send_request(BindTransmitter(system_id="a", password="wrong"))
    [requested] = deliver(esme, smsc)
    assert isinstance(requested, BindRequested)
    refusal = BindTransmitterResp(
        sequence_number=requested.pdu.sequence_number,
        command_status=CommandStatus.ESME_RINVPASWD,
    )
    smsc.send_response(refusal)
    [failed] = deliver(smsc, esme)
    assert isinstance(failed, BindFailed)
    assert failed.command_status == CommandStatus.ESME_RINVPASWD
    assert esme.state is SessionState.OPEN
    assert smsc.state is SessionState.OPEN


def test_submit_and_response_are_matched_by_sequence_number() -> None:
    esme, smsc = bound_pair()
    first = esme.send_request(SubmitSm(destination_addr="1", short_message=b"a"))
    second = esme.send_request(SubmitSm(destination_addr="2", short_message=b"b"))
    requests = deliver(esme, smsc)
    assert [type(e) for e in requests] == [RequestReceived, RequestReceived]
    # answer out of order: the core matches by number, not by order
    smsc.send_response(SubmitSmResp(sequence_number=second, message_id="B"))
    smsc.send_response(SubmitSmResp(sequence_number=first, message_id="A"))
    answers = deliver(smsc, esme)
    assert [(e.pdu.sequence_number, e.pdu.message_id) for e in answers  # type: ignore[union-attr]
            if isinstance(e, ResponseReceived)] == [(second, "B"), (first, "A")]  # fmt: skip
    assert esme.outstanding == 0


def test_late_response_after_forget_is_unmatched_never_misrouted() -> None:
    esme, smsc = bound_pair()
    sequence = esme.send_request(SubmitSm(destination_addr="1"))
    deliver(esme, smsc)
    assert esme.forget(sequence)
    smsc.send_response(SubmitSmResp(sequence_number=sequence, message_id="late"))
    [event] = deliver(smsc, esme)
    assert isinstance(event, ResponseUnmatched)


def test_enquire_link_and_unbind_are_answered_by_the_core() -> None:
    esme, smsc = bound_pair()
    smsc.send_request(EnquireLink())
    assert deliver(smsc, esme) == []
    [answer] = deliver(esme, smsc)
    assert isinstance(answer, ResponseReceived)
    assert answer.pdu.command_id == CommandId.enquire_link_resp
    esme.send_request(Unbind())
    state_before_answer = esme.state  # a local: mypy would keep esme.state narrowed past deliver()
    assert state_before_answer is SessionState.UNBINDING
    [unbound] = deliver(esme, smsc)
    assert unbound == Unbound(by_peer=True)
    assert smsc.state is SessionState.CLOSED
    [done] = deliver(smsc, esme)
    assert done == Unbound(by_peer=False)
    assert esme.state is SessionState.CLOSED


def test_each_request_is_answered_by_the_core_or_handed_to_the_application() -> None:
    """enquire_link is answered here, outbind reported as such (binds and unbind: the tests
    above), and every other request (deliver_sm, data_sm, ...) handed over as RequestReceived."""
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    smsc.send_request(Outbind(system_id="S"))
    [outbind] = deliver(smsc, esme)
    assert isinstance(outbind, OutbindReceived)
    esme, smsc = bound_pair()
    smsc.send_request(DeliverSm(source_addr="1", esm_class=0x04))
    smsc.send_request(DataSm(source_addr="1"))
    smsc.send_request(EnquireLink())
    events = deliver(smsc, esme)
    assert [(type(e), e.pdu.command_id) for e in events if isinstance(e, RequestReceived)] == [
        (RequestReceived, CommandId.deliver_sm),
        (RequestReceived, CommandId.data_sm),
    ]
    assert len(events) == 2
    assert [p.command_id for p in frames(esme.data_to_send())] == [CommandId.enquire_link_resp]


def test_receipt_crossing_our_unbind_is_still_delivered() -> None:
    esme, smsc = bound_pair()
    smsc.send_request(DeliverSm(source_addr="1", esm_class=0x04))
    esme.send_request(Unbind())
    [event] = deliver(smsc, esme)
    assert isinstance(event, RequestReceived)
    esme.send_response(DeliverSmResp(sequence_number=event.pdu.sequence_number))


def test_request_not_allowed_in_state_gets_rinvbndsts() -> None:
    esme, smsc = bound_pair(BindTransmitter, BindTransmitterResp)
    smsc.send_request(EnquireLink())  # allowed; now craft a deliver_sm to a transmitter
    deliver(smsc, esme)
    esme.data_to_send()
    raw = encode_pdu(DeliverSm(sequence_number=99, source_addr="1"))
    assert esme.receive_data(raw, now=2.0) == []
    [refusal] = frames(esme.data_to_send())
    assert refusal.command_id == CommandId.deliver_sm_resp
    assert refusal.command_status == CommandStatus.ESME_RINVBNDSTS
    assert refusal.sequence_number == 99


def test_second_bind_gets_already_bound() -> None:
    _esme, smsc = bound_pair()
    smsc.receive_data(encode_pdu(BindTransceiver(sequence_number=5, system_id="a")), now=1.0)
    [refusal] = frames(smsc.data_to_send())
    assert refusal.command_status == CommandStatus.ESME_RALYBND


def test_unknown_command_id_gets_generic_nack_and_session_stays_up() -> None:
    _esme, smsc = bound_pair()
    garbage = (
        (16).to_bytes(4, "big") + (0x77).to_bytes(4, "big") + bytes(4) + (9).to_bytes(4, "big")
    )
    [event] = smsc.receive_data(garbage, now=1.0)
    assert isinstance(event, PeerMisbehaved)
    assert not event.fatal
    [nack] = frames(smsc.data_to_send())
    assert isinstance(nack, GenericNack)
    assert (nack.command_status, nack.sequence_number) == (CommandStatus.ESME_RINVCMDID, 9)
    assert smsc.state is SessionState.BOUND_TRX


def test_bad_command_length_is_fatal_and_nacked() -> None:
    _, smsc = bound_pair()
    [event] = smsc.receive_data(b"\x00\x00\x00\x05garbage-garbage", now=1.0)
    assert isinstance(event, PeerMisbehaved)
    assert event.fatal
    [nack] = frames(smsc.data_to_send())
    assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
    assert smsc.state is SessionState.CLOSED


def test_sending_a_submit_before_bind_is_refused_locally() -> None:
    with pytest.raises(SessionStateError, match="may not send submit_sm in state open"):
        Session(Role.ESME).send_request(SubmitSm())


def test_sequence_numbers_wrap_and_skip_outstanding() -> None:
    esme, _ = bound_pair()  # the bind used 1 and was answered
    assert esme.send_request(EnquireLink()) == 2  # stays outstanding
    esme._next_sequence = MAX_SEQUENCE_NUMBER
    assert esme.send_request(EnquireLink()) == MAX_SEQUENCE_NUMBER
    assert esme.send_request(EnquireLink()) == 1  # wrapped
    assert esme.send_request(EnquireLink()) == 3  # 2 is still outstanding: skipped


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    _, smsc = bound_pair()
    events = smsc.receive_data(data, now=1.0)
    assert all(isinstance(e, Event) for e in events)


def test_bytes_split_at_every_point_give_the_same_events() -> None:
    esme, _smsc = bound_pair()
    for n in range(3):
        esme.send_request(SubmitSm(destination_addr=str(n), short_message=b"x" * n))
    stream = esme.data_to_send()
    for cut in range(1, len(stream)):
        receiver = Session(Role.SMSC)
        receiver.state = SessionState.BOUND_TRX
        got = receiver.receive_data(stream[:cut], 1.0) + receiver.receive_data(stream[cut:], 1.0)
        assert [e.pdu.destination_addr for e in got] == ["0", "1", "2"]  # type: ignore[union-attr]


STATES = list(SessionState)
COMMANDS = list(CommandId)


@given(st.sampled_from(STATES), st.sampled_from(list(Role)), st.sampled_from(COMMANDS))
def test_every_state_and_input_transitions_or_raises(
    state: SessionState, sender: Role, command: CommandId
) -> None:
    if (state, sender, command) in TRANSITIONS:
        assert next_state(state, sender, command) in STATES
    else:
        with pytest.raises(SessionStateError):
            next_state(state, sender, command)


def test_table_keys_are_by_sender_not_by_our_side() -> None:
    senders = {sender for (_, sender, _) in TRANSITIONS}
    assert senders == {Role.ESME, Role.SMSC}
    keys: list[object] = list(itertools.islice(TRANSITIONS, 5))  # their shape checked at run time
    assert all(isinstance(k, tuple) and len(k) == 3 for k in keys)
