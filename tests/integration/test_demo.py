"""`make demo` end to end: real redis-server, simulator and `smsgw run`, its printed summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_summarises_every_message_and_explains_the_duplicate() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(" s  submitted  " in line for line in lines), "no progress line"
    assert any(
        line.startswith("195 entries enqueued for 194 messages; 194 reached a final status in ")
        and "did not" not in line
        for line in lines
    ), done.stdout
    assert "delivered          181" in lines
    assert "undelivered         10" in lines
    assert "total              194" in lines
    named = {line.split()[0]: line.split()[1:3] for line in lines if line.startswith("  demo-")}
    assert named["demo-refused"] == ["failed", "ESME_RINVDSTADR"]
    assert named["demo-bad-number"] == ["rejected", "invalid_number"]
    assert any("rejected     invalid_json" in line for line in lines)  # the bad JSON entry
    assert "1 entry was a duplicate of id demo-0: acknowledged with no event, by design" in lines
