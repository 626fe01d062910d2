"""Retry policy: what a submit outcome means for the message, decided once and in one place.

`RetryPolicy.classify(command_status)` turns a submit_sm_resp / data_sm_resp status into a
`Disposition`; `RetryPolicy.delay(attempt, rng)` says how long to wait before the next try.
A carrier's config can override the status sets (`retry_policy_from_mapping`), because SMPP
3.4 §5.1.3 defines what each status means but not which ones are worth retrying, and vendors
disagree (domain.md §1.9, "Recommended transient vs permanent classification").

The default classification and why (sources: domain.md §1.9 and the gateways it cites):

- THROTTLED, ESME_RTHROTTLED 0x58 and ESME_RMSGQFUL 0x14: the peer says "too fast" or "full",
  not "bad message". Kannel pauses the bind on 0x58 (smsc_smpp.c), aiosmpplib feeds both into
  its throttle (esme.py), Jasmin retries 0x58 up to 20 times. The engine requeues without
  spending the retry budget and cuts the send rate (routing.throttle.AdaptiveRate).
- RETRY (same carrier may succeed later), ESME_RSYSERR 0x08 and ESME_RX_T_APPN 0x64: Kannel
  and Jasmin both treat them as temporary. ESME_RINVBNDSTS 0x04 is a session fault, not a
  message fault: the bind was in the wrong state; resubmit after the bind recovers.
  ESME_RDELIVERYFAILURE 0xFE (data_sm_resp, transaction mode) is retried unless its
  delivery_failure_reason TLV (0x0425) says 1 "destination address invalid" or 2 "permanent
  network error" (SMPP 3.4 §5.3.2.33; Rusmpp DeliveryFailureReason); see `classify`.
- FAILOVER (this carrier cannot take it; another carrier may): a permanent answer about the
  *carrier*, not the message. Each carrier is tried at most once per message (the engine passes
  failed carriers to `select_carriers(exclude=...)`), so a failover costs at most one submit
  per configured carrier and ends as permanent when the route runs out.
  - ESME_RINVDSTADR 0x0B: we validate E.164 numbers before submitting, so a carrier refusing a
    valid number most often means "no route to that network" (domain.md §1.9: "0x0B (often
    also 'no route')"). Permanent would lose deliverable messages.
  - ESME_RSUBMITFAIL 0x45 and ESME_RUNKNOWNERR 0xFF: ambiguous by definition; domain.md §1.9
    advises permanent with "optionally one retry on an alternate route", which is FAILOVER.
  - Vendor codes 0x400-0x4FF: meaning is per carrier (e.g. 0x400 "insufficient credit",
    domain.md [S37]) and usually about the account or the carrier's own coverage; another
    carrier can take the message. Map known vendor codes per carrier in config.
- PERMANENT: everything else, notably address, TON/NPI, length, flag and TLV errors (the same
  PDU cannot succeed anywhere), and ESME_RINVSCHED 0x61 (Jasmin retries it, but it is a bad
  field; permanent unless the time is recomputed). ESME_RINVSRCADR 0x0A stays permanent on
  purpose: sender-ID rejections are usually registration rules (domain.md §3), which should be
  alerted on, and routing around one carrier's sender block looks like filter evasion.
- UNKNOWN_OUTCOME is never a command_status: it is the disposition of a submit whose response
  never came (timeout, connection lost). The carrier may have the message; resending risks a
  duplicate and not resending risks a loss (domain.md §1.9 "No response"). `on_unknown_outcome`
  chooses: "hold" (default: park it until a receipt or an operator settles it) or "resend".
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from gateway.smpp.constants import CommandStatus
from routing.errors import RoutingError

_VENDOR: Final = frozenset(range(0x400, 0x500))
_MAX_STATUS: Final = 0xFFFFFFFF
_MAX_EXPONENT: Final = 64  # caps multiplier ** n well below float overflow (multiplier <= 100)
# delivery_failure_reason (TLV 0x0425, SMPP 3.4 §5.3.2.33) values that make 0xFE permanent.
_PERMANENT_DELIVERY_FAILURES: Final = frozenset({1, 2})


class Disposition(enum.Enum):
    """What to do with a message after one submit attempt."""

    SUCCESS = "success"  # accepted by the carrier (ESME_ROK)
    RETRY = "retry"  # transient: try again after `delay`, same or another carrier
    FAILOVER = "failover"  # this carrier will not take it: try the next carrier, never this one
    THROTTLED = "throttled"  # too fast: requeue without spending an attempt, slow down
    PERMANENT = "permanent"  # no carrier can succeed with this message: fail it
    UNKNOWN_OUTCOME = "unknown_outcome"  # no response: the carrier may or may not have it


DEFAULT_THROTTLE: Final = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
DEFAULT_TRANSIENT: Final = frozenset(
    {
        CommandStatus.ESME_RINVBNDSTS,
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RDELIVERYFAILURE,
    }
)
DEFAULT_FAILOVER: Final = frozenset(
    {
        CommandStatus.ESME_RINVDSTADR,
        CommandStatus.ESME_RSUBMITFAIL,
        CommandStatus.ESME_RUNKNOWNERR,
    }
    | _VENDOR
)

_CATEGORIES: Final = ("transient", "throttle", "failover")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Classification of submit outcomes plus the retry schedule for one carrier (or all).

    Attributes:
        max_attempts: submits per message before RETRY/FAILOVER give up (THROTTLED is not
            counted by the engine).
        initial_delay, max_delay, multiplier: exponential backoff in seconds, see `delay`.
        transient, throttle, failover: command_status values of each class; disjoint; any
            other non-zero status is PERMANENT.
        on_unknown_outcome: "hold" or "resend" a message whose submit got no response.

    Raises:
        RoutingError: a bad value; the message starts with the field name.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    transient: frozenset[int] = DEFAULT_TRANSIENT
    throttle: frozenset[int] = DEFAULT_THROTTLE
    failover: frozenset[int] = DEFAULT_FAILOVER
    on_unknown_outcome: Literal["hold", "resend"] = "hold"

    def __post_init__(self) -> None:
        _check_int(self.max_attempts, "max_attempts", 1)
        _check_number(self.initial_delay, "initial_delay", low=0.0, open_low=True)
        _check_number(self.max_delay, "max_delay", low=self.initial_delay)
        _check_number(self.multiplier, "multiplier", low=1.0, high=100.0)
        if self.on_unknown_outcome not in ("hold", "resend"):
            raise RoutingError(
                f"on_unknown_outcome: expected 'hold' or 'resend', got {self.on_unknown_outcome!r}"
            )
        for name in _CATEGORIES:
            for code in getattr(self, name):
                if isinstance(code, bool) or not isinstance(code, int):
                    raise RoutingError(f"{name}: expected int command_status, got {code!r}")
                if not 0 < code <= _MAX_STATUS:
                    raise RoutingError(f"{name}: command_status {code:#x} is out of range")
        for i, first in enumerate(_CATEGORIES):
            for second in _CATEGORIES[i + 1 :]:
                shared = getattr(self, first) & getattr(self, second)
                if shared:
                    raise RoutingError(
                        f"{second}: {_describe(min(shared))} is also listed under {first}"
                    )

    def classify(
        self, command_status: int, *, delivery_failure_reason: int | None = None
    ) -> Disposition:
        """The disposition of a submit that got a response with `command_status`.

        Args:
            command_status: the response header's status; unknown values are fine.
            delivery_failure_reason: the data_sm_resp TLV 0x0425, when present; values 1 and
                2 make ESME_RDELIVERYFAILURE permanent (SMPP 3.4 §5.3.2.33).
        """
        if command_status == 0:
            return Disposition.SUCCESS
        if command_status in self.throttle:
            return Disposition.THROTTLED
        if command_status in self.transient:
            if (
                command_status == CommandStatus.ESME_RDELIVERYFAILURE
                and delivery_failure_reason in _PERMANENT_DELIVERY_FAILURES
            ):
                return Disposition.PERMANENT
            return Disposition.RETRY
        if command_status in self.failover:
            return Disposition.FAILOVER
        return Disposition.PERMANENT

    def unknown_outcome(self) -> Disposition:
        """The disposition of a submit that got no response: RETRY to resend, else hold it."""
        if self.on_unknown_outcome == "resend":
            return Disposition.RETRY
        return Disposition.UNKNOWN_OUTCOME

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first failure).

        Exponential growth capped at `max_delay`, with "equal jitter": the ceiling is
        `min(max_delay, initial_delay * multiplier ** (attempt - 1))` and the delay is drawn
        uniformly from [ceiling / 2, ceiling], keeping a floor under every wait while spreading
        retries of a burst of failures (same shape as gateway.carrier.backoff.Backoff).
        """
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def retry_policy_from_mapping(
    data: Mapping[str, Any], path: str, *, base: RetryPolicy | None = None
) -> RetryPolicy:
    """Build a RetryPolicy from a config mapping, on top of `base` (default: `RetryPolicy()`).

    Keys are the RetryPolicy fields plus `permanent`. Status lists take spec names
    ("ESME_RTHROTTLED", any case), ints (YAML reads 0x58 as an int) or inclusive ranges
    ("0x400-0x4FF"). A status listed explicitly moves: it is removed from every class that the
    mapping does not set, so `transient: [ESME_RSUBMITFAIL]` takes 0x45 out of the default
    failover set, and `permanent: [0x400]` takes 0x400 out of all of them.

    Raises:
        RoutingError: unknown key, bad type or value, unknown status name, or a status listed
            in two classes; the message names the key path, e.g.
            "retry.transient[2]: unknown command_status 'ESME_RFOO'".
    """
    base = base if base is not None else RetryPolicy()
    allowed = {f.name for f in fields(RetryPolicy)} | {"permanent"}
    for key in data:
        if key not in allowed:
            raise RoutingError(f"{path}.{key}: unknown key (expected one of {sorted(allowed)})")
    explicit: dict[str, frozenset[int]] = {}
    owner: dict[int, str] = {}
    for key in (*_CATEGORIES, "permanent"):
        if key in data:
            explicit[key] = _parse_statuses(data[key], f"{path}.{key}", key, owner)
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(RetryPolicy)}
    for key in _CATEGORIES:
        values[key] = explicit.get(key, frozenset(values[key]) - owner.keys())
    for key in ("max_attempts", "initial_delay", "max_delay", "multiplier", "on_unknown_outcome"):
        if key in data:
            values[key] = data[key]
    try:
        return RetryPolicy(**values)
    except RoutingError as exc:
        raise RoutingError(f"{path}.{exc}") from None


