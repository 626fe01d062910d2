"""An optional append-only journal of every submit_sm / data_sm the simulator answered.

Off by default (`journal: null`). With `journal: PATH` each submit_sm and data_sm gets one
JSON line, written with one unbuffered `os.write` to a file opened `O_APPEND` *before* the
response to it is queued for the socket. So a SIGKILLed simulator has lost nothing it
answered: whatever the ESME saw a response for is in the file, and at most one line (a
submit decided but not yet answered) more. Benchmarks use it to count what "the carrier"
received across simulator restarts (benchmarks/chaos.py); several runs may share one file.

One line (keys are only ever added):

    {"ts": 1718000000.123, "system_id": "smsgw", "command": "submit_sm", "sequence": 7,
     "status": 0, "message_id": "1718000000123", "destination": "447912345678",
     "data_coding": 0, "esm_class": 64, "concat": [12, 3, 1], "short_message": "0500030c..",
     "text": "chaos m-42 ..."}

`status` is the command_status answered (0 = accepted and stored, `message_id` then set;
otherwise `message_id` is ""). `concat` is [reference, total, seq] for a part of a
concatenated message (UDH or SAR), else null. `short_message` is the hex of the payload as
received (short_message, or message_payload when that is empty), UDH included; `text` is the
body decoded by data_coding, UDH stripped (`simulator.text.decode_text`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.smpp.pdu import DataSm, SubmitSm
from simulator.reassembly import concat_info, payload_of
from simulator.text import decode_text, split_udh


def journal_line(
    *,
    ts: float,
    system_id: str,
    pdu: SubmitSm | DataSm,
    status: int,
    message_id: str,
) -> bytes:
    """The journal line (newline included) for one answered submit_sm / data_sm."""
    payload = payload_of(pdu)
    concat = concat_info(pdu.esm_class, payload, pdu.tlvs)
    _, body = split_udh(pdu.esm_class, payload)
    record: dict[str, Any] = {
        "ts": round(ts, 6),
        "system_id": system_id,
        "command": "submit_sm" if isinstance(pdu, SubmitSm) else "data_sm",
        "sequence": pdu.sequence_number,
        "status": status,
        "message_id": message_id,
        "destination": pdu.destination_addr,
        "data_coding": pdu.data_coding,
        "esm_class": pdu.esm_class,
        "concat": None if concat is None else [concat.reference, concat.total, concat.seq],
        "short_message": payload.hex(),
        "text": decode_text(pdu.data_coding, body),
    }
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class Journal:
    """The open journal file: `write` appends one line with one unbuffered os.write."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (create) `path` for appending.

        Raises:
            OSError: the file cannot be opened.
        """
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: bytes) -> None:
        """Append `line`; it is in the kernel (safe from our SIGKILL) when this returns."""
        fd = self._fd
        if fd is None:
            return
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_journal(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The journal's records in order; a torn last line (no newline) is skipped."""
    with open(path, "rb") as file:
        for raw in file:
            if not raw.endswith(b"\n"):
                return
            yield json.loads(raw)
