"""Public holidays by calendar: the maintained `holidays` package (python-holidays), cached.

Owns the link between a country file's `holiday_calendar` (a code python-holidays knows: "FR",
or an overseas department such as "RE") and the dates quiet hours close on. Movable feasts
(lundi de Pâques, Ascension, lundi de Pentecôte: Easter + 1, 39 and 50 days) are computed for
any year, so a country file no longer carries a dated list that runs out. A territory that
follows a country's rules (`applies_to`) uses its own calendar when python-holidays has one,
e.g. Réunion's 20 December (abolition of slavery, décret 83-1003 of 23 November 1983).
"""

from __future__ import annotations

import functools
from datetime import date

import holidays


@functools.cache
def known_calendars() -> frozenset[str]:
    """The calendar codes python-holidays supports (ISO 3166-1 alpha-2 plus a few others)."""
    return frozenset(holidays.list_supported_countries())


def calendar_for(region: str, country: str, calendar: str | None) -> str | None:
    """The calendar for a destination `region` under the rule of `country`.

    Args:
        region: phonenumbers' region of the number ("RE" for +262 262...).
        country: the ISO code of the rule applied ("FR").
        calendar: that rule's `holiday_calendar`; None means no calendar.

    Returns:
        `region`'s own calendar when it is a territory of the rule with a calendar of its own,
        else `calendar`.
    """
    if calendar is not None and region != country and region in known_calendars():
        return region
    return calendar


class HolidayCalendars:
    """Holidays per (calendar, year), computed once each (one instance per policy)."""

    def __init__(self) -> None:
        """Starts with an empty cache."""
        self._years: dict[tuple[str, int], frozenset[date]] = {}

    def around(self, calendar: str, year: int) -> frozenset[date]:
        """Public holidays of `calendar` in `year` - 1 .. `year` + 1 (local dates).

        Three years cover a local date on the other side of New Year from UTC and the 31-day
        quiet-hours horizon.
        """
        key = (calendar, year)
        dates = self._years.get(key)
        if dates is None:
            table = holidays.country_holidays(calendar, years=range(year - 1, year + 2))
            dates = self._years[key] = frozenset(table)
        return dates
