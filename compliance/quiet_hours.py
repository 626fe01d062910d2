"""Quiet hours: when a marketing message may be sent, in the recipient's local wall-clock time.

Pure functions over aware datetimes and `zoneinfo` zones; no clock is read here. A window is
quiet from `start` to `end` local time (wrapping midnight when start > end, e.g. France's
20:00-08:00), plus whole closed days (e.g. Sundays) and, when `closed_on_holidays`, the given
public holidays. Wall-clock semantics: a local time that occurs twice (DST fall-back overlap) is
judged by its wall time both times; a local time that never occurs (spring-forward gap) is
reached at the first instant whose wall time is at or past it.

Where a number has several time zones, `next_allowed_time_all` is conservative: an instant is
allowed only when it is allowed in every zone (domain.md §5.3). `plan_quiet_hours` uses that
when such an instant exists; when the windows of a country-wide zone list never open together
(Russia spans UTC+2..+12), it judges the window in the country's primary zone instead and says
so (`QuietFallback`), so a message is deferred, never refused, for quiet hours.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from compliance.errors import QuietHoursUnsatisfiableError

_MIDNIGHT = time(0, 0)
_HORIZON_DAYS = 31  # a window closed for a whole month is a configuration mistake
_MAX_ROUNDS = 64


class QuietFallback(enum.StrEnum):
    """Why a quiet-hours plan honoured less than every window in every zone of the number."""

    primary_zone = "primary_zone"  # the number's zones never open together: primary zone only
    country_window = "country_window"  # a tenant window never opens with the country's


class Weekday(enum.StrEnum):
    """Day names as written in YAML; `index` matches `date.weekday()` (Monday = 0)."""

    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"

    @property
    def number(self) -> int:
        """Monday = 0 ... Sunday = 6, as `date.weekday()`."""
        return list(Weekday).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """A marketing quiet window in local time.

    `start == end` means no daily quiet period (only closed days and holidays apply).
    """

    start: time
    end: time
    closed_days: frozenset[Weekday] = frozenset()
    closed_on_holidays: bool = False
    _closed_indexes: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        indexes = frozenset(day.number for day in self.closed_days)
        object.__setattr__(self, "_closed_indexes", indexes)

    def is_closed_day(self, day: date, holidays: frozenset[date]) -> bool:
        """True when the whole local `day` is quiet (a closed weekday or a holiday)."""
        if day.weekday() in self._closed_indexes:
            return True
        return self.closed_on_holidays and day in holidays

    def is_quiet_at(self, wall: time) -> bool:
        """True when the local wall time falls in the daily quiet period."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def open_intervals(self) -> tuple[tuple[time, time | None], ...]:
        """The allowed [from, until) wall-time intervals of an open day; None means 24:00."""
        if self.start == self.end:
            return ((_MIDNIGHT, None),)
        spans: tuple[tuple[time, time | None], ...]
        if self.start < self.end:
            spans = ((_MIDNIGHT, self.start), (self.end, None))
        else:
            spans = ((self.end, self.start),)
        return tuple((a, b) for a, b in spans if b is None or a < b)


@dataclass(frozen=True, slots=True)
class QuietConstraint:
    """One zone's window: the recipient's zone with the country's (or a tenant's) window."""

    tz: ZoneInfo
    window: QuietHours
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietPlan:
    """When a marketing message may go, and in which zones its quiet windows were judged."""

    until: datetime | None  # None: allowed now; else the first allowed instant (aware UTC)
    zones: tuple[str, ...]  # IANA names of the zones whose windows were honoured
    fallbacks: tuple[QuietFallback, ...] = ()  # empty: every window in every zone


def is_allowed_at(
    instant: datetime, tz: ZoneInfo, window: QuietHours, holidays: frozenset[date]
) -> bool:
    """True when `instant` (aware) is outside the quiet window in zone `tz`."""
    local = instant.astimezone(tz)
    if window.is_closed_day(local.date(), holidays):
        return False
    return not window.is_quiet_at(local.time())


def next_allowed_time(
    now_utc: datetime, tz: ZoneInfo, window: QuietHours, holidays: frozenset[date]
) -> datetime | None:
    """When a marketing message due at `now_utc` may go out in zone `tz`.

    Args:
        now_utc: the current instant, an aware datetime (any zone; UTC by convention).
        tz: the recipient's zone.
        window: the quiet window to honour.
        holidays: local public holidays (used when `window.closed_on_holidays`).

    Returns:
        None when sending is allowed now, else the first allowed instant (aware UTC).

    Raises:
        QuietHoursUnsatisfiableError: no allowed instant within 31 days.
    """
    if is_allowed_at(now_utc, tz, window, holidays):
        return None
    local = now_utc.astimezone(tz)
    for day, opens in _openings(local, window, holidays):
        candidate = _first_instant_at_or_after(datetime.combine(day, opens), tz, now_utc)
        if is_allowed_at(candidate, tz, window, holidays):
            return candidate.astimezone(UTC)
    raise QuietHoursUnsatisfiableError(f"no allowed time within {_HORIZON_DAYS} days in {tz.key}")


