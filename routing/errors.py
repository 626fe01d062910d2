"""Errors of the routing package: route selection, retry-policy configuration and throttling.

Expected outcomes (a carrier's non-zero command_status) are values, classified in
`routing.retry`; these exceptions are for situations the caller has to handle differently:
nowhere to send a message, a bad policy in the config file, or the shared throttle being
unreachable.
"""

from __future__ import annotations

from typing import ClassVar, Literal


class RoutingError(Exception):
    """Root of every error raised by the routing package (also bad routing/retry config)."""


class NoRouteError(RoutingError):
    """Nothing is left to try for a message; `reason` says which of the two cases it is.

    Catch `NoRouteError` to handle both; the subclasses let a caller tell a configuration gap
    ("no_route": no route matches and there is no default) from an outage or exhaustion
    ("no_carrier": a route matched, but every carrier on it is down or already failed).
    """

    reason: ClassVar[Literal["no_route", "no_carrier"]] = "no_route"


class NoMatchingRouteError(NoRouteError):
    """No route matches the destination and the table has no default route."""

    reason: ClassVar[Literal["no_route", "no_carrier"]] = "no_route"


class NoCarrierAvailableError(NoRouteError):
    """A route matched, but none of its carriers is available and not already excluded."""

    reason: ClassVar[Literal["no_route", "no_carrier"]] = "no_carrier"


class ThrottleUnavailableError(RoutingError):
    """The shared (Redis) token bucket could not be reached or timed out."""
