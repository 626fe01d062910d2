"""Frequency caps (pure rule): rolling windows per category and across categories."""

from __future__ import annotations

from compliance.frequency_cap import CapAction, CapCheck, CapEntry, CapRule, check_caps
from compliance.verdict import Category

M, T, OTP = Category.marketing, Category.transactional, Category.otp
HOUR = 3_600_000
WEEKLY_MARKETING = CapRule(
    name="weekly", limit=3, window_seconds=7 * 24 * 3600, categories=frozenset({M})
)
HOURLY_ALL = CapRule(name="hourly", limit=2, window_seconds=3600, on_exceed=CapAction.defer)
NOW = 1_800_000_000_000


def entries(*items: tuple[Category, int]) -> list[CapEntry]:
    return [CapEntry(f"m{i}", cat, at) for i, (cat, at) in enumerate(items)]


def test_within_caps() -> None:
    history = entries((M, NOW - 2 * HOUR), (M, NOW - 3 * HOUR))
    assert check_caps(history, M, "new", [WEEKLY_MARKETING], NOW) == CapCheck(None, 0)


def test_category_cap_reached_frees_up_when_oldest_counted_expires() -> None:
    history = entries((M, NOW - 5 * HOUR), (M, NOW - 4 * HOUR), (M, NOW - 3 * HOUR))
    got = check_caps(history, M, "new", [WEEKLY_MARKETING], NOW)
    assert got.exceeded == 0
    assert got.retry_at_ms == NOW - 5 * HOUR + 7 * 24 * HOUR


def test_other_categories_do_not_count_towards_a_category_cap() -> None:
    history = entries((T, NOW - HOUR), (OTP, NOW - HOUR), (T, NOW - HOUR))
    assert check_caps(history, M, "new", [WEEKLY_MARKETING], NOW).exceeded is None


def test_category_cap_does_not_limit_other_categories() -> None:
    history = entries((M, NOW - 3), (M, NOW - 2), (M, NOW - 1))
    assert check_caps(history, T, "new", [WEEKLY_MARKETING], NOW).exceeded is None


def test_global_cap_counts_every_category() -> None:
    history = entries((T, NOW - 1000), (OTP, NOW - 500))
    got = check_caps(history, M, "new", [WEEKLY_MARKETING, HOURLY_ALL], NOW)
    assert got == CapCheck(1, NOW - 1000 + HOUR)


def test_entries_outside_the_window_do_not_count() -> None:
    history = entries((T, NOW - HOUR), (OTP, NOW - HOUR - 1))
    assert check_caps(history, M, "new", [HOURLY_ALL], NOW).exceeded is None


def test_the_message_itself_is_not_counted_twice() -> None:
    history = entries((T, NOW - 10), (OTP, NOW - 5))
    assert check_caps(history, T, "m0", [HOURLY_ALL], NOW).exceeded is None
