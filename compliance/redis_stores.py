"""Redis-backed compliance store: opt-outs, conversion suppression and frequency caps.

The only module of the compliance package that imports redis. An evaluation runs
`CHECK_SCRIPT` (opt-out, then suppression, then caps with check-and-record) atomically, so caps
hold across gateway instances. The evaluations asked for during one loop iteration (hundreds of
workers evaluate at once) go to Redis together, as one EVALSHA that runs them in the order they
were asked (a group commit, as gateway/store/state_store.py's StateWriter does for message state):
redis-py's per-call cost, not Redis, was most of an evaluation's CPU. That call names the keys
of several recipients, so on one Redis it is one call. On Redis Cluster (the client is a
`redis.asyncio.cluster.RedisCluster`) one script may touch only one slot, and a recipient's
keys share the `{<msisdn>}` hash tag: the batch is split by slot into one call per slot, run
concurrently, and the answers are put back in the order asked. Each evaluation stays atomic
and one recipient's evaluations still run in the order asked (they share a slot); evaluations
of recipients in different slots share no key, so their relative order is not observable.
When one of those calls fails, the others may still have run (caps recorded), as when a single
call's reply is lost to a timeout after the script ran.
Key layout: redis_keys.py. Redis connection, timeout and cluster-unavailable errors become
`ComplianceStoreError` at this boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from common.group_commit import GroupCommit
from common.json_text import compact
from common.redis_errors import REDIS_UNAVAILABLE
from compliance.errors import ComplianceStoreError
from compliance.frequency_cap import CapCheck, CapRule
from compliance.redis_keys import ComplianceKeys
from compliance.store import RecipientQuery, RecipientState, from_ms, to_ms
from compliance.verdict import Category, OptOutScope

# The check script (CHECK_SCRIPT, public for gateway/engine/admission.py, which runs it inside
# its own). KEYS: per evaluation, its opt-out hash, suppression deadline and cap zset (3 keys each).
# ARGV[1]: a JSON array with one array of strings per evaluation, in order: now_ms, sender,
#   category, check_opt_out, check_suppression, run_caps, consume, member, then per cap:
#   limit, window_ms, categories (",a,b," or "" for every category).
# Returns, per evaluation, 4 integers: opt_out (0 none, 1 global, 2 sender),
#   suppressed_until_ms, exceeded cap (-1), retry_ms.
CHECK_SCRIPT = """
local function applies(cats, cat)  -- a cap's categories (",a,b,", "" for all) cover `cat`
  return cats == '' or string.find(cats, ',' .. cat .. ',', 1, true) ~= nil
end
local function check(optout, suppress, caps_key, a)
  local now = tonumber(a[1])
  if a[4] == '1' then
    local found = redis.call('HMGET', optout, '*', a[2], '+' .. a[2])
    if found[2] then return {2, 0, -1, 0} end
    if found[1] and not found[3] then return {1, 0, -1, 0} end
  end
  if a[5] == '1' then
    local deadline = tonumber(redis.call('GET', suppress) or '0')
    if deadline > now then return {0, deadline, -1, 0} end
  end
  if a[6] ~= '1' or #a < 9 then return {0, 0, -1, 0} end
  local category = a[3]
  local longest, longest_word = 0, '0'  -- the word for redis.call, spelt as sent
  for i = 10, #a, 3 do
    local window = tonumber(a[i])
    if window > longest then longest, longest_word = window, a[i] end
  end
  -- sends older than the longest window count for no cap: trimmed, but only when there are
  -- some (the oldest comes first), which spares a call for nearly every recipient
  local entries = redis.call('ZRANGE', caps_key, 0, -1, 'WITHSCORES')
  if #entries > 0 and tonumber(entries[2]) <= now - longest then
    redis.call('ZREMRANGEBYSCORE', caps_key, '-inf', now - longest)
    entries = redis.call('ZRANGE', caps_key, 0, -1, 'WITHSCORES')
  end
  local member = category .. ':' .. a[8]
  local exceeded = -1
  local retry = 0
  for i = 9, #a, 3 do  -- per cap: limit, window, categories
    local cats = a[i + 2]
    if applies(cats, category) then
      local limit, window = tonumber(a[i]), tonumber(a[i + 1])
      local times = {}
      for j = 1, #entries, 2 do
        local at = tonumber(entries[j + 1])
        if entries[j] ~= member and at > now - window then
          if applies(cats, string.match(entries[j], '^([^:]*):') or '') then
            times[#times + 1] = at
          end
        end
      end
      if #times >= limit then
        if exceeded < 0 then exceeded = (i - 9) / 3 end
        local freed = times[#times - limit + 1] + window
        if freed > retry then retry = freed end
      end
    end
  end
  if exceeded < 0 and a[7] == '1' then
    -- a[1] and longest_word as sent: redis.call spells a Lua number with printf's %.17g
    redis.call('ZADD', caps_key, 'NX', a[1], member)
    redis.call('PEXPIRE', caps_key, longest_word)
  end
  return {0, 0, exceeded, retry}
end
local queries = cjson.decode(ARGV[1])
local out = {}
for q = 1, #queries do
  local r = check(KEYS[3 * q - 2], KEYS[3 * q - 1], KEYS[3 * q], queries[q])
  for j = 1, 4 do out[#out + 1] = r[j] end
end
return out
"""

# KEYS: opt-out hash. ARGV: op ('add' | 'remove'), sender ('' = global), now_ms.
_OPT_OUT_SCRIPT = """
local sender = ARGV[2]
if ARGV[1] == 'add' then
  if sender == '' then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], '*', ARGV[3])
  else
    redis.call('HSET', KEYS[1], sender, ARGV[3])
    redis.call('HDEL', KEYS[1], '+' .. sender)
  end
elseif sender == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], sender)
  if redis.call('HEXISTS', KEYS[1], '*') == 1 then
    redis.call('HSET', KEYS[1], '+' .. sender, ARGV[3])
  end
