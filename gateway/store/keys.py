"""Every Redis key the gateway uses, under the configured prefix (default smsgw:): the map and
a builder. The compliance layer's keys (opt-outs, suppression, caps: `{p}optout:{<msisdn>}`,
`{p}suppress:{<msisdn>}`, `{p}caps:{<msisdn>}`) are mapped and built in compliance/redis_keys.py,
the one place for those; the two tables together list every key smsgw writes.

The table is the map of all keys. The Lua scripts (gateway/store/lua/) receive the prefix and build
the per-message keys themselves, and are the only code that touches the receipt indexes (cid,
early, earlydest). `Keys` builds the ones Python reads or writes, plus the destination indexes
(unknown, inflight) that tests inspect to check the scripts' bookkeeping.

| key | type | what |
|---|---|---|
| `<outbound stream>` | stream | messages in (`XADD smsgw:outbound * data <json>`) |
| `<events stream>` | stream | one entry per state change (`data` = json) |
| `<inbound stream>` | stream | MO messages (`data` = json) |
| `<signals stream>` | stream | upstream signals such as conversions |
| `{p}msg:<id>` | hash | current state, payload, counters; `kept` = when it and its history expire |
| `{p}msg:<id>:history` | list | the message's events, oldest first |
| `{p}cid:<carrier>:<carrier msg id>` | string | `<id>\\t<part>`, receipt matching (TTL) |
| `{p}early:<carrier>:<carrier msg id>` | string | a receipt that beat its submit_sm_resp |
| `{p}deferred` | sorted set | message ids by due time (send_at, quiet hours, retries) |
| `{p}receipt_due` | sorted set | `submitted` message ids by when they stop waiting for a receipt |
| `{p}orphans` | sorted set | with shards, parked receipts by when to try them in the other shards |
| `{p}unknown:<carrier>:<msisdn>` | set | messages whose submit outcome is unknown, by destination |
| `{p}inflight:<msisdn>` | set | messages marked in flight to a destination, awaiting a response |
| `{p}earlydest:<carrier>:<msisdn>` | list | final receipts kept for the one submit in flight |
| `{{p}throttle:<carrier>}` | hash | the carrier's shared token bucket (routing/throttle.py) |
| `{{p}throttle:<carrier>}:window` | sorted set | its grants of the last second |
| `{p}throttle:<carrier>` (+ `:window`) | hash | on a cluster, a shard's own share of that bucket |

The bucket's key is its own hash tag (the braces are literal: `{smsgw:throttle:acme}`), so its
two keys share one Redis Cluster slot and its script never fails with CROSSSLOT. On Redis
Cluster each shard also has a bucket of each paced carrier under its own tag
(`{smsgw:3}:throttle:acme`), which its admit call grants from (gateway/carrier/pool.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import StreamsConfig


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder; streams come from config, everything else from the prefix."""

    prefix: str
    streams: StreamsConfig

    @property
    def outbound(self) -> str:
        return self.streams.outbound

    @property
    def events(self) -> str:
        return self.streams.events

    @property
    def inbound(self) -> str:
        return self.streams.inbound

    @property
    def signals(self) -> str:
        return self.streams.signals

    @property
    def deferred(self) -> str:
        return f"{self.prefix}deferred"

    @property
    def receipt_due(self) -> str:
        return f"{self.prefix}receipt_due"

    @property
    def orphans(self) -> str:
        return f"{self.prefix}orphans"

    def message(self, message_id: str) -> str:
        return f"{self.prefix}msg:{message_id}"

    def history(self, message_id: str) -> str:
        return f"{self.prefix}msg:{message_id}:history"

    def unknown_outcome(self, carrier: str, msisdn: str) -> str:
        return f"{self.prefix}unknown:{carrier}:{msisdn}"

    def inflight(self, msisdn: str) -> str:
        return f"{self.prefix}inflight:{msisdn}"

    def throttle(self, carrier: str) -> str:
        """The carrier's token bucket, a hash tag of its own (`key + ":window"` shares its slot)."""
        return f"{{{self.prefix}throttle:{carrier}}}"

    def shard_throttle(self, carrier: str) -> str:
        """On Redis Cluster, the shard's own token bucket of the carrier, under the shard's
        hash tag (`prefix`) like the rest of its keys (gateway/carrier/pool.py)."""
        return f"{self.prefix}throttle:{carrier}"
