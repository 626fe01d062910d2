"""The simulator's errors: one root, plus the few conditions its callers must tell apart.

Configuration problems raise `common.errors.ConfigError` (shared with the gateway's loader,
so every config error names its key path the same way); protocol problems stay inside the
sans-IO session, which answers them on the wire.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of the errors the simulator raises to its callers."""


class NoReceiverError(SimulatorError):
    """An MO message was injected but no receiver or transceiver of that system_id is bound."""


class ControlRequestError(SimulatorError):
    """A control-endpoint request was malformed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
