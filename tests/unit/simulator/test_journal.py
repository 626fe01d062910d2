"""The simulator's submit journal: one line per answered submit, torn tails skipped."""

from __future__ import annotations

from pathlib import Path

from gateway.smpp.constants import TlvTag
from gateway.smpp.pdu import DataSm, SubmitSm
from simulator.journal import Journal, journal_line, read_journal


def test_a_udh_part_is_journalled_with_its_position_hex_and_text(tmp_path: Path) -> None:
    udh = bytes((5, 0x00, 3, 0x2A, 2, 1))
    pdu = SubmitSm(
        sequence_number=7, destination_addr="447912345678", esm_class=0x40,
        short_message=udh + b"chaos m-1 part one",
    )  # fmt: skip
    journal = Journal(tmp_path / "j.jsonl")
    journal.write(journal_line(ts=1.5, system_id="smsgw", pdu=pdu, status=0, message_id="99"))
    journal.close()
    journal.write(b"ignored after close\n")
    [record] = read_journal(tmp_path / "j.jsonl")
    assert record == {
        "ts": 1.5, "system_id": "smsgw", "command": "submit_sm", "sequence": 7, "status": 0,
        "message_id": "99", "destination": "447912345678", "data_coding": 0, "esm_class": 0x40,
        "concat": [0x2A, 2, 1], "short_message": (udh + b"chaos m-1 part one").hex(),
        "text": "chaos m-1 part one",
    }  # fmt: skip


def test_data_sm_payload_and_sar_tlvs_and_a_refusal_are_journalled(tmp_path: Path) -> None:
    pdu = DataSm(
        sequence_number=3, destination_addr="1", data_coding=8,
        tlvs={
            TlvTag.message_payload: "héllo".encode("utf-16-be"),
            TlvTag.sar_msg_ref_num: 300, TlvTag.sar_total_segments: 3,
            TlvTag.sar_segment_seqnum: 2,
        },
    )  # fmt: skip
    line = journal_line(ts=0.0, system_id="x", pdu=pdu, status=0x58, message_id="")
    path = tmp_path / "j.jsonl"
    path.write_bytes(line + b'{"torn": ')  # a SIGKILL mid-line leaves no newline
    [record] = read_journal(path)
    assert record["command"] == "data_sm"
    assert (record["status"], record["message_id"]) == (0x58, "")
    assert record["concat"] == [300, 3, 2]
    assert record["text"] == "héllo"
