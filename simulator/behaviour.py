"""How the simulated carrier behaves, decided purely: no I/O, time as `now`, an injected RNG.

This module owns every decision the SMSC makes about a submitted message:

* the submit answer (`submit_status`): a prefix rule's status, then the TPS limit
  (ESME_RTHROTTLED, SMPP 3.4 §5.1.3), then a configured share of a chosen error;
* the final outcome (`outcome_for`): the longest matching prefix rule, else a weighted draw
  from the configured mix, so tests can be deterministic by destination;
* whether a receipt is due (`wants_receipt`, SMPP 3.4 §5.2.17 registered_delivery bits 1-0:
  1 = final outcome, 2 = failure only; 3, reserved in 3.4, is treated as 5.0's success only);
* when (`receipt_delay`) and the fault switches the server reads (`faults`).

The RNG is a `random.Random` passed in, so a seed reproduces a whole run.
"""

from __future__ import annotations

import random
from typing import Final

from gateway.smpp.constants import CommandStatus, MessageState
from simulator.config import FaultSettings, Outcome, PrefixRule, ReceiptSettings

MESSAGE_STATE: Final = {
    Outcome.DELIVRD: MessageState.DELIVERED,
    Outcome.UNDELIV: MessageState.UNDELIVERABLE,
    Outcome.EXPIRED: MessageState.EXPIRED,
    Outcome.REJECTD: MessageState.REJECTED,
}
"""message_state TLV value for each outcome (SMPP 3.4 §5.2.28)."""

DEFAULT_ERR: Final = {
    Outcome.DELIVRD: 0,
    Outcome.UNDELIV: 1,  # GSM MAP unknownSubscriber (3GPP TS 29.002)
    Outcome.EXPIRED: 27,  # GSM MAP absentSubscriber: the handset stayed off until expiry
    Outcome.REJECTD: 13,  # GSM MAP callBarred
}
"""The receipt's `err:` code for an outcome when no prefix rule sets one."""

THROTTLED: Final = int(CommandStatus.ESME_RTHROTTLED)


class TokenBucket:
    """A token bucket: `rate` tokens a second, at most `burst` banked; one token per submit."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._last = now

    def take(self, now: float) -> bool:
        """Spend one token if one is available at `now`; False means throttle."""
        tokens = self._tokens + (now - self._last) * self.rate
        self._last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


def wants_receipt(registered_delivery: int, outcome: Outcome) -> bool:
    """Whether registered_delivery asks for a receipt on this outcome (SMPP 3.4 §5.2.17)."""
    receipt_bits = registered_delivery & 0x03
    if receipt_bits == 1:
        return True
    if receipt_bits == 2:
        return outcome is not Outcome.DELIVRD
    return receipt_bits == 3 and outcome is Outcome.DELIVRD


class Behaviour:
    """The carrier's decisions for one simulator instance (faults can change at run time)."""

    def __init__(
        self,
        *,
        receipts: ReceiptSettings,
        faults: FaultSettings,
        prefix_rules: tuple[PrefixRule, ...],
        rng: random.Random,
    ) -> None:
        self.receipts = receipts
        self._rng = rng
        # Longest prefix first, so the first match is the most specific rule.
        self._rules = sorted(prefix_rules, key=lambda rule: len(rule.prefix), reverse=True)
        self._status_rules = [r for r in self._rules if r.submit_status is not None]
        self._outcome_rules = [r for r in self._rules if r.outcome is not None]
        self._outcomes = list(receipts.outcomes)
        self._weights = list(receipts.outcomes.values())
        self._single_outcome = self._outcomes[0] if len(self._outcomes) == 1 else None
        self._buckets: dict[str, TokenBucket] = {}
        self.faults = faults

    @property
    def faults(self) -> FaultSettings:
        """The fault switches in force."""
        return self._faults

    @faults.setter
    def faults(self, faults: FaultSettings) -> None:
        self._faults = faults
        self._buckets = {}  # new limits start from full buckets
        self._error_share = faults.error_share
        self._error_status = faults.error_status
        self._tps = faults.tps

    def submit_status(self, system_id: str, destination_addr: str, now: float) -> int:
        """The command_status to answer a submit with: 0, or the error chosen for it."""
        if self._status_rules:
            for rule in self._status_rules:
                if destination_addr.startswith(rule.prefix):
                    return rule.submit_status or 0
        if self._tps and not self._bucket(system_id, now).take(now):
            return THROTTLED
        if self._error_share and self._rng.random() < self._error_share:
            return self._error_status
        return 0

    def outcome_for(self, destination_addr: str) -> tuple[Outcome, int]:
        """The final outcome and `err:` code for a message to `destination_addr`."""
        for rule in self._outcome_rules:
            if destination_addr.startswith(rule.prefix):
                outcome = rule.outcome or Outcome.DELIVRD
                return outcome, DEFAULT_ERR[outcome] if rule.err is None else rule.err
        outcome = self._single_outcome or self._rng.choices(self._outcomes, self._weights)[0]
        return outcome, DEFAULT_ERR[outcome]

    def receipt_delay(self) -> float:
        """Seconds from submit to receipt: `delay` plus a uniform draw up to `delay_jitter`."""
        jitter = self.receipts.delay_jitter
        if jitter:
            return self.receipts.delay + self._rng.uniform(0.0, jitter)
        return self.receipts.delay

    def _bucket(self, system_id: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(system_id)
        if bucket is None:
            faults = self._faults
            burst = faults.tps_burst or faults.tps
            bucket = self._buckets[system_id] = TokenBucket(faults.tps, burst, now)
        return bucket
