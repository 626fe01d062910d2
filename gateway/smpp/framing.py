"""PDU framing: turn a TCP byte stream into whole SMPP frames (sans-IO, h2 `frame_buffer.py`).

`PduBuffer` owns the receive buffer. Feed it whatever the socket delivered (part of a PDU, many
PDUs, or both) and take whole frames out. command_length is checked against 16..max as soon as
its four octets arrive, before waiting for the body (SMPP 3.4 §3.2; domain.md §1.1): a bad
length means framing is lost, so the caller answers generic_nack ESME_RINVCMDLEN and closes.
The bad length stays at the head of the buffer, so every later call raises again.

The buffer is a bytearray read from an offset; consumed octets are dropped only when everything
has been read or the dead prefix is large, so taking n frames costs O(total octets), not O(n^2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

from gateway.smpp.constants import HEADER_LENGTH
from gateway.smpp.errors import InvalidCommandLengthError

__all__ = ["DEFAULT_MAX_COMMAND_LENGTH", "PduBuffer"]

# message_payload may carry up to 64 KiB (SMPP 3.4 §5.3.2.32), plus headroom for the rest.
DEFAULT_MAX_COMMAND_LENGTH: Final = 70_000

_COMPACT_AT: Final = 64 * 1024  # drop a consumed prefix once it is this large
_LENGTH: Final = struct.Struct(">I")
_HEADER: Final = struct.Struct(">IIII")


class PduBuffer:
    """Accumulates received octets and yields whole PDU frames, header included."""

    __slots__ = ("_buffer", "_max_command_length", "_offset")

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        if max_command_length < HEADER_LENGTH:
            raise ValueError(f"max_command_length must be >= {HEADER_LENGTH}")
        self._max_command_length = max_command_length
        self._buffer = bytearray()
        self._offset = 0

    def __repr__(self) -> str:
        return f"<PduBuffer buffered={len(self)} max_command_length={self._max_command_length}>"

    def __len__(self) -> int:
        """Octets received but not yet returned as frames."""
        return len(self._buffer) - self._offset

    def feed(self, data: bytes) -> None:
        """Append octets received from the peer."""
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """Return the next whole frame, or None until more data arrives.

        Raises:
            InvalidCommandLengthError: command_length is below 16 or above the maximum. The
                error carries command_id and sequence_number when the header had arrived.
        """
        buffer = self._buffer
        offset = self._offset
        available = len(buffer) - offset
        if available < 4:  # not even command_length yet
            return None
        (length,) = _LENGTH.unpack_from(buffer, offset)
        if not HEADER_LENGTH <= length <= self._max_command_length:
            raise self._framing_lost(length)
        if available < length:
            return None
        end = offset + length
        frame = bytes(buffer[offset:end])
        if end == len(buffer):
            buffer.clear()
            end = 0
        elif end >= _COMPACT_AT:
            del buffer[:end]
            end = 0
        self._offset = end
        return frame

    def __iter__(self) -> Iterator[bytes]:
        """Yield every whole frame buffered so far."""
        while (frame := self.next_frame()) is not None:
            yield frame

    def _framing_lost(self, length: int) -> InvalidCommandLengthError:
        command_id = sequence_number = 0
        if len(self) >= HEADER_LENGTH:
            _, command_id, _, sequence_number = _HEADER.unpack_from(self._buffer, self._offset)
        return InvalidCommandLengthError(
            f"command_length {length} is outside {HEADER_LENGTH}..{self._max_command_length}",
            command_id=command_id,
            sequence_number=sequence_number,
        )
