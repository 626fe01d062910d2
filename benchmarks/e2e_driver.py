"""The end-to-end benchmark's upstream app: the messages, their XADDs, and the events tail.

Each message goes to the outbound stream its `to` picks (one stream, or its recipient's
shard's: gateway/store/shards.py), and the tail follows one events stream or each shard's.
On Redis Cluster the shards' streams are in different slots, so the producer pipelines
through redis-py's cluster pipeline (which groups the XADDs by node) and the tail reads each
events stream with its own XREAD, as README "Scaling out" tells an app to. Used by
benchmarks/e2e.py and benchmarks/e2e_cluster.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.json_text import parse

OUTBOUND = "smsgw:outbound"
EVENTS = "smsgw:events"
FINAL_OTHER = {"undelivered", "expired", "failed", "rejected", "suppressed"}
CHUNK = 1000
PACE_TICK = 0.001  # s, the shortest wait of the paced driver

SHORT_GSM = (
    "Your order {n} has shipped and will arrive tomorrow.",
    "Your verification code is {code}. It expires in 10 minutes.",
    "Reminder: your appointment is on {day} at {hh}:{mm}. Reply to change it.",
    "Payment of GBP {amount}.{pence} received, thank you. Ref {n}.",
)
UCS2 = (
    "Заказ {n} отправлен 🚚",
    "Ihre Bestellung {n} ist unterwegs 📦 Danke schön!",
    "您的订单 {n} 已发货 预计明天送达",
)
LONG_GSM = (
    "Dear customer, your parcel {n} is with our courier and will be delivered on {day} between "
    "{hh}:00 and {hh}:59. If you are not at home, the driver will leave a card with a link to "
    "rearrange delivery or choose a safe place. Track it any time in the app or on our website. "
    "Questions? Call us on 0800 000 000, lines open 8am to 8pm every day.",
    "Account notice {n}: we have updated our terms of service effective {day}. The changes "
    "cover how we handle refunds, how long we keep your data and how you can close your "
    "account. You do not need to do anything. Read the full terms at example.com/terms and "
    "contact us if you have any questions about these changes. Thank you for being with us, "
    "and see you soon in store.",
)

Outgoing = tuple[str, str, str]
"""One message to enqueue: (id, outbound stream, JSON)."""


def make_traffic(
    rng: random.Random,
    count: int,
    tag: str,
    base: int,
    stream_of: Callable[[str], str] | None = None,
) -> list[Outgoing]:
    """The fixed mix, each message to its own +44791xxxxxxx mobile, on the stream
    `stream_of(to)` picks (default: smsgw:outbound)."""
    result = []
    for n in range(count):
        pick = rng.random()
        templates = SHORT_GSM if pick < 0.8 else UCS2 if pick < 0.9 else LONG_GSM
        text = rng.choice(templates).format(
            n=n,
            code=rng.randrange(10**6),
            day=rng.choice(("Monday", "Friday")),
            hh=rng.randrange(8, 20),
            mm=f"{rng.randrange(60):02d}",
            amount=rng.randrange(1, 500),
            pence=f"{rng.randrange(100):02d}",
        )
        message = {
            "id": f"{tag}-{n}",
            "to": f"+44791{(base + n) % 10**7:07d}",
            "from": "Acme",
            "text": text,
            "category": "transactional",
        }
        stream = OUTBOUND if stream_of is None else stream_of(message["to"])
        result.append((message["id"], stream, json.dumps(message, ensure_ascii=False)))
    return result


def _entry_seconds(entry_id: bytes | str) -> float:
    """The ms timestamp Redis put in a stream entry id (`<ms>-<seq>`), in epoch seconds."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000


async def enqueue_bulk(client: Any, traffic: Sequence[Outgoing]) -> dict[str, float]:
    """XADD everything at once in pipelined chunks; returns id -> enqueue time."""
    times: dict[str, float] = {}
    for start in range(0, len(traffic), CHUNK):
        times.update(await _xadd(client, traffic[start : start + CHUNK]))
    return times


async def enqueue_paced(
    client: Any, traffic: Sequence[Outgoing], rate: float
) -> tuple[dict[str, float], float]:
    """XADD message i at start + i/rate (late ones go together); returns times and duration.

    Each wait is at least PACE_TICK: uvloop's timers have millisecond resolution, so a
    shorter sleep returns at once, and waiting out a sub-millisecond gap that way spun this
    driver at 35-70% of a core, CPU taken from the gateway it measures."""
    loop = asyncio.get_running_loop()
    times: dict[str, float] = {}
    started, sent = loop.time(), 0
    while sent < len(traffic):
        due = min(len(traffic), int((loop.time() - started) * rate) + 1)
        if due > sent:
            times.update(await _xadd(client, traffic[sent:due]))
            sent = due
        await asyncio.sleep(max(PACE_TICK, started + sent / rate - loop.time()))
    return times, loop.time() - started


