"""Errors raised by the compliance package: configuration, stores, impossible schedules.

Expected outcomes (a rejected number, an opted-out recipient, a quiet-hours deferral) are never
errors: they are `Verdict` values (see verdict.py). These classes are for things a caller must
fix or retry: bad YAML, an unreachable store, a quiet-hours window that never opens.
"""

from __future__ import annotations


class ComplianceError(Exception):
    """Root of every error the compliance package raises."""


class ComplianceConfigError(ComplianceError):
    """A compliance or country YAML file is malformed; the message names the file and key path."""


class ComplianceStoreError(ComplianceError):
    """The opt-out / cap / suppression store could not be reached or answered nonsense."""


class QuietHoursUnsatisfiableError(ComplianceError):
    """The quiet-hours constraints leave no allowed instant within the search horizon."""
