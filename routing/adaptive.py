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

A carrier with no configured TPS sends as fast as its windows allow until it throttles. Its
first throttle answer starts an episode (`AdaptiveRate.after_throttle`): the rate it accepted
just before (`RateMeter`, accepted submits per second) cut by `decrease`, then the same
additive increase, up to `headroom` times that observed rate; once the rate is back there
without further throttle answers (`recovered`), the carrier may go back to unlimited.

The rate is a pure function of the answers and the times they came, so it is tested with a
fake clock. Pure: stdlib only; the caller passes `now` (monotonic seconds, e.g. loop.time()).
"""

from __future__ import annotations

import math
from collections import deque

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

    @classmethod
    def after_throttle(
        cls, observed: float, now: float, *, headroom: float = 2.0, floor: float = 1.0,
        decrease: float = 0.5, recovery: float = 2.5, cooldown: float = 1.0,
    ) -> AdaptiveRate:  # fmt: skip
        """The rate of a carrier without a configured TPS, after its first throttle answer.

        `observed` is what the carrier accepted per second just before (`RateMeter`): the
        episode starts at `observed * decrease` (as if this answer cut it), grows additively
        back to `observed` in `recovery` quiet seconds and on at that pace to
        `headroom * observed`, where it ends (`recovered`): by default from half to the
        observed rate in 2.5 s, and to twice it in 5 s more. `floor` bounds the observed rate
        from below (a carrier that accepted nothing yet).

        The observation is a lower bound when traffic began less than a second before the
        throttle (the carrier's burst, counted as one second's worth); recovering in seconds
        and then measuring afresh corrects it.
        """
        _check(headroom > 1, "headroom", headroom)
        _check(floor > 0, "floor", floor)
        _check(recovery > 0, "recovery", recovery)
        ceiling = max(observed, floor) if math.isfinite(observed) else floor
        adaptive = cls(
            max_rate=ceiling * headroom, min_rate=min(1.0, ceiling), decrease=decrease,
            increase=ceiling * (1 - decrease) / recovery, cooldown=cooldown,
        )  # fmt: skip
        adaptive._base = max(adaptive.min_rate, ceiling * decrease)
        adaptive._anchor = adaptive._last_cut = now
        return adaptive

    def recovered(self, now: float) -> bool:
        """True once the rate is back at `max_rate` with no throttle answer since."""
        return self.rate(now) >= self.max_rate

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


class RateMeter:
    """Events per second over the last `window` seconds, from a cumulative counter (e.g.
    submits a carrier accepted) sampled lazily, at most once per `resolution` seconds.

    `sample` is cheap enough for every submit: it stores a sample only when `resolution` has
    passed since the last. `rate` is the count over the whole window divided by the window,
    the count at the window's start interpolated between the samples around it (the counter
    is taken to grow evenly between samples). So a burst that began a moment ago counts as
    that many per second, not as its own rate extrapolated to a second; with no sample before
    the window (a new meter), the count since the oldest sample.
    """

    __slots__ = ("_samples", "resolution", "window")

    def __init__(self, *, window: float = 1.0, resolution: float = 0.1) -> None:
        _check(window > 0, "window", window)
        _check(0 < resolution <= window, "resolution", resolution)
        self.window = float(window)
        self.resolution = float(resolution)
        self._samples: deque[tuple[float, int]] = deque()

    def due(self, now: float) -> bool:
        """Whether `sample` at `now` would store a sample (so the counter is worth reading)."""
        return not self._samples or now - self._samples[-1][0] >= self.resolution

    def sample(self, now: float, total: int) -> None:
        """Record the counter's `total` at `now` (kept if `resolution` has passed)."""
        if not self.due(now):
            return
        samples = self._samples
        samples.append((now, total))
        # keep the newest sample before the window: `rate` falls back on it
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()

    def rate(self, now: float, total: int) -> float:
        """Events per second up to `now`, when the counter reads `total` (0 without samples)."""
        start = now - self.window
        before: tuple[float, int] | None = None
        for stamp, count in self._samples:
            if stamp >= start:
                baseline = float(count)
                if before is not None:  # the count at `start`, between the samples around it
                    share = (start - before[0]) / (stamp - before[0])
                    baseline = before[1] + (count - before[1]) * share
                return max(0.0, total - baseline) / self.window
            before = (stamp, count)
        if before is None:
            return 0.0
        return max(0, total - before[1]) / max(self.window, now - before[0])


def _check(ok: bool, name: str, value: float) -> None:
    if not ok or not math.isfinite(value):
        raise RoutingError(f"{name}: out of range: {value!r}")