def next_allowed_time_all(
    now_utc: datetime, constraints: Sequence[QuietConstraint]
) -> datetime | None:
    """Like `next_allowed_time`, but allowed only when every constraint allows it.

    Iterates to a fixed point: each round moves to the latest of the per-zone next allowed
    instants, until one instant is allowed everywhere.

    Raises:
        QuietHoursUnsatisfiableError: the windows never open together.
    """
    instant = now_utc
    for _ in range(_MAX_ROUNDS):
        latest: datetime | None = None
        for c in constraints:
            nxt = next_allowed_time(instant, c.tz, c.window, c.holidays)
            if nxt is not None and (latest is None or nxt > latest):
                latest = nxt
        if latest is None:
            return None if instant == now_utc else instant.astimezone(UTC)
        instant = latest
    raise QuietHoursUnsatisfiableError("quiet-hours windows of the recipient's zones never overlap")


def _openings(
    local: datetime, window: QuietHours, holidays: frozenset[date]
) -> Iterator[tuple[date, time]]:
    """Wall-clock (day, time) at which an allowed interval opens, from `local` onwards."""
    now_wall = local.time().replace(tzinfo=None)
    for offset in range(_HORIZON_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if window.is_closed_day(day, holidays):
            continue
        for opens, closes in window.open_intervals():
            if offset == 0 and closes is not None and closes <= now_wall:
                continue
            yield day, (opens if offset > 0 or opens > now_wall else now_wall)


def _first_instant_at_or_after(wall: datetime, tz: ZoneInfo, not_before: datetime) -> datetime:
    """The first instant >= `not_before` whose wall time in `tz` is at or past `wall` (naive).

    Overlaps (the wall time occurs twice) take the earlier occurrence not before `not_before`;
    gaps (it never occurs) take the transition instant, found by bisection on whole seconds.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    exists = first.astimezone(tz).replace(tzinfo=None) == wall
    if exists and first != second:  # overlap: both occurrences are real
        chosen = first if first >= not_before else second
    elif exists:
        chosen = first
    else:
        chosen = _gap_end(wall, tz, min(first, second), max(first, second))
    return max(chosen, not_before.astimezone(UTC))


def _gap_end(wall: datetime, tz: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """Bisection: the first instant in (low, high] whose local wall time is >= `wall`."""
    lo, hi = 0, int((high - low).total_seconds())
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return low + timedelta(seconds=lo)


def plan_quiet_hours(
    now_utc: datetime,
    zones: Sequence[ZoneInfo],
    windows: Sequence[QuietHours],
    holidays: frozenset[date],
    primary: ZoneInfo,
) -> QuietPlan:
    """When a marketing message due at `now_utc` may go out; never refuses it.

    Tried in order, the first with an allowed instant within the horizon deciding:

    1. every window in every zone of the number: the earliest instant that suits them all;
    2. the zones never open together (a country-wide list such as Russia's UTC+2..+12): every
       window in the primary zone only (fallback `primary_zone`);
    3. a tenant window never opens together with the country's: the country's window (the
       first of `windows`) only, in the primary zone (fallback `country_window`, plus
       `primary_zone` for a number with several zones).

    Args:
        now_utc: the current instant, aware.
        zones: the recipient's zones (non-empty).
        windows: the country's window first, then any tenant window (non-empty).
        holidays: local public holidays.
        primary: the country's primary (most populous) zone; used when it is one of `zones`,
            else the number's first zone is.

    Returns:
        The plan. Should even step 3 find no opening (a country file whose holidays close a
        whole month, which the loader's checks make implausible), the message is deferred by
        the 31-day horizon, to be judged again then.
    """
    constraints = [QuietConstraint(tz, w, holidays) for tz in zones for w in windows]
    names = tuple(tz.key for tz in zones)
    try:
        return QuietPlan(until=next_allowed_time_all(now_utc, constraints), zones=names)
    except QuietHoursUnsatisfiableError:
        pass
    home = primary if primary.key in names else zones[0]
    narrowed = (QuietFallback.primary_zone,) if len(zones) > 1 else ()
    steps = [(narrowed, windows)] if narrowed else []
    steps.append(((*narrowed, QuietFallback.country_window), windows[:1]))
    for fallbacks, honoured in steps:
        try:
            until = next_allowed_time_all(
                now_utc, [QuietConstraint(home, w, holidays) for w in honoured]
            )
        except QuietHoursUnsatisfiableError:
            continue
        return QuietPlan(until=until, zones=(home.key,), fallbacks=fallbacks)
    horizon = now_utc.astimezone(UTC) + timedelta(days=_HORIZON_DAYS)
    return QuietPlan(until=horizon, zones=(home.key,), fallbacks=steps[-1][0])
