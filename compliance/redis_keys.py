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

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ComplianceKeys:
    """Key builder; `prefix` comes from compliance.yaml `redis_prefix` (default "smsgw:")."""

    prefix: str = "smsgw:"

    def opt_out(self, msisdn: str) -> str:
        """The recipient's opt-out hash."""
        return f"{self.prefix}optout:{{{msisdn}}}"

    def suppression(self, msisdn: str) -> str:
        """The recipient's conversion-suppression deadline."""
        return f"{self.prefix}suppress:{{{msisdn}}}"

    def caps(self, msisdn: str) -> str:
        """The recipient's send history for frequency caps."""
        return f"{self.prefix}caps:{{{msisdn}}}"
