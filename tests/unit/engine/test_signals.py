"""Upstream signals: what parses, what is refused and why."""

from __future__ import annotations

import pytest

from gateway.engine.signals import BadSignal, Signal, parse_signal


def test_conversion_with_window_and_country_hint_parses() -> None:
    data = b'{"type": "conversion", "to": " 07700 900123 ", "country": "gb", "window_seconds": 60}'
    assert parse_signal(data) == Signal(
        type="conversion", to="07700 900123", country="GB", window_seconds=60
    )


def test_opt_out_scoped_to_a_sender_parses() -> None:
    signal = parse_signal(b'{"type": "opt_out", "to": "+447700900123", "sender": "Acme"}')
    assert signal == Signal(type="opt_out", to="+447700900123", sender="Acme")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "entry has no data field"),
        (b"{nope", "data is not valid JSON"),
        (b"\xff\xfe", "data is not valid JSON"),
        (b"[1, 2]", "data must be a JSON object"),
        (b'{"type": "teleport", "to": "+447700900123"}', "type must be one of"),
        (b'{"type": "opt_in"}', "to must be a non-empty string"),
        (b'{"type": "opt_in", "to": "  "}', "to must be a non-empty string"),
        (b'{"type": "opt_out", "to": "+44", "sender": 5}', "sender must be a string"),
        (b'{"type": "conversion", "to": "+44", "country": "GBR"}', "country must be"),
        (b'{"type": "conversion", "to": "+44", "window_seconds": 0}', "window_seconds must"),
        (b'{"type": "conversion", "to": "+44", "window_seconds": true}', "window_seconds must"),
        (b'{"type": "conversion", "to": "+44", "window_seconds": 1.5}', "window_seconds must"),
    ],
)
def test_malformed_signals_are_refused_with_a_reason(data: bytes | None, reason: str) -> None:
    refused = parse_signal(data)
    assert isinstance(refused, BadSignal)
    assert refused.reason.startswith(reason)
