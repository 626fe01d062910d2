"""Reconnect backoff: exponential growth with "equal jitter" and an injected RNG.

Equal jitter (half fixed, half random) keeps a floor under every delay, so a carrier that
refuses every bind is never retried in a hot loop, while jitter keeps many binds from
reconnecting in lockstep after a carrier restart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class Backoff:
    """Delays of initial, 2x, 4x ... capped at `maximum`, each jittered into [d/2, d]."""

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        ceiling = min(self.maximum, self.initial * self.multiplier**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """A success: the next failure starts from `initial` again."""
        self.attempt = 0