def _parse_statuses(
    value: object, path: str, category: str, owner: dict[int, str]
) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise RoutingError(f"{path}: expected a list of command_status names or numbers")
    codes: set[int] = set()
    for i, item in enumerate(value):
        for code in _parse_status(item, f"{path}[{i}]"):
            other = owner.setdefault(code, category)
            if other != category:
                raise RoutingError(f"{path}[{i}]: {_describe(code)} is also listed under {other}")
            codes.add(code)
    return frozenset(codes)


def _parse_status(item: object, path: str) -> range | tuple[int]:
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise RoutingError(f"{path}: expected a command_status name or number, got {item!r}")
    if isinstance(item, int):
        return (_check_status(item, path),)
    text = item.strip()
    if text[:1].isdigit():
        low, sep, high = text.partition("-")
        first = _check_status(_to_int(low, item, path), path)
        last = _check_status(_to_int(high, item, path), path) if sep else first
        if last < first:
            raise RoutingError(f"{path}: empty range {item!r}")
        return range(first, last + 1)
    try:
        return (int(CommandStatus[text.upper()]),)
    except KeyError:
        raise RoutingError(f"{path}: unknown command_status {item!r}") from None


def _to_int(text: str, item: str, path: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise RoutingError(f"{path}: unknown command_status {item!r}") from None


def _check_status(code: int, path: str) -> int:
    if code == 0:
        raise RoutingError(f"{path}: ESME_ROK (0) is always success and cannot be classified")
    if not 0 < code <= _MAX_STATUS:
        raise RoutingError(f"{path}: command_status {code:#x} is out of range")
    return code


def _describe(code: int) -> str:
    try:
        return f"{CommandStatus(code).name} ({code:#x})"
    except ValueError:
        return f"{code:#x}"


def _check_int(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RoutingError(f"{name}: expected int >= {low}, got {value!r}")


def _check_number(
    value: object, name: str, *, low: float, high: float | None = None, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RoutingError(f"{name}: expected a number, got {value!r}")
    too_low = value <= low if open_low else value < low
    if not math.isfinite(value) or too_low or (high is not None and value > high):
        bound = f"> {low}" if open_low else f">= {low}"
        bound += f" and <= {high}" if high is not None else ""
        raise RoutingError(f"{name}: expected a number {bound}, got {value!r}")
