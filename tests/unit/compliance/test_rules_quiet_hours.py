"""Quiet hours: local wall-clock windows across midnight, closed days, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.errors import QuietHoursUnsatisfiableError
from compliance.quiet_hours import (
    QuietConstraint,
    QuietHours,
    Weekday,
    is_allowed_at,
    next_allowed_time,
    next_allowed_time_all,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
FRANCE = QuietHours(
    start=time(20), end=time(8), closed_days=frozenset({Weekday.sun}), closed_on_holidays=True
)
FR_HOLIDAYS = frozenset({date(2026, 5, 1), date(2026, 5, 8), date(2026, 12, 25)})
US = QuietHours(start=time(21), end=time(8))
NO_HOLIDAYS: frozenset[date] = frozenset()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "window", "tz", "expected"),
    [
        # France, winter (UTC+1): Tuesday 10:00 local is allowed.
        (utc(2026, 1, 13, 9), FRANCE, PARIS, None),
        # 19:59 allowed, 20:00 quiet until 08:00 next day (07:00 UTC).
        (utc(2026, 1, 13, 18, 59), FRANCE, PARIS, None),
        (utc(2026, 1, 13, 19, 0), FRANCE, PARIS, utc(2026, 1, 14, 7)),
        # Just after midnight local (23:30 UTC): still quiet until 08:00.
        (utc(2026, 1, 13, 23, 30), FRANCE, PARIS, utc(2026, 1, 14, 7)),
        # Saturday 21:00 local: Sunday closed, so Monday 08:00.
        (utc(2026, 1, 17, 20), FRANCE, PARIS, utc(2026, 1, 19, 7)),
        # A holiday (Friday 1 May 2026, summer time UTC+2): Saturday 08:00 local.
        (utc(2026, 5, 1, 10), FRANCE, PARIS, utc(2026, 5, 2, 6)),
        # Thursday 7 May 21:00 local: Friday 8 May is a holiday, so Saturday 9 May 08:00.
        (utc(2026, 5, 7, 19), FRANCE, PARIS, utc(2026, 5, 9, 6)),
        # Paris spring forward, Sunday 2026-03-29 (02:00 -> 03:00): Saturday 23:00 local.
        (utc(2026, 3, 28, 22), FRANCE, PARIS, utc(2026, 3, 30, 6)),
        # Paris fall back, Sunday 2026-10-25 (03:00 -> 02:00): Monday opens at 08:00 CET.
        (utc(2026, 10, 24, 20), FRANCE, PARIS, utc(2026, 10, 26, 7)),
        # New York spring forward, Sunday 2026-03-08: 22:00 EST Saturday -> 08:00 EDT Sunday.
        (utc(2026, 3, 8, 3), US, NEW_YORK, utc(2026, 3, 8, 12)),
        # New York fall back, Sunday 2026-11-01: 01:30 EDT (first pass) -> 08:00 EST.
        (utc(2026, 11, 1, 5, 30), US, NEW_YORK, utc(2026, 11, 1, 13)),
        # ... and 01:30 EST (second pass) -> the same 08:00 EST.
        (utc(2026, 11, 1, 6, 30), US, NEW_YORK, utc(2026, 11, 1, 13)),
    ],
)
def test_next_allowed_time_table(
    now: datetime, window: QuietHours, tz: ZoneInfo, expected: datetime | None
) -> None:
    assert next_allowed_time(now, tz, window, FR_HOLIDAYS) == expected


def test_window_ending_inside_spring_forward_gap_opens_at_the_transition() -> None:
    """Quiet until 02:30 on 2026-03-29 in Paris: 02:30 never happens, 03:00 CEST (01:00Z) is it."""
    window = QuietHours(start=time(22), end=time(2, 30))
    got = next_allowed_time(utc(2026, 3, 28, 23), PARIS, window, NO_HOLIDAYS)
    assert got == utc(2026, 3, 29, 1)
    assert got is not None
    assert got.astimezone(PARIS).time() == time(3, 0)


def test_window_ending_inside_fall_back_overlap_opens_at_first_occurrence() -> None:
    """Quiet until 02:30 on 2026-10-25 in Paris: the first 02:30 (CEST, 00:30Z) opens it."""
    window = QuietHours(start=time(22), end=time(2, 30))
    assert next_allowed_time(utc(2026, 10, 24, 21), PARIS, window, NO_HOLIDAYS) == utc(
        2026, 10, 25, 0, 30
    )


def test_second_pass_of_overlap_is_quiet_again_by_wall_clock() -> None:
    """At 02:10 CET (second 02:10, 01:10Z) the wall clock is back inside 22:00-02:30."""
    window = QuietHours(start=time(22), end=time(2, 30))
    assert next_allowed_time(utc(2026, 10, 25, 1, 10), PARIS, window, NO_HOLIDAYS) == utc(
        2026, 10, 25, 1, 30
    )


def test_midnight_that_does_not_exist_opens_at_the_transition() -> None:
    """Santiago skips 2026-09-06 00:00 (-> 01:00): a closed Saturday ends at 04:00Z."""
    window = QuietHours(start=time(0), end=time(0), closed_days=frozenset({Weekday.sat}))
    got = next_allowed_time(utc(2026, 9, 6, 1), SANTIAGO, window, NO_HOLIDAYS)
    assert got == utc(2026, 9, 6, 4)


def test_quiet_window_inside_one_day() -> None:
    """start < end: a lunch-break window 12:00-14:00 in New York (EST)."""
    window = QuietHours(start=time(12), end=time(14))
    assert next_allowed_time(utc(2026, 1, 13, 17, 30), NEW_YORK, window, NO_HOLIDAYS) == utc(
        2026, 1, 13, 19
    )
    assert next_allowed_time(utc(2026, 1, 13, 19), NEW_YORK, window, NO_HOLIDAYS) is None


def test_equal_start_and_end_means_only_closed_days_apply() -> None:
    window = QuietHours(start=time(9), end=time(9), closed_days=frozenset({Weekday.sun}))
    assert next_allowed_time(utc(2026, 1, 13, 3), PARIS, window, NO_HOLIDAYS) is None
    assert next_allowed_time(utc(2026, 1, 18, 12), PARIS, window, NO_HOLIDAYS) == utc(
        2026, 1, 18, 23
    )


def test_holidays_ignored_unless_closed_on_holidays() -> None:
    window = QuietHours(start=time(20), end=time(8))
    assert next_allowed_time(utc(2026, 5, 1, 10), PARIS, window, FR_HOLIDAYS) is None


def test_every_day_closed_is_unsatisfiable() -> None:
    window = QuietHours(start=time(0), end=time(0), closed_days=frozenset(Weekday))
    with pytest.raises(QuietHoursUnsatisfiableError):
        next_allowed_time(utc(2026, 1, 13, 12), PARIS, window, NO_HOLIDAYS)


def test_several_zones_allowed_only_when_allowed_in_all() -> None:
    """08:00 in New York is 05:00 in Los Angeles: wait for 08:00 Pacific."""
    constraints = [
        QuietConstraint(NEW_YORK, US),
        QuietConstraint(ZoneInfo("America/Los_Angeles"), US),
    ]
    assert next_allowed_time_all(utc(2026, 1, 13, 13), constraints) == utc(2026, 1, 13, 16)
    assert next_allowed_time_all(utc(2026, 1, 13, 18), constraints) is None


def test_zones_whose_windows_never_overlap_are_unsatisfiable() -> None:
    narrow = QuietHours(start=time(11), end=time(10))  # open 10:00-11:00 only
    constraints = [
        QuietConstraint(ZoneInfo("Asia/Tokyo"), narrow),
        QuietConstraint(ZoneInfo("Europe/London"), narrow),
    ]
    with pytest.raises(QuietHoursUnsatisfiableError):
        next_allowed_time_all(utc(2026, 1, 13, 12), constraints)


ZONES = st.sampled_from(
    [PARIS, NEW_YORK, SANTIAGO, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")]
)
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))
WINDOWS = st.builds(
    QuietHours,
    start=TIMES,
    end=TIMES,
    closed_days=st.frozensets(st.sampled_from(list(Weekday)), max_size=3),
)
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by API
    max_value=datetime(2027, 12, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=60, deadline=None)
@given(now=INSTANTS, tz=ZONES, window=WINDOWS)
def test_next_allowed_time_is_the_first_allowed_minute(
    now: datetime, tz: ZoneInfo, window: QuietHours
) -> None:
    """The answer is allowed, and no whole minute between now and it is allowed."""
    got = next_allowed_time(now, tz, window, NO_HOLIDAYS)
    if got is None:
        assert is_allowed_at(now, tz, window, NO_HOLIDAYS)
        return
    assert got > now
    assert got.tzinfo is UTC
    assert is_allowed_at(got, tz, window, NO_HOLIDAYS)
    probe = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while probe < got:
        assert not is_allowed_at(probe, tz, window, NO_HOLIDAYS), probe
        probe += timedelta(minutes=1)
