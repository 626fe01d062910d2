"""Upstream signals on the signals stream (default `smsgw:signals`): conversions and opt-outs.

Any app can send them with plain Redis:

    XADD smsgw:signals * data '{"type": "conversion", "to": "+447700900123"}'
    XADD smsgw:signals * data '{"type": "opt_out", "to": "+447700900123", "sender": "Acme"}'
    XADD smsgw:signals * data '{"type": "opt_in", "to": "+447700900123"}'

`conversion` suppresses marketing to that recipient for `window_seconds` (default: the
compliance config's `conversion_suppression_seconds`). Because every message is checked
against the store when the engine plans it, the suppression and the opt-outs reach messages
already queued and in the deferred set, not only new ones. `country` is a hint for national
numbers; `sender` scopes an opt-out to one sender (absent: all senders).

Signals are read through the engine's consumer group, so each is applied by one instance,
and acknowledged once applied. A malformed signal is logged (`signal_rejected`) and
acknowledged, never retried forever; a Redis failure leaves it pending for a retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

SignalType = Literal["conversion", "opt_out", "opt_in"]
_TYPES: tuple[SignalType, ...] = ("conversion", "opt_out", "opt_in")
_MAX_WINDOW_SECONDS = 366 * 86400


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """One valid signal."""

    type: SignalType
    to: str
    sender: str | None = None
    country: str | None = None
    window_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class BadSignal:
    """Why an entry is not a valid signal."""

    reason: str


class SignalPolicy(Protocol):
    """What applying a signal needs of the compliance policy."""

    async def record_conversion(
        self, to: str, now: datetime, *, window: timedelta | None = None, hint: str | None = None
    ) -> datetime | None: ...

    async def opt_out(
        self, to: str, sender: str | None, now: datetime, *, hint: str | None = None
    ) -> str | None: ...

    async def opt_in(
        self, to: str, sender: str | None, *, hint: str | None = None
    ) -> str | None: ...


def parse_signal(data: bytes | None) -> Signal | BadSignal:
    """A signal from an entry's `data` field, or the reason it is not one."""
    if data is None:
        return BadSignal("entry has no data field")
    try:
        raw: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return BadSignal("data is not valid JSON")
    if not isinstance(raw, dict):
        return BadSignal("data must be a JSON object")
    kind, to = raw.get("type"), raw.get("to")
    if kind not in _TYPES:
        return BadSignal(f"type must be one of {', '.join(_TYPES)}")
    if not isinstance(to, str) or not to.strip():
        return BadSignal("to must be a non-empty string")
    sender, country, window = raw.get("sender"), raw.get("country"), raw.get("window_seconds")
    if sender is not None and not isinstance(sender, str):
        return BadSignal("sender must be a string")
    if country is not None and not (isinstance(country, str) and len(country) == 2):
        return BadSignal("country must be an ISO 3166 alpha-2 code")
    if window is not None and not (
        isinstance(window, int) and not isinstance(window, bool) and
        0 < window <= _MAX_WINDOW_SECONDS
    ):  # fmt: skip
        return BadSignal(f"window_seconds must be an integer 1..{_MAX_WINDOW_SECONDS}")
    return Signal(
        type=kind,
        to=to.strip(),
        sender=sender,
        country=country.upper() if country else None,
        window_seconds=window,
    )


async def apply_signal(signal: Signal, policy: SignalPolicy, now: datetime) -> str | None:
    """Apply one signal; None when done, else why it could not be (an invalid number)."""
    done: object
    if signal.type == "conversion":
        window = timedelta(seconds=signal.window_seconds) if signal.window_seconds else None
        done = await policy.record_conversion(signal.to, now, window=window, hint=signal.country)
    elif signal.type == "opt_out":
        done = await policy.opt_out(signal.to, signal.sender, now, hint=signal.country)
    else:
        done = await policy.opt_in(signal.to, signal.sender, hint=signal.country)
    return None if done is not None else "to is not a valid phone number"
