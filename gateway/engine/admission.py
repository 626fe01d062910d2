"""Admit a tick in one Redis call: shared-state checks, the carriers' rate, the in-flight mark.

Without it a tick makes three calls one after another before its first submit: the
compliance check (opt-out, suppression, caps), a grant of each carrier's rate, and the
in-flight mark. `Admission` runs the three scripts that do them inside one script
(`ADMIT_SCRIPT`, composed from their unchanged text), so for the common tick all of it is one
round trip:

1. the compliance check of every message (CHECK_SCRIPT of compliance/redis_stores.py: each
   message atomic and in order, caps consumed for the messages it lets through);
2. per carrier, the parts of the messages whose shared state is clean (not opted out, not
   suppressed, no cap exceeded), up to the carrier's grant size, asked of the carrier's
   token bucket (BUCKET_SCRIPT of routing/throttle.py), which grants what it has if that
   covers the first of them; a carrier nothing paces needs no grant;
3. the in-flight mark (apply.lua's `inflight`) of each message so granted (in the tick's
   order, while the grant covers its parts), before its first byte goes out. Tokens a grant
   left over (a message too long for the rest, a shorter one after it) are not given back.

A message the call did not mark (its carrier paced by an adaptive episode or by callers
already waiting for the bucket, a grant refused or too short for it, a chunk beyond the
grant size) takes the pipeline's usual way: a grant, a mark, then its submit. Which
messages pass is decided in Python afterwards, from the same answers
(`CompliancePolicy.conclude`); a clean state in the script is what an allowed verdict needs,
so a marked message is always an allowed one, and the pipeline takes back the mark of any
that is not.

At light load the engine skips its queue and admits each read as it is read: then the
read's accept (accept.lua, idempotent by id) runs first in the same script
(`ACCEPT_ADMIT_SCRIPT`, `Admission.accept_and_admit`), and a message whose record it did not
create (a resume, a duplicate) is neither checked (no cap consumed) nor marked.

On Redis Cluster one script may touch only one slot. An `Admission` is one shard's: its
compliance keys and its in-flight marks share the shard's hash tag (gateway/store/shards.py),
but a carrier's bucket (`{smsgw:throttle:<carrier>}`) is a slot of its own, so the admit call
cannot take the grant from it. There a carrier's rate is split (gateway/carrier/pool.py): each
shard has a bucket of its own of each paced carrier (`{smsgw:<k>}:throttle:<carrier>`, a
`ShardRate` in the candidates' `Pacing`), and the admit call grants from the shard's bucket as
it grants from the carrier's on one Redis, in the same call. What it cannot grant takes the
usual way, through the carrier's bucket.

Where a carrier is not split (its share per shard too small to pay, or cut below 1 TPS) the
grant is taken first instead: for each carrier whose candidates come with a bucket to pace
them (no adaptive episode, no caller waiting for the bucket: `CarrierRate.pacing`), one try of the
bucket's own script (`RedisTokenBucket.try_acquire`, no waiting) for those candidates' parts
up to its grant size, all or nothing, every carrier's try at once (`asyncio.gather`); then
the admit call runs with the carriers so granted needing no grant, and marks their clean
messages as on one Redis. So a paced carrier's message costs two calls before its first
byte, not three (check, grant, mark). A tick of several shards takes each carrier's grant
once for all of them (`take_grants`, called by the pipeline), then runs the shards' admit
calls, each with its share. A carrier whose bucket cannot grant now (or whose
slot cannot answer) takes no grant: its messages are checked only and take the usual way,
as does any message beyond the grant size; a carrier nothing paces is marked in the call as
on one Redis.

Tokens granted before the call to a message the check then refuses (opted out, suppressed,
over a cap), or to a tick whose admit call fails, are not given back: the bucket's script
has no way to return tokens (its grant log and its GCRA time would both need undoing, in
another call to the bucket's slot), a refused message is rare, and the loss only holds the
carrier below its rate by those parts for up to a second, never above it. A grant is never
used twice: the call marks only candidates the grant covered, and a message not marked
takes a grant of its own on the usual way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from common.json_text import compact
from compliance.errors import ComplianceStoreError
from compliance.policy import Prepared
from compliance.redis_stores import (
    CHECK_SCRIPT,
    RedisComplianceStore,
    check_answers,
    map_redis_errors,
    recipient_state,
)
from compliance.store import RecipientState
from compliance.verdict import Verdict
from gateway.carrier.pool import Pacing, ShardRate
from gateway.config import StreamsConfig
from gateway.store.keys import Keys
from gateway.store.redis_client import RedisClient
from gateway.store.replica_wait import ReplicaWait
from gateway.store.state_store import (
    AcceptResult,
    Scope,
    StateWriter,
    accept_results,
    lua_script,
)
from gateway.store.state_store import map_redis_errors as map_queue_errors
from routing.errors import ThrottleUnavailableError
from routing.throttle import BUCKET_SCRIPT, RedisTokenBucket


def _as_function(name: str, params: str, body: str) -> str:
    return f"local function {name}({params})\n{body}\nend\n"


def _apply_function() -> str:
    body = lua_script("apply")
    decode = "local a = cjson.decode(ARGV[1])\n"
    if body.count(decode) != 1:
        raise RuntimeError("apply.lua: the line that decodes its ops moved; update admission.py")
    return _as_function("apply_ops", "a", body.replace(decode, ""))


def _check_function() -> str:
    decode = "local queries = cjson.decode(ARGV[1])\n"
    if CHECK_SCRIPT.count(decode) != 1:
        raise RuntimeError("CHECK_SCRIPT: the line decoding its queries moved; see admission.py")
    return _as_function("check_queries", "KEYS, queries", CHECK_SCRIPT.replace(decode, ""))


def _accept_function() -> str:
    return _as_function("accept_rows", "ARGV", lua_script("accept"))


# admit_checked(KEYS, plan, checks): given the check's answers (4 per message), the grants and
# the in-flight marks of the messages with a clean state. `plan` is ADMIT_SCRIPT's ARGV[2]
# decoded. Returns the marks (1/0 per message), or apply.lua's error.
_ADMIT_CHECKED: Final = """
local function admit_checked(KEYS, plan, checks)
  local messages, carriers = plan.messages, plan.carriers
  local chosen, want, first = {}, {}, {}
  for q = 1, #messages do
    local m = messages[q]
    local c = m[1]
    local b = 4 * q - 4
    if c > 0 and checks[b + 1] == 0 and checks[b + 2] == 0 and checks[b + 3] == -1 then
      local total = (want[c] or 0) + m[2]
      if total <= carriers[c][4] then
        want[c] = total
        first[c] = first[c] or m[2]
        chosen[q] = c
      end
    end
  end
  -- a bucket grants what it has, if that covers the first message chosen; the messages
  -- chosen are then marked in order while the grant covers their parts
  local granted = {}
  for c, n in pairs(want) do
    local k = carriers[c]
    if k[1] == 0 then
      granted[c] = n
    else
      local r = take_tokens({KEYS[k[1]], KEYS[k[1] + 1]}, {n, first[c], k[2], k[3]})
      granted[c] = r[1]
    end
  end
  local ops = plan.scope
  local scope_words = #ops
  local marked = {}
  for q = 1, #messages do
    local c = chosen[q]
    if c and granted[c] >= messages[q][2] then
      granted[c] = granted[c] - messages[q][2]
      marked[q] = 1
      ops[#ops + 1] = 'inflight'
      for _, word in ipairs(messages[q][3]) do ops[#ops + 1] = word end
    else
      marked[q] = 0
    end
  end
  if #ops > scope_words then
    local r = apply_ops(ops)
    if r.err then return r end
  end
  return marked
end
"""

# KEYS: 3 per message (the check's), then 2 per carrier with a bucket (the bucket's; never
#   on a cluster, where the check's keys, all in the shard's slot, route the call).
# ARGV[1]: the check's ARGV[1]. ARGV[2]: JSON {scope: apply.lua scope words, carriers: per
#   carrier {first key (0 = no bucket, or granted before the call), rate, burst, cap},
#   messages: per message, in the check's order, {carrier (1-based, 0 = none), parts,
#   inflight words (5)}}.
# Returns {the check's answers (4 per message), marked (1/0 per message)}.
_ADMIT_DRIVER: Final = """
local checks = check_queries(KEYS, cjson.decode(ARGV[1]))
local marked = admit_checked(KEYS, cjson.decode(ARGV[2]), checks)
if marked.err then return marked end
return {checks, marked}
"""

# ADMIT_SCRIPT after accept.lua, for a read at light load (`Admission.accept_and_admit`).
# KEYS: ADMIT_SCRIPT's, then the shard's events stream (the call's key when there is no
#   message to check). ARGV[1], ARGV[2]: ADMIT_SCRIPT's, the plan with `rows` too: per
#   message checked, its row of the accept (1-based), and `ops` (optional): apply.lua ops of
#   the shard's state writes taken to ride this call (StateWriter.take_waiting), run first.
#   ARGV[3...]: accept.lua's ARGV.
# A message whose record accept.lua did not create (a resume, a duplicate) is neither checked
# (nothing consumed) nor granted nor marked.
# Returns {accept.lua's answers, the check's answers (4 per message), marked (1/0 each),
#   the ops' results (apply.lua's; empty without ops)}. With ops, the read's part failing
#   (after the ops ran: a script is not rolled back) returns {the ops' results, its error}
#   instead, so the writes carried are answered as done and only the read goes the usual way.
_ACCEPT_ADMIT_DRIVER: Final = """
local queries, plan = cjson.decode(ARGV[1]), cjson.decode(ARGV[2])
local function accept_and_admit(carried)
  local accept_args = {}
  for i = 3, #ARGV do accept_args[i - 2] = ARGV[i] end
  local accepted = accept_rows(accept_args)
  local new_rows, at, row = {}, 1, 1
  while at <= #accepted do
    if accepted[at] == 'new' then
      new_rows[row] = true
      at = at + 1
    else
      at = at + 8
    end
    row = row + 1
  end
  for q = 1, #queries do
    if not new_rows[plan.rows[q]] then
      queries[q] = {'0', '', '', '0', '0', '0', '0', ''}
      plan.messages[q][1] = 0
    end
  end
  local checks = check_queries(KEYS, queries)
  local marked = admit_checked(KEYS, plan, checks)
  if marked.err then error(marked.err, 0) end
  return {accepted, checks, marked, carried}
end
if not plan.ops then return accept_and_admit({}) end
local carried = apply_ops(plan.ops)
if carried.err then return carried end
local ok, reply = pcall(accept_and_admit, carried)
if ok then return reply end
return {carried, type(reply) == 'table' and (reply.err or 'ERR') or tostring(reply)}
"""

_ADMIT_FUNCTIONS: Final = (
    _check_function()
    + _as_function("take_tokens", "KEYS, ARGV", BUCKET_SCRIPT)
    + _apply_function()
    + _ADMIT_CHECKED
)

ADMIT_SCRIPT: Final = _ADMIT_FUNCTIONS + _ADMIT_DRIVER

ACCEPT_ADMIT_SCRIPT: Final = _accept_function() + _ADMIT_FUNCTIONS + _ACCEPT_ADMIT_DRIVER


@dataclass(slots=True)
class Candidate:
    """One message of the tick: its prepared checks and, when it may be marked in the same
    call, its carrier's pacing and its in-flight mark (message, carrier, ref, parts, dest).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    prepared: Prepared
    pacing: Pacing | None = None
    carrier: str = ""
    mark: tuple[str, str, int, int, str] | None = None


@dataclass(slots=True)
class Admitted:
    """The call's answer for one candidate: its verdict, and whether it is marked in flight
    (granted its carrier's rate too: it may go out at once).

    Slotted, not frozen: one is built per message (style guide §3). Treat it as read-only.
    """

    verdict: Verdict
    marked: bool


class Admission:
    """Runs `ADMIT_SCRIPT` for a tick's candidates (see the module docstring).

    Args:
        client: one Redis or a cluster (then a paced carrier's grant is taken before the
            call, in its bucket's own slot).
        store: the compliance store of the shard whose messages are admitted.
        scope: that shard's scope (apply.lua) for the in-flight marks.
        conclude: the verdict from a candidate's checks and its recipient's state.

    Raises:
        ValueError: on a cluster, the store's keys and the scope's are in different slots.
    """

    def __init__(
        self,
        client: RedisClient,
        store: RedisComplianceStore,
        scope: Scope,
        *,
        conclude: Callable[[Prepared, RecipientState], Verdict],
        wait: ReplicaWait | None = None,
    ) -> None:
        self._script = client.register_script(ADMIT_SCRIPT)
        self._accept_script = client.register_script(ACCEPT_ADMIT_SCRIPT)
        self._events = scope.events
        self._wait = wait or ReplicaWait(client)  # the in-flight marks, WAITed for if asked
        self._store = store
        self._scope = scope.words()
        self._conclude = conclude
        self._cluster = isinstance(client, RedisCluster)
        self._shard_keys = Keys(scope.prefix, StreamsConfig())  # the shard's own buckets
        if self._cluster:
            _check_one_slot(store, scope)

    @property
    def grants_first(self) -> bool:
        """True on a cluster: a paced carrier's grant is taken before the call."""
        return self._cluster

    async def admit(
        self, candidates: Sequence[Candidate], granted: Grants | None = None
    ) -> list[Admitted]:
        """One call for the tick. On a cluster, `granted` are the grants already taken for
        these candidates (`take_grants`, for several shards' at once); None: taken here.

        Raises:
            ComplianceStoreError: Redis is unreachable, or the script failed.
        """
        if not candidates:
            return []
        if granted is None:
            granted = await _take_grants(candidates) if self._cluster else {}
        keys, checks, plan = self._words(candidates, granted)
        with map_redis_errors():
            reply = await self._wait.run(self._script, keys, [checks, compact(plan)])
        if not isinstance(reply, list) or len(reply) != 2:
            raise ComplianceStoreError(f"unexpected admit script reply {reply!r}")
        answers = check_answers(reply[0], len(candidates))
        return [
            self._admitted(c, answer, flag)
            for c, answer, flag in zip(candidates, answers, reply[1], strict=True)
        ]

    async def accept_and_admit(
        self, accept_args: Sequence[str | int | float], rows: Sequence[int],
        candidates: Sequence[Candidate], carried: StateWriter | None = None,
    ) -> tuple[list[AcceptResult], list[Admitted | None]]:  # fmt: skip
        """accept.lua for a read (`accept_args`: its header, then 5 words per message), then
        `admit` for the candidates, in one call (`ACCEPT_ADMIT_SCRIPT`). `rows[i]` is the
        position in the read of candidate i's message. Returns the accept's result of each
        message read, and each candidate's answer: None for one whose record the accept did
        not create (a resume, a duplicate), which was neither checked nor marked.

        `carried`: a lingering writer of the shard (its receipts, and the tick before's
        accepted submits); the writes waiting in it, if they may leave now, are run first in
        the same call, and their callers answered from it (or given its error), so they cost
        no call of their own.

        Raises:
            QueueUnavailableError: Redis cannot answer now (nothing may have run, or all).
            redis.exceptions.RedisError: the script failed (what ran before the error stays).
        """
        granted = await _take_grants(candidates) if self._cluster and candidates else {}
        keys, checks, plan = self._words(candidates, granted)
        plan["rows"] = [row + 1 for row in rows]
        keys.append(self._events)
        writes = carried.take_waiting() if carried is not None else None
        if writes is not None:
            plan["ops"] = writes.args
        try:
            with map_queue_errors():
                reply = await self._wait.run(
                    self._accept_script, keys, [checks, compact(plan), *accept_args]
                )
        except BaseException as error:
            if writes is not None:
                writes.fail(error)
            raise
        if writes is not None and isinstance(reply, list) and len(reply) == 2:
            writes.answer(reply[0])  # done: only the read's part failed (see the script)
            message = reply[1]
            raise ResponseError(message.decode() if isinstance(message, bytes) else str(message))
        if not isinstance(reply, list) or len(reply) != 4:
            bad = ComplianceStoreError(f"unexpected accept-and-admit script reply {reply!r}")
            if writes is not None:
                writes.fail(bad)
            raise bad
        if writes is not None:
            writes.answer(reply[3])
        results = accept_results(reply[0])
        answers = check_answers(reply[1], len(candidates))
        admitted = [
            self._admitted(c, answer, flag) if results[row].kind == "new" else None
            for c, row, answer, flag in zip(candidates, rows, answers, reply[2], strict=True)
        ]
        return results, admitted

    def _words(
        self, candidates: Sequence[Candidate], granted: Grants
    ) -> tuple[list[str], str, dict[str, object]]:
        """The call's KEYS, the check's ARGV and the plan (`_plan`) for `candidates`."""
        keys, checks = self._store.check_call([c.prepared.query for c in candidates])
        return keys, checks, self._plan(candidates, keys, granted)

    def _admitted(
        self, candidate: Candidate, answer: tuple[int, ...], flag: int | bytes | str
    ) -> Admitted:
        """A candidate's answer: its verdict from the check's `answer`, marked or not."""
        verdict = self._conclude(candidate.prepared, recipient_state(answer))
        return Admitted(verdict, bool(int(flag)))

    def _plan(
        self, candidates: Sequence[Candidate], keys: list[str], granted: Grants
    ) -> dict[str, object]:
        """The script's ARGV[2]: which candidates it may mark, and each one's carrier (the
        buckets' keys it grants from are appended to `keys`; on a cluster, none: a paced
        carrier is in it only for the candidates its grant, taken before, covers)."""
        covered = {position for grant in granted.values() for position in grant.covers}
        carriers: dict[str, int] = {}
        plan_carriers: list[list[object]] = []
        messages: list[list[object]] = []
        for position, candidate in enumerate(candidates):
            pacing, mark = candidate.pacing, candidate.mark
            if (
                pacing is None
                or mark is None
                or (
                    self._cluster
                    and pacing.bucket is not None
                    and pacing.shard is None
                    and position not in covered
                )
            ):
                messages.append([0, 0, []])  # checked only: the usual way grants and marks it
                continue
            index = carriers.get(candidate.carrier)
            if index is None:
                index = carriers[candidate.carrier] = len(plan_carriers) + 1
                if self._cluster and pacing.shard is not None:
                    words = self._shard_words(candidate.carrier, pacing.shard, keys)
                else:
                    words = _carrier_words(pacing, keys, granted.get(candidate.carrier))
                plan_carriers.append(words)
            messages.append([index, mark[3], [str(word) for word in mark]])
        return {"scope": self._scope, "carriers": plan_carriers, "messages": messages}

    def _shard_words(self, carrier: str, shard: ShardRate, keys: list[str]) -> list[object]:
        """A carrier's entry of the plan on a cluster, granted from this shard's own bucket
        of it (its keys appended to `keys`, in the shard's slot)."""
        key = self._shard_keys.shard_throttle(carrier)
        return _bucket_words(keys, (key, f"{key}:window"), shard.rate, shard.burst, shard.cap)


@dataclass(slots=True)
class Grant:
    """One carrier's grant taken before a cluster's admit call: the candidates (positions in
    the tick) it covers and their parts, at most `cap`."""

    bucket: RedisTokenBucket
    cap: int
    parts: int = 0
    covers: set[int] = field(default_factory=set)


Grants = dict[str, Grant]
"""The grants taken before a cluster's admit call, by carrier."""


async def take_grants(ticks: Sequence[Sequence[Candidate]]) -> list[Grants]:
    """On a cluster, before the admit calls of a tick's shards: each paced carrier's grant
    for the candidates of every shard together (one try of its bucket per tick, not one per
    shard), in the tick's order up to its grant size; then each shard's share of the grants
    (the parts and positions of its own candidates), in the order of `ticks`."""
    flat = [candidate for candidates in ticks for candidate in candidates]
    granted = await _take_grants(flat)
    shares: list[Grants] = []
    start = 0
    for candidates in ticks:
        end = start + len(candidates)
        share: Grants = {}
        for name, grant in granted.items():
            mine = Grant(grant.bucket, grant.cap)
            for position in grant.covers:
                if start <= position < end:
                    mine.covers.add(position - start)
                    mark = flat[position].mark
                    mine.parts += mark[3] if mark is not None else 0
            if mine.covers:
                share[name] = mine
        shares.append(share)
        start = end
    return shares


async def _take_grants(candidates: Sequence[Candidate]) -> Grants:
    """On a cluster, before the admit call: each paced carrier's grant for its candidates, in
    the tick's order up to its grant size (as the script would choose them), one try of its
    bucket each, all at once. The carriers granted, each with the candidates covered."""
    wanted: Grants = {}
    for position, candidate in enumerate(candidates):
        pacing, mark = candidate.pacing, candidate.mark
        if pacing is None or mark is None or pacing.bucket is None or pacing.shard is not None:
            continue  # nothing to grant, or granted in the call, from the shard's own bucket
        grant = wanted.get(candidate.carrier)
        if grant is None:
            cap = min(pacing.cap, pacing.bucket.max_acquire)
            grant = wanted[candidate.carrier] = Grant(pacing.bucket, cap)
        if grant.parts + mark[3] <= grant.cap:
            grant.parts += mark[3]
            grant.covers.add(position)
    wanted = {name: grant for name, grant in wanted.items() if grant.parts > 0}
    if not wanted:
        return {}
    if len(wanted) == 1:  # the common tick: no task for one call
        tries = [await _try_grant(next(iter(wanted.values())))]
    else:
        tries = await asyncio.gather(*(_try_grant(g) for g in wanted.values()))
    return {name: g for (name, g), ok in zip(wanted.items(), tries, strict=True) if ok}


async def _try_grant(grant: Grant) -> bool:
    """The grant now, or False: the bucket has too few tokens, or its slot cannot answer (the
    usual way then meets the same error, and leaves the messages pending)."""
    try:
        return await grant.bucket.try_acquire(grant.parts)
    except ThrottleUnavailableError:
        return False


def _carrier_words(pacing: Pacing, keys: list[str], grant: Grant | None) -> list[object]:
    """A carrier's entry of the plan; its bucket's keys are appended to `keys` (none when
    its grant was taken before the call)."""
    if grant is not None:
        return [0, 0, 0, grant.parts]
    bucket = pacing.bucket
    if bucket is None:
        return [0, 0, 0, pacing.cap]
    return _bucket_words(keys, bucket.keys, bucket.effective_rate(), bucket.burst, pacing.cap)


def _bucket_words(
    keys: list[str], bucket_keys: Sequence[str], rate: float, burst: int, cap: int
) -> list[object]:
    """A carrier's entry of the plan granted in the call from the bucket at `bucket_keys`
    (appended to `keys`): {its first key's position, rate, burst, grant size}."""
    first = len(keys) + 1
    keys += bucket_keys
    return [first, repr(rate), burst, cap]


def _check_one_slot(store: RedisComplianceStore, scope: Scope) -> None:
    """Refuse a store and a scope of different slots: every admit call would fail.

    Raises:
        ValueError: they are in different slots.
    """
    opt_out = store.keys.opt_out("0")
    if key_slot(opt_out.encode()) != key_slot(scope.events.encode()):
        raise ValueError(
            f"admission on a cluster: compliance key {opt_out!r} and events stream "
            f"{scope.events!r} are in different slots (give both the shard's prefix)"
        )
