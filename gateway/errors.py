"""Errors raised by the gateway's I/O layer: binds, the queue, configuration.

Protocol errors proper live in gateway/smpp/errors.py; these are what a caller of a bind or the
queue sees. Third-party exceptions (OSError, redis errors) are translated at the boundary.
`ConfigError` lives in `common.errors` (the simulator raises it too) and is re-exported here.
"""

from __future__ import annotations

from common.errors import ConfigError
from gateway.smpp.errors import SmppError

__all__ = [
    "BindConnectError",
    "BindError",
    "BindRefusedError",
    "ConfigError",
    "ConnectionLostError",
    "NotBoundError",
    "OutcomeUnknownError",
    "QueueError",
    "QueueUnavailableError",
    "ResponseTimeoutError",
]


class BindError(SmppError):
    """Root of the errors a carrier bind raises to its callers."""


class BindConnectError(BindError):
    """The TCP (or TLS) connection to the carrier could not be made."""


class BindRefusedError(BindError):
    """The carrier refused our bind; `command_status` says why (e.g. ESME_RINVPASWD)."""

    def __init__(self, message: str, *, command_status: int) -> None:
        super().__init__(message)
        self.command_status = command_status


class NotBoundError(BindError):
    """The bind is not bound (yet, or any more); nothing was sent."""


class OutcomeUnknownError(BindError):
    """A request was sent but its response never came: the carrier may or may not have it.

    Retryable by policy only: resending risks a duplicate (see README, "outcome unknown").
    """


class ResponseTimeoutError(OutcomeUnknownError):
    """No response within the response timeout."""


class ConnectionLostError(OutcomeUnknownError):
    """The connection dropped while the request was outstanding."""


class QueueError(Exception):
    """Root of queue (Redis) errors."""


class QueueUnavailableError(QueueError):
    """Redis could not be reached or timed out."""
