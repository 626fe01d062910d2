"""Every Redis key the compliance layer uses, built in one place under a configurable prefix.

All of one recipient's keys share a hash tag (`{<msisdn>}`), so the single evaluation script
touches one cluster slot. Layout (documented for upstream apps writing with plain Redis; msisdn
is E.164 digits without '+', e.g. 33612345678):

- `<prefix>optout:{<msisdn>}`  HASH. Field `*`: opted out of every sender. Field `<sender>`
  (alphanumeric ID, or digits without '+'): opted out of that sender. Field `+<sender>`: opted
  back in to that sender despite `*`. Values: ms since the epoch when recorded (informational).
  Upstream opt-out of everything: `HSET smsgw:optout:{33612345678} * 1767225600000`.
- `<prefix>suppress:{<msisdn>}`  STRING: ms-since-epoch deadline of conversion suppression,
  with a matching PXAT expiry. Upstream: `SET smsgw:suppress:{336...} <ms> PXAT <ms>`.
- `<prefix>caps:{<msisdn>}`  ZSET of recorded sends: member `<category>:<message id>`, score
  ms since the epoch; trimmed to the longest cap window and expiring after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ComplianceKeys:
    """Key builder; `prefix` comes from the gateway's `key_prefix` (default "smsgw:").

    `prefix_for`, when given, is the prefix of a recipient's keys instead: with shards, that of
    the recipient's shard (`{smsgw:3}:`, gateway/store/shards.py), so its compliance keys share
    the slot of its messages' keys and one script can check and mark them together.
    """

    prefix: str = "smsgw:"
    prefix_for: Callable[[str], str] | None = None

    def _prefix(self, msisdn: str) -> str:
        return self.prefix if self.prefix_for is None else self.prefix_for(msisdn)

    def opt_out(self, msisdn: str) -> str:
        """The recipient's opt-out hash."""
        return f"{self._prefix(msisdn)}optout:{{{msisdn}}}"

    def suppression(self, msisdn: str) -> str:
        """The recipient's conversion-suppression deadline."""
        return f"{self._prefix(msisdn)}suppress:{{{msisdn}}}"

    def caps(self, msisdn: str) -> str:
        """The recipient's send history for frequency caps."""
        return f"{self._prefix(msisdn)}caps:{{{msisdn}}}"
