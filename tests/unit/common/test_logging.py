"""configure_logging output modes, secret redaction and MSISDN masking."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from common.logging import REDACTED, configure_logging, mask_msisdn
from gateway.smpp.pdu import BindTransmitter, SubmitSm


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back the way the test found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def log_to_buffer(level: str = "info", **kwargs: object) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, stream=stream, cache_logger=False, **kwargs)  # type: ignore[arg-type]
    return stream


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+447700900123", "+44***123"),
        ("447700900123", "+44***123"),
        ("+1 (212) 555-0199", "+1***199"),
        ("33612345678", "+33***678"),
        ("8613800138000", "+86***000"),
        ("+3548881234", "+354***234"),
        ("07700900123", "***123"),
        ("12345", "***"),
        ("ACME", "***"),
        ("", "***"),
        ("+44 7700 90012x", "***"),
    ],
)
def test_mask_msisdn_keeps_country_code_and_last_three_digits(number: str, masked: str) -> None:
    assert mask_msisdn(number) == masked


@settings(max_examples=300)
@given(digits=st.text(alphabet="0123456789", min_size=7, max_size=15))
def test_mask_msisdn_never_reveals_the_subscriber_part(digits: str) -> None:
    masked = mask_msisdn(digits)
    shown = "".join(ch for ch in masked if ch.isdigit())
    assert masked.endswith(digits[-3:])
    assert len(shown) <= 6
    assert digits.startswith(shown[:-3])


@settings(max_examples=200)
@given(text=st.text(max_size=30))
def test_mask_msisdn_accepts_any_text(text: str) -> None:
    masked = mask_msisdn(text)
    assert "***" in masked
    assert len(masked) <= len("+123***456")


def test_json_lines_off_a_tty_with_level_and_utc_timestamp() -> None:
    stream = log_to_buffer()
    structlog.get_logger().info("bind_succeeded", carrier="acme", bind="acme-0")
    (line,) = json_lines(stream)
    assert line["event"] == "bind_succeeded"
    assert line["level"] == "info"
    assert line["carrier"] == "acme"
    assert str(line["timestamp"]).endswith("Z")


def test_console_output_on_a_tty() -> None:
    stream = TtyBuffer()
    configure_logging("info", stream=stream, cache_logger=False)
    structlog.get_logger().info("bind_succeeded", carrier="acme")
    output = stream.getvalue()
    assert "bind_succeeded" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_explicit_render_json_overrides_tty_detection() -> None:
    stream = TtyBuffer()
    configure_logging("info", render_json=True, stream=stream, cache_logger=False)
    structlog.get_logger().info("queue_drained")
    assert json_lines(stream)[0]["event"] == "queue_drained"


def test_level_filters_lower_events() -> None:
    stream = log_to_buffer("warning")
    log = structlog.get_logger()
    log.info("ignored")
    log.warning("peer_misbehaved")
    assert [line["event"] for line in json_lines(stream)] == ["peer_misbehaved"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("verbose")


def test_secrets_and_message_text_are_redacted() -> None:
    stream = log_to_buffer()
    structlog.get_logger().info(
        "bind_requested",
        password="hunter2",
        redis_password="pw",
        api_token="tok",
        text="your code is 123456",
        short_message=b"your code is 123456",
        nested={"secret": "s", "system_id": "acme"},
    )
    (line,) = json_lines(stream)
    for key in ("password", "redis_password", "api_token", "text", "short_message"):
        assert line[key] == REDACTED
    assert line["nested"] == {"secret": REDACTED, "system_id": "acme"}
    assert "hunter2" not in stream.getvalue()
    assert "123456" not in stream.getvalue()


def test_logged_pdus_lose_password_and_short_message() -> None:
    stream = log_to_buffer("debug")
    log = structlog.get_logger()
    log.debug("pdu_sent", pdu=BindTransmitter(system_id="acme", password="hunter2"))
    log.debug(
        "pdu_sent",
        pdu=SubmitSm(destination_addr="447700900123", short_message=b"secret code 987654"),
    )
    bind_line, submit_line = json_lines(stream)
    bind = bind_line["pdu"]
    assert isinstance(bind, dict)
    assert bind["password"] == REDACTED
    assert bind["system_id"] == "acme"
    submit = submit_line["pdu"]
    assert isinstance(submit, dict)
    assert submit["type"] == "SubmitSm"
    assert submit["short_message"] == REDACTED
    assert submit["destination_addr"] == "+44***123"
    assert "hunter2" not in stream.getvalue()
    assert "987654" not in stream.getvalue()
    assert "7700900" not in stream.getvalue()


def test_numbers_under_address_keys_are_masked_but_sender_ids_kept() -> None:
    stream = log_to_buffer()
    structlog.get_logger().info(
        "message_delivered", to="+447700900123", source_addr="ACME", msisdn="33612345678"
    )
    (line,) = json_lines(stream)
    assert line["to"] == "+44***123"
    assert line["msisdn"] == "+33***678"
    assert line["source_addr"] == "ACME"


def test_context_variables_are_merged() -> None:
    stream = log_to_buffer()
    with structlog.contextvars.bound_contextvars(
        message_id="m-1", carrier="acme", to="447700900123"
    ):
        structlog.get_logger().info("submit_sm_accepted", reason="ok")
    (line,) = json_lines(stream)
    assert line["message_id"] == "m-1"
    assert line["carrier"] == "acme"
    assert line["to"] == "+44***123"


def fail_with_secret_local() -> None:
    password = "hunter2"
    raise RuntimeError(f"boom after {len(password)} characters")


def test_tracebacks_are_structured_and_carry_no_locals() -> None:
    stream = log_to_buffer()
    password = "hunter2"
    try:
        fail_with_secret_local()
    except RuntimeError:
        structlog.get_logger().exception("supervisor_crashed", length=len(password))
    (line,) = json_lines(stream)
    exceptions = line["exception"]
    assert isinstance(exceptions, list)
    (exception,) = exceptions
    assert exception["exc_type"] == "RuntimeError"
    assert exception["frames"]
    assert all("locals" not in frame for frame in exception["frames"])
    assert "hunter2" not in stream.getvalue()


def test_stdlib_logging_goes_through_the_same_pipeline() -> None:
    stream = log_to_buffer()
    logging.getLogger("redis.connection").warning("lost connection password=%s", "x")
    (line,) = json_lines(stream)
    assert line["logger"] == "redis.connection"
    assert line["level"] == "warning"


def test_reconfiguring_replaces_the_stdlib_handler() -> None:
    first = log_to_buffer()
    second = log_to_buffer()
    logging.getLogger("asyncio").error("loop_stalled")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1