end
return 1
"""

# KEYS: suppression key. ARGV: until_ms, now_ms. Keeps the later deadline.
_SUPPRESS_SCRIPT = """
local until_ms = tonumber(ARGV[1])
if until_ms <= tonumber(ARGV[2]) then return 0 end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
  return 1
end
return 0
"""

_SCOPE_BY_CODE = {1: OptOutScope.global_, 2: OptOutScope.sender}


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Translate redis connection / timeout / response errors into ComplianceStoreError."""
    try:
        yield
    except REDIS_UNAVAILABLE as exc:  # a server or a cluster slot is down or unreachable
        raise ComplianceStoreError(f"compliance store unavailable: {exc}") from exc
    except (redis_errors.ResponseError, redis_errors.RedisClusterException) as exc:
        raise ComplianceStoreError(f"compliance store refused a command: {exc}") from exc


class RedisComplianceStore:
    """`ComplianceStore` on Redis: one Lua round trip per loop iteration's evaluations."""

    def __init__(self, client: aioredis.Redis | RedisCluster, keys: ComplianceKeys) -> None:
        """Args: a redis.asyncio client, single or cluster (bytes or str replies), and the key
        builder."""
        self._client = client
        self._keys = keys
        self._cluster = isinstance(client, RedisCluster)  # one script call per slot
        self._check = client.register_script(CHECK_SCRIPT)
        self._opt_out = client.register_script(_OPT_OUT_SCRIPT)
        self._suppress = client.register_script(_SUPPRESS_SCRIPT)
        self._group: GroupCommit[RecipientQuery, tuple[int, ...]] = GroupCommit(self._check_all)

    @property
    def keys(self) -> ComplianceKeys:
        """The key builder (its prefix: a shard's on a sharded deployment)."""
        return self._keys

    async def check_recipient(self, query: RecipientQuery) -> RecipientState:
        """Opt-out, suppression, then caps (check-and-record), atomically in one script.

        Evaluations asked for in the same loop iteration run in one script call, in the order
        they were asked; each is atomic, as if it had its own call.
        """
        return recipient_state(await self._group.submit(query))

    async def check_recipients(self, queries: Sequence[RecipientQuery]) -> list[RecipientState]:
        """`check_recipient` for a batch the caller gathered itself: one script call (on a
        cluster, one per slot), run in order, each query atomic."""
        if not queries:
            return []
        return [recipient_state(answer) for answer in await self._check_all(list(queries))]

    async def _check_all(self, queries: list[RecipientQuery]) -> list[tuple[int, ...]]:
        if self._cluster:
            return await self._check_by_slot(queries)
        return await self._check_in_one_call(queries)

    async def _check_in_one_call(self, queries: list[RecipientQuery]) -> list[tuple[int, ...]]:
        keys, args = self.check_call(queries)
        with map_redis_errors():
            reply = await self._check(keys=keys, args=[args])
        return check_answers(reply, len(queries))

    async def _check_by_slot(self, queries: list[RecipientQuery]) -> list[tuple[int, ...]]:
        """One script call per cluster slot, concurrently; answers in the order asked.

        Raises:
            ComplianceStoreError: a call failed (the first failure; every call has finished).
        """
        positions = slot_groups(self._keys.opt_out(query.msisdn) for query in queries)
        replies = await asyncio.gather(
            *(self._check_in_one_call([queries[i] for i in group]) for group in positions),
            return_exceptions=True,
        )
        answers: list[tuple[int, ...]] = [()] * len(queries)
        for group, reply in zip(positions, replies, strict=True):
            if isinstance(reply, BaseException):
                raise reply
            for position, answer in zip(group, reply, strict=True):
                answers[position] = answer
        return answers

    def check_call(self, queries: Sequence[RecipientQuery]) -> tuple[list[str], str]:
        """The KEYS and the one ARGV of `CHECK_SCRIPT` for `queries`, for a caller that runs
        the script inside a larger one (gateway/engine/admission.py)."""
        keys: list[str] = []
        for query in queries:
            keys += self._recipient_keys(query.msisdn)
        # the queries of a call nearly always share one caps sequence (the policy's): spelt
        # once, keyed by identity (each is alive in `queries` for as long as this dict)
        spelt_caps: dict[int, list[str]] = {}
        return keys, compact([_query_args(query, spelt_caps) for query in queries])

    async def check_and_record(
        self,
        msisdn: str,
        category: Category,
        member: str,
        caps: Sequence[CapRule],
        now: datetime,
        *,
        consume: bool,
    ) -> CapCheck:
        """Caps only (no opt-out or suppression check), atomically."""
        query = RecipientQuery(
            msisdn=msisdn,
            sender="",
            category=category,
            now=now,
            check_opt_out=False,
            check_suppression=False,
            run_caps=True,
            consume=consume,
            member=member,
            caps=caps,
        )
        return (await self.check_recipient(query)).caps

    async def add_opt_out(self, msisdn: str, sender: str | None, now: datetime) -> None:
        """Record an opt-out (global when `sender` is None: clears per-sender entries)."""
        await self._run_opt_out("add", msisdn, sender, now)

    async def remove_opt_out(self, msisdn: str, sender: str | None) -> None:
        """Opt back in to one sender, or (None) remove every opt-out of the recipient."""
        await self._run_opt_out("remove", msisdn, sender, datetime.now(UTC))

    async def opted_out(self, msisdn: str, sender: str) -> OptOutScope | None:
        """Whether `sender` may not message `msisdn`, and by which kind of opt-out."""
        with map_redis_errors():
            found = await self._client.hmget(
                self._keys.opt_out(msisdn), ["*", sender, f"+{sender}"]
            )
        if found[1] is not None:
            return OptOutScope.sender
        if found[0] is not None and found[2] is None:
            return OptOutScope.global_
        return None

    async def suppress(self, msisdn: str, until: datetime) -> None:
        """Suppress marketing until `until`; a later existing deadline wins."""
        args = [to_ms(until), to_ms(datetime.now(UTC))]
        with map_redis_errors():
            await self._suppress(keys=[self._keys.suppression(msisdn)], args=args)

    async def suppressed_until(self, msisdn: str, now: datetime) -> datetime | None:
        """The suppression deadline when still in force at `now`."""
        with map_redis_errors():
            raw = await self._client.get(self._keys.suppression(msisdn))
        if raw is None:
            return None
        deadline = int(raw)
        return from_ms(deadline) if deadline > to_ms(now) else None

    def _recipient_keys(self, msisdn: str) -> list[str]:
        keys = self._keys
        return [keys.opt_out(msisdn), keys.suppression(msisdn), keys.caps(msisdn)]

    async def _run_opt_out(self, op: str, msisdn: str, sender: str | None, now: datetime) -> None:
        args: list[str | int] = [op, sender or "", to_ms(now)]
        with map_redis_errors():
            await self._opt_out(keys=[self._keys.opt_out(msisdn)], args=args)


