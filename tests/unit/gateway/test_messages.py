"""The outbound wire format: valid JSON becomes a message, anything else a reasoned rejection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.verdict import Category
from gateway.messages import (
    OutboundMessage,
    Rejected,
    Status,
    event_json,
    iso_ts,
    message_to_json,
    parse_outbound,
)

GOOD = {"id": "m1", "to": "+447700900123", "from": "Acme", "text": "hi"}


def parse(data: object) -> OutboundMessage | Rejected:
    raw = data if isinstance(data, bytes) else json.dumps(data)
    return parse_outbound(raw, max_text_length=50)


def test_minimal_message_gets_defaults() -> None:
    message = parse(GOOD)
    assert isinstance(message, OutboundMessage)
    assert message.category is Category.transactional
    assert message.send_at is None
    assert message.lane == (1, 0)


def test_dates_are_parsed_to_utc() -> None:
    message = parse({**GOOD, "send_at": "2026-11-23T10:00:00+01:00",
                     "expires_at": "2026-11-24T00:00:00Z"})  # fmt: skip
    assert isinstance(message, OutboundMessage)
    assert message.send_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "reason", "has_id"),
    [
        (b"not json", "invalid_json", False),
        (b"[1, 2]", "invalid_json", False),
        ({"to": "+1", "text": "x"}, "missing_field", False),
        ({**GOOD, "text": 5}, "wrong_type", True),
        ({**GOOD, "text": "x" * 51}, "text_too_long", True),
        ({**GOOD, "send_at": "tomorrow"}, "bad_date", True),
        ({**GOOD, "send_at": "2026-11-23T10:00:00"}, "bad_date", True),
        ({**GOOD, "category": "spam"}, "wrong_type", True),
        ({**GOOD, "priority": "high"}, "wrong_type", True),
        ({**GOOD, "country": "GBR"}, "wrong_type", True),
        ({**GOOD, "id": ""}, "invalid_id", False),
        ({**GOOD, "tags": [1]}, "wrong_type", True),
    ],
)
def test_bad_input_is_rejected_with_a_reason(data: object, reason: str, has_id: bool) -> None:
    result = parse(data)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert (result.id == "m1") is has_id
    assert result.detail


def test_priority_lanes_put_otp_first_then_priority() -> None:
    otp = parse({**GOOD, "category": "otp"})
    urgent_marketing = parse({**GOOD, "category": "marketing", "priority": 9})
    marketing = parse({**GOOD, "category": "marketing"})
    assert isinstance(otp, OutboundMessage)
    assert isinstance(urgent_marketing, OutboundMessage)
    assert isinstance(marketing, OutboundMessage)
    assert sorted([marketing.lane, otp.lane, urgent_marketing.lane]) == [
        otp.lane, urgent_marketing.lane, marketing.lane,
    ]  # fmt: skip


def test_canonical_json_round_trips() -> None:
    message = parse({**GOOD, "category": "marketing", "send_at": "2026-01-01T00:00:00Z",
                     "tags": {"k": "v"}, "priority": 3, "country": "gb"})  # fmt: skip
    assert isinstance(message, OutboundMessage)
    assert parse_outbound(message_to_json(message), max_text_length=50) == message


def test_event_json_has_the_documented_shape() -> None:
    data = json.loads(event_json("m1", Status.failed, 0.0, carrier="c", attempt=2,
                                 error_code="ESME_RSYSERR", error_reason="x"))  # fmt: skip
    assert data == {"id": "m1", "status": "failed", "ts": "1970-01-01T00:00:00.000Z",
                    "carrier": "c", "attempt": 2,
                    "error": {"code": "ESME_RSYSERR", "reason": "x"}}  # fmt: skip


@given(st.floats(min_value=-5e10, max_value=2.5e11) | st.sampled_from(
    [1733000000.9995, 1733000000.9999995, 1733000000.0005, 1733000000.0004995, -0.0004, -1e-7]
))  # fmt: skip
def test_iso_ts_matches_datetime_isoformat(ts: float) -> None:
    """The per-second cache rounds and truncates exactly as datetime does."""
    expected = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    assert iso_ts(ts) == expected.replace("+00:00", "Z")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(parse_outbound(raw, max_text_length=100), OutboundMessage | Rejected)


FIELDS = st.sampled_from(["id", "to", "text", "from", "category", "send_at", "priority", "tags"])
VALUES = st.none() | st.integers() | st.text(max_size=10) | st.booleans()


@given(st.dictionaries(FIELDS, VALUES))
def test_arbitrary_objects_never_raise(data: dict[str, object]) -> None:
    assert isinstance(parse(data), OutboundMessage | Rejected)