async def _xadd(client: Any, batch: Sequence[Outgoing]) -> dict[str, float]:
    """`client` is a redis.asyncio Redis or RedisCluster (whose pipeline groups by node)."""
    if len(batch) == 1:  # a pipeline object costs more than the command (paced runs)
        message_id, stream, data = batch[0]
        return {message_id: _entry_seconds(await client.xadd(stream, {"data": data}))}
    pipe = client.pipeline(transaction=False)
    for _message_id, stream, data in batch:
        _ = pipe.xadd(stream, {"data": data})  # queued on the pipeline, sent by execute()
    entry_ids = await pipe.execute()
    return {mid: _entry_seconds(eid) for (mid, _, _), eid in zip(batch, entry_ids, strict=True)}


@dataclass(slots=True)
class EventTail:
    """Follows the events stream(s); keeps the first submitted/delivered time of every id and
    counts the events that repeat one (a second `submitted`, a second final event).

    `per_stream`: one XREAD per stream, all at once (Redis Cluster, where the shards' events
    streams are in different slots); else one XREAD naming every stream. `interval`: the
    least time between polls (0: poll again at once), which keeps a tail of many streams from
    spending CPU, the driver's and Redis's, on reads of a few events each; latencies are
    taken from the events' own `ts`, so it does not change them."""

    client: Any
    streams: tuple[str, ...] = (EVENTS,)
    per_stream: bool = False
    interval: float = 0.0
    last: dict[str, bytes | str] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    submitted: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    parts: int = 0
    other: dict[str, str] = field(default_factory=dict)
    deferred: int = 0
    pending: set[str] = field(default_factory=set)
    submitted_again: int = 0  # `submitted` events of an id that already had one
    final_again: int = 0  # final events of an id that already had one

    def __post_init__(self) -> None:
        self.last = dict.fromkeys(self.streams, "0-0")
        # XREAD replies as Redis sends them: redis-py's own reshaping (an entry's fields as a
        # dict, RESP3 to RESP2) cost the driver more CPU than reading the events did
        self.client.set_response_callback("XREAD", _as_sent)

    async def poll(self) -> None:
        started = time.monotonic()
        if self.per_stream:
            replies = await asyncio.gather(*(self._read([s]) for s in self.streams))
        else:
            replies = [await self._read(self.streams)]
        for reply in replies:
            for stream, entries in reply:
                for entry_id, fields in entries:
                    self.last[stream] = entry_id
                    self._record(parse(_data_field(fields)))
        if self.interval > 0:
            await asyncio.sleep(max(0.0, started + self.interval - time.monotonic()))

    async def _read(self, streams: Sequence[str]) -> list[tuple[str, Any]]:
        """(stream, entries) of one XREAD of `streams` (RESP2 list or RESP3 map reply); an
        entry is [id, [field, value, ...]]."""
        reply: Any = await self.client.xread(
            {s: self.last[s] for s in streams}, count=20_000, block=100
        )
        if isinstance(reply, dict):
            return [(_text(name), entries) for name, entries in reply.items() if entries]
        return [(_text(name), entries) for name, entries in reply or []]

    def _record(self, event: dict[str, Any]) -> None:
        mid, status = event["id"], event["status"]
        if status == "accepted" and mid not in self.accepted:
            self.accepted[mid] = datetime.fromisoformat(event["ts"]).timestamp()
        elif status == "submitted":
            if mid in self.submitted:
                self.submitted_again += 1
                return
            self.submitted[mid] = datetime.fromisoformat(event["ts"]).timestamp()
            self.parts += event.get("parts") or 1
        elif status == "delivered" or status in FINAL_OTHER:
            if mid in self.delivered or mid in self.other:
                self.final_again += 1
            elif status == "delivered":
                self.delivered[mid] = datetime.fromisoformat(event["ts"]).timestamp()
            else:
                self.other[mid] = status
            self.pending.discard(mid)
        elif status == "deferred":
            self.deferred += 1

    async def settle(
        self, ids: Sequence[str], within: float, gateways: Sequence[subprocess.Popen[bytes]]
    ) -> list[str]:
        """Poll until every id has a final event, `within` seconds pass or a gateway exits;
        returns the ids still without one."""
        self.pending.update(i for i in ids if i not in self.delivered and i not in self.other)
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() > deadline or any(g.poll() is not None for g in gateways):
                break
            await self.poll()
        missing = [i for i in ids if i in self.pending]
        self.pending.difference_update(missing)  # a later wait is not held up by them
        return missing

    async def wait_final(
        self, ids: Sequence[str], within: float, gateway: subprocess.Popen[bytes]
    ) -> None:
        """Poll until every id has a final event.

        Raises:
            RuntimeError: the deadline passed or the gateway exited.
        """
        missing = await self.settle(ids, within, [gateway])
        if missing:
            raise RuntimeError(
                f"{len(missing)} of {len(ids)} messages have no final event "
                f"(gateway exit code {gateway.poll()}, {self.deferred} deferred events)"
            )


def _as_sent(reply: Any, **_options: Any) -> Any:
    return reply


def _data_field(fields: Sequence[bytes]) -> bytes:
    """The `data` field of an event entry's [field, value, ...] (the gateway writes only it)."""
    if fields[0] == b"data":
        return fields[1]
    return fields[fields.index(b"data") + 1]


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