def slot_groups(keys: Iterable[str]) -> list[list[int]]:
    """The positions of `keys`, grouped by Redis Cluster slot (groups and positions in the
    order first seen)."""
    groups: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key_slot(key.encode()), []).append(position)
    return list(groups.values())


def check_answers(reply: object, count: int) -> list[tuple[int, ...]]:
    """`CHECK_SCRIPT`'s reply for `count` queries: 4 integers each.

    Raises:
        ComplianceStoreError: a reply of another shape.
    """
    if not isinstance(reply, list) or len(reply) != 4 * count:
        raise ComplianceStoreError(f"unexpected compliance script reply {reply!r}")
    values = [int(x) for x in reply]
    return [tuple(values[i : i + 4]) for i in range(0, len(values), 4)]


def recipient_state(answer: tuple[int, ...]) -> RecipientState:
    """One query's answer (4 integers of `CHECK_SCRIPT`) as the policy reads it."""
    opt_out, suppressed, exceeded, retry = answer
    return RecipientState(
        opted_out=_SCOPE_BY_CODE.get(opt_out),
        suppressed_until=from_ms(suppressed) if suppressed else None,
        caps=CapCheck(None if exceeded < 0 else exceeded, retry),
    )


def _query_args(query: RecipientQuery, spelt_caps: dict[int, list[str]]) -> list[str]:
    """One evaluation's part of the script's argument, as strings (the script compares '1');
    its caps' words are taken from `spelt_caps` (by the identity of `query.caps`), or spelt
    and kept there."""
    caps = spelt_caps.get(id(query.caps))
    if caps is None:
        caps = spelt_caps[id(query.caps)] = _cap_args(query.caps)
    return [
        str(to_ms(query.now)),
        query.sender,
        query.category.value,
        "1" if query.check_opt_out else "0",
        "1" if query.check_suppression else "0",
        "1" if query.run_caps else "0",
        "1" if query.consume else "0",
        query.member,
        *caps,
    ]


def _cap_args(caps: Sequence[CapRule]) -> list[str]:
    """Per cap: its limit, its window in ms and its categories (",a,b,", "" for every one)."""
    args: list[str] = []
    for cap in caps:
        categories = "".join(f",{c.value}" for c in sorted(cap.categories))
        args += [
            str(cap.limit),
            str(cap.window_seconds * 1000),
            f"{categories}," if categories else "",
        ]
    return args
