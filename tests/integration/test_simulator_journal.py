"""The simulator's journal survives SIGKILL: every submit it answered is in the file.

The simulator runs as its own process (`python -m simulator --journal PATH`), our Bind
submits to it, then the process is SIGKILLed and the journal read back.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.carrier.bind import Bind, BindSettings, BindType
from gateway.cli.child_process import free_port, logged_process
from gateway.smpp.constants import CommandStatus
from gateway.smpp.pdu import SubmitSm, SubmitSmResp
from simulator.config import SimulatorConfig
from simulator.journal import read_journal

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0


def submit(destination: str, body: bytes, esm_class: int = 0) -> SubmitSm:
    return SubmitSm(
        source_addr="Acme", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
        destination_addr=destination, esm_class=esm_class, short_message=body,
        registered_delivery=1,
    )  # fmt: skip


async def test_journal_keeps_every_answered_submit_across_a_sigkill(tmp_path: Path) -> None:
    port, journal = free_port(), tmp_path / "journal.jsonl"
    config = tmp_path / "sim.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "control_port": None, "log_level": "warning",
        "accounts": [{"system_id": "smsgw", "password": "secret"}],
        "prefix_rules": [{"prefix": "4470009", "submit_status": "ESME_RINVDSTADR"}],
    }))  # fmt: skip
    args = [sys.executable, "-m", "simulator", "--config", str(config), "--journal", str(journal)]
    settings = BindSettings(
        host="127.0.0.1", port=port, system_id="smsgw", password="secret",
        bind_type=BindType.transceiver, window=10, response_timeout=5.0, bind_timeout=5.0,
        connect_timeout=1.0, reconnect_initial=0.05, reconnect_max=0.2, unbind_timeout=0.5,
    )  # fmt: skip
    udh = (bytes((5, 0, 3, 9, 2, 1)), bytes((5, 0, 3, 9, 2, 2)))
    pdus = [
        submit("447911000001", b"chaos m-1 single"),
        submit("447911000002", udh[0] + b"chaos m-2 first half", esm_class=0x40),
        submit("447911000002", udh[1] + b"second half", esm_class=0x40),
        submit("447000900001", b"chaos m-3 refused"),
    ]
    with logged_process(args, tmp_path / "sim.log", cwd=ROOT) as proc:
        bind = Bind(settings, name="journal-test", rng=random.Random(1))
        bind.start()
        try:
            await asyncio.wait_for(bind.wait_bound(), WAIT)
            responses = [await asyncio.wait_for(bind.submit(p), WAIT) for p in pdus]
            proc.kill()  # SIGKILL: no chance to flush anything
            await asyncio.to_thread(proc.wait, WAIT)
        finally:
            await asyncio.wait_for(bind.close(drain_seconds=0), WAIT)
    assert proc.returncode == -9
    assert all(isinstance(r, SubmitSmResp) for r in responses)
    records = list(read_journal(journal))
    assert [r["destination"] for r in records] == [p.destination_addr for p in pdus]
    assert [(r["status"], r["message_id"]) for r in records] == [
        (r.command_status, r.message_id) for r in responses if isinstance(r, SubmitSmResp)
    ]
    assert [r["status"] for r in records] == [0, 0, 0, CommandStatus.ESME_RINVDSTADR]
    assert [r["concat"] for r in records] == [None, [9, 2, 1], [9, 2, 2], None]
    assert records[1]["text"] == "chaos m-2 first half"
    assert records[1]["short_message"] == pdus[1].short_message.hex()
    assert len({r["message_id"] for r in records[:3]}) == 3


def test_journal_is_off_by_default() -> None:
    """No flag, no file: `--help` documents it and the default config has none."""
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True,
        cwd=ROOT, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert "--journal PATH" in out
    assert SimulatorConfig().journal is None
