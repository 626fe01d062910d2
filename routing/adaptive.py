"""Adaptive send rate for one carrier: AIMD on the carrier's throttle answers.

The configured TPS is what the contract allows; the carrier's ESME_RTHROTTLED (0x58) and
ESME_RMSGQFUL (0x14) answers say what it accepts right now (domain.md §1.9: cut the send rate
on that bind, AIMD-style). `AdaptiveRate` turns those answers into an effective rate, the way
TCP congestion avoidance turns losses into a window (additive increase, multiplicative
decrease, RFC 5681 §3.1):

- Multiplicative decrease: a throttle answer cuts the rate to `rate * decrease` (0.5 by
  default), never below `min_rate`. Answers arriving within `cooldown` seconds of a cut are the
  same congestion event (a full window of submits answered at once), so they do not cut again;
  like TCP, which halves once per round trip, not once per lost segment.
- Additive increase: the rate grows by `increase` TPS for every whole second since the last
  throttle answer, up to the configured `max_rate` and never above it. Every throttle answer,
  cut or not, restarts the count, so the rate only grows while the carrier stays quiet.

The rate is a pure function of the answers and the times they came, so it is tested with a
fake clock. Pure: stdlib only; the caller passes `now` (monotonic seconds, e.g. loop.time()).
"""

from __future__ import annotations

import math

from routing.errors import RoutingError


class AdaptiveRate:
    """The effective TPS of one carrier after its throttle answers (AIMD).

    Args:
        max_rate: the configured TPS; the effective rate never exceeds it.
        min_rate: the floor a cut never goes below (default: min(1, max_rate)).
        decrease: the factor of a cut, in (0, 1).
        increase: TPS regained per whole second without throttle answers (default
            max_rate / 20, so recovering from a single halving takes 10 s).
        cooldown: seconds after a cut during which further throttle answers do not cut.

    Raises:
        RoutingError: a parameter out of range.
    """

    __slots__ = (
        "_anchor",
        "_base",
        "_last_cut",
        "cooldown",
        "decrease",
        "increase",
        "max_rate",
        "min_rate",
    )

    def __init__(
        self,
        *,
        max_rate: float,
        min_rate: float | None = None,
        decrease: float = 0.5,
        increase: float | None = None,
        cooldown: float = 1.0,
    ) -> None:
        _check(max_rate > 0, "max_rate", max_rate)
        min_rate = min(1.0, max_rate) if min_rate is None else min_rate
        increase = max_rate / 20 if increase is None else increase
        _check(0 < min_rate <= max_rate, "min_rate", min_rate)
        _check(0 < decrease < 1, "decrease", decrease)
        _check(increase > 0, "increase", increase)
        _check(cooldown >= 0, "cooldown", cooldown)
        self.max_rate = float(max_rate)
        self.min_rate = float(min_rate)
        self.decrease = float(decrease)
        self.increase = float(increase)
        self.cooldown = float(cooldown)
        self._base = self.max_rate
        self._anchor: float | None = None  # time of the last throttle answer
        self._last_cut: float | None = None

    def rate(self, now: float) -> float:
        """The effective TPS at monotonic time `now`."""
        if self._anchor is None:
            return self.max_rate
        whole_seconds = math.floor(max(0.0, now - self._anchor))
        recovered = self._base + self.increase * whole_seconds
        if recovered >= self.max_rate:
            self._anchor = None  # fully recovered: forget the episode
            return self.max_rate
        return recovered

    def on_throttled(self, now: float) -> bool:
        """Record one throttle answer at `now`; True when it cut the rate."""
        current = self.rate(now)
        cut = self._last_cut is None or now - self._last_cut >= self.cooldown
        if cut:
            current = max(self.min_rate, current * self.decrease)
            self._last_cut = now
        self._base = current
        self._anchor = now
        return cut


def _check(ok: bool, name: str, value: float) -> None:
    if not ok or not math.isfinite(value):
        raise RoutingError(f"{name}: out of range: {value!r}")
