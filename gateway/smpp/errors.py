"""The SMPP core's exceptions: one root, local vs remote protocol errors (h11 `_util.py` split).

`LocalProtocolError` means *we* tried to do something SMPP forbids; the fix is in our code or
data. `RemoteProtocolError` means the *peer* sent something bad. Each remote error carries, as a
class attribute, the command_status to answer with (h2 `exceptions.py`), and, per instance, the
command_id and sequence_number of the offending PDU when its header could be read (0 otherwise:
SMPP 3.4 §4.3 allows sequence_number 0 in a generic_nack whose request header was unreadable).

Only `InvalidCommandLengthError` raised by `framing.PduBuffer` means framing is lost (nack and
close); every error `codec.decode_pdu` raises concerns one whole frame, and the session can go on.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.smpp.constants import CommandStatus


class SmppError(Exception):
    """Root of every error the SMPP core raises."""


class LocalProtocolError(SmppError):
    """We tried to send something SMPP forbids (a field over its maximum, a PDU out of state)."""


class SessionStateError(LocalProtocolError):
    """A PDU is not allowed in the session's current state (raised by the session)."""


class RemoteProtocolError(SmppError):
    """The peer sent something SMPP forbids; answer with `command_status`."""

    command_status: ClassVar[int] = CommandStatus.ESME_RUNKNOWNERR

    def __init__(self, message: str, *, command_id: int = 0, sequence_number: int = 0) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.sequence_number = sequence_number


class InvalidCommandLengthError(RemoteProtocolError):
    """command_length is below 16, above the cap, or too short for the PDU's mandatory fields."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVCMDLEN


class InvalidCommandIdError(RemoteProtocolError):
    """The command_id is not an SMPP 3.4 operation; the session can continue (§5.1.2.1)."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVCMDID


class InvalidMessageLengthError(RemoteProtocolError):
    """sm_length disagrees with the octets that follow it (§5.2.21)."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVMSGLEN


class InvalidParameterLengthError(RemoteProtocolError):
    """A C-octet string lacks its NUL or exceeds its maximum, or a standard TLV has a bad length."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVPARLEN


class InvalidOptionalParameterStreamError(RemoteProtocolError):
    """The TLV stream after the mandatory fields is truncated (§3.2.4, §5.3)."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVOPTPARSTREAM


class InvalidDestinationFlagError(RemoteProtocolError):
    """A submit_multi dest_flag is neither 1 (SME address) nor 2 (distribution list) (§4.5.1)."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVDESTFLAG


class InvalidNumberOfDestinationsError(RemoteProtocolError):
    """A submit_multi names no destination (number_of_dests 0; §4.5.1 needs at least one)."""

    command_status: ClassVar[int] = CommandStatus.ESME_RINVNUMDESTS
