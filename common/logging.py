"""Structured logging for smsgw: structlog configuration, secret redaction and MSISDN masking.

This module owns how every log line looks. `configure_logging` runs once at startup and sets
up structlog (and routes the standard library's `logging`, used by asyncio and redis-py,
through the same renderer): JSON lines off a tty, coloured console output on a tty.

Two rules hold for every event, whoever logs it (style guide §5):
- secrets and message content are never written: keys named `password`, `secret`, `token`,
  `text`, `short_message` or `message_payload` (also `*_password`, `*_secret`, `*_token`) are
  replaced with `[redacted]`, also inside dicts and dataclasses (such as a logged PDU);
- phone numbers under address keys (`to`, `msisdn`, `destination_addr`, ...) are masked to
  country calling code + last 3 digits by `mask_msisdn`; alphanumeric sender ids are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterable
from typing import Final, TextIO

import structlog
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED: Final = "[redacted]"

_SECRET_KEYS: Final = frozenset(
    {"password", "passwd", "secret", "token", "api_key", "text", "short_message", "message_payload"}
)
_SECRET_SUFFIXES: Final = ("_password", "_secret", "_token")
_ADDRESS_KEYS: Final = frozenset(
    {
        "to",
        "from",
        "msisdn",
        "recipient",
        "destination",
        "destination_addr",
        "source_addr",
        "sender",
        "number",
        "phone",
    }
)
# ITU-T E.164 country calling codes form a prefix-free set of 1 to 3 digits.
_CALLING_CODES: Final = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
_NUMBER_PUNCTUATION: Final = str.maketrans("", "", " -.()")
_MIN_MSISDN_DIGITS: Final = 7
_MAX_DEPTH: Final = 4

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def mask_msisdn(number: str) -> str:
    """Mask a phone number to its country calling code and last 3 digits.

    Args:
        number: an E.164 number, with or without `+` (SMPP addresses carry none), possibly
            with spaces, dashes, dots or parentheses.

    Returns:
        `+<cc>***<last 3>` (for example `+44***123`); `***<last 3>` when no calling code is
        recognised (e.g. a national number starting with 0); `***` for anything that is not a
        number of at least 7 digits. Never more than those digits of the input.
    """
    digits = number.strip().translate(_NUMBER_PUNCTUATION).removeprefix("+")
    if len(digits) < _MIN_MSISDN_DIGITS or not (digits.isascii() and digits.isdigit()):
        return "***"
    for size in (1, 2, 3):
        if digits[:size] in _CALLING_CODES:
            return f"+{digits[:size]}***{digits[-3:]}"
    return f"***{digits[-3:]}"


def _looks_like_number(value: str) -> bool:
    digits = value.strip().translate(_NUMBER_PUNCTUATION).removeprefix("+")
    return len(digits) >= _MIN_MSISDN_DIGITS and digits.isascii() and digits.isdigit()


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _clean(key: str, value: object, depth: int) -> object:
    """The loggable form of `value` stored under `key`."""
    if _is_secret(key):
        return REDACTED
    if isinstance(value, str):
        if key.lower() in _ADDRESS_KEYS and _looks_like_number(value):
            return mask_msisdn(value)
        return value
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: _clean(str(k), v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return {"type": type(value).__name__, **_clean_items(fields, depth + 1)}
    return value


def _clean_items(items: Iterable[tuple[str, object]], depth: int) -> dict[str, object]:
    return {key: _clean(key, value, depth) for key, value in items}


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact secrets and mask phone numbers in every key of an event.

    Only events that pass the level filter reach processors, so this costs nothing for
    filtered-out debug lines.
    """
    for key, value in event_dict.items():
        if key != "event":
            event_dict[key] = _clean(key, value, 0)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        redact_event,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(render_json: bool, *, colors: bool) -> list[Processor]:
    # Tracebacks never carry frame locals: a local may hold a password or message text.
    if render_json:
        transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        return [
            structlog.processors.ExceptionRenderer(transformer),
            structlog.processors.JSONRenderer(),
        ]
    console = structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )
    return [console]


def configure_logging(
    level: str,
    *,
    render_json: bool | None = None,
    stream: TextIO | None = None,
    cache_logger: bool = True,
) -> None:
    """Configure structlog and the standard library's logging once, at startup.

    Args:
        level: `debug`, `info`, `warning`, `error` or `critical` (any case).
        render_json: JSON lines when True, console output when False; None picks JSON unless
            `stream` is a tty.
        stream: where log lines go (default: standard error, keeping stdout for CLI output).
        cache_logger: cache bound loggers on first use (structlog's performance advice); tests
            pass False so later reconfiguration takes effect.

    Raises:
        ValueError: `level` is not a known level name.
    """
    try:
        numeric_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"log level: expected one of {sorted(_LEVELS)}, got {level!r}") from None
    out = stream if stream is not None else sys.stderr
    tty = _isatty(out)
    as_json = render_json if render_json is not None else not tty
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, *_renderer(as_json, colors=tty)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        context_class=dict,
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=cache_logger,
    )
    _route_stdlib(numeric_level, out, shared, _renderer(as_json, colors=tty))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False


class _StdlibHandler(logging.StreamHandler[TextIO]):
    """The root handler configure_logging installs (replaced, not stacked, on reconfiguration)."""


def _route_stdlib(
    level: int, out: TextIO, shared: list[Processor], renderer: list[Processor]
) -> None:
    """Render stdlib `logging` records (asyncio, redis-py) with the same processors."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *renderer,
        ],
    )
    handler = _StdlibHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
