-- smsgw: apply a batch of state operations atomically (one EVALSHA per engine tick).
-- KEYS[1] is a key of the shard the ops write (its events stream): the script never reads it,
-- it is there so that redis-py's cluster client sends the call to the master of that shard's
-- slot. ARGV[1] is a JSON array (one argument, so redis-py packs one value per tick rather than one
-- per field): a flat list of operations, each a name and its words. A word is a string, or
-- null for "none" where an op says so. gateway/state_store.py (OpBatch) builds them.
--
-- Domain operations: one per message state change, keys derived here from the scope, the
-- event JSON sent once (built by gateway/messages.py event_json) and written to both the
-- events stream and the history. Each reads the hash once (HMGET) for its guard and indexes.
--   scope prefix events maxlen ttl outbound group
--                               sets what the ops after it (in this call) write under: key
--                               prefix, events stream and its MAXLEN ~, receipt_ttl, and the
--                               outbound stream and group entries are acknowledged on
--   inflight msg carrier ref parts dest
--                               the in-flight mark, before a submit goes out; indexes it
--                               under inflight:<dest>
--   notsent msg                 the in-flight mark taken back (nothing was sent)
--   submitted msg now carrier joined cids parts attempt event due entry from_deferred n
--             key1 part1 .. keyn partn
--                               every part accepted: state, event, receipt_due (due: score
--                               or null), then the n carrier ids mapped (each like `partial`),
--                               then settled (entry acked unless null, off the deferred set if
--                               from_deferred is '1')
--   partial msg carrier cids n key1 part1 .. keyn partn
--                               parts accepted before a failure: `cids` kept, their ids mapped
--                               to (msg, part); an early receipt for one is applied
--   deferred msg now attempt due due_iso event entry n f1 v1 .. fn vn
--                               parked in the deferred set until `due` (n extra hash fields)
--   final msg status now code reason event entry from_deferred
--                               a final state decided by the engine (code, reason: or null)
--   rejected msg entry now code reason event
--                               a bad queue entry: its event, a record only if none exists,
--                               the entry acked
--   hold msg carrier dest       hold an outcome-unknown message for a receipt by destination;
--                               apply a final receipt already parked for it (see below)
--   receipt carrier n c1..cn state final err ts dest orphan_due alt
--                               apply a delivery receipt (candidates most preferred first);
--                               `alt` ('' for none): the receipt's other address, a number,
--                               tried by destination when `dest` finds no message (below);
--                               one parked unmatched is also indexed in `orphans` (score
--                               orphan_due) unless orphan_due is null (see "Orphans" below)
--   orphan carrier n c1..cn state final err ts alt
--                               a receipt parked in another shard, tried here: applied if
--                               one of its ids is mapped here, or by destination `alt`, else
--                               'unmatched' (not parked)
--   unpark member               a receipt parked here (its `orphans` member) applied in
--                               another shard: off the `orphans` set, its early: keys deleted
--                               (no result)
-- Every state write is guarded: a final status is never overwritten. The hash and the history
-- live at least the scope's ttl after the message's last event, and at most 1% longer (see
-- "Lifetimes" below).
-- The hash's `ts` is its latest event's (ISO-8601, from the event JSON); `now` is epoch seconds.
--
-- Primitive operations (callers outside gateway/records.py):
--   H key n f1 v1 .. fn vn      HSET
--   X stream maxlen data        XADD stream MAXLEN ~ maxlen * data <data>
--   A stream group id           XACK
--   R key member                ZREM
--   S key member ttl            SADD + EXPIRE
--
-- Results, in op order: one per mapped id of `submitted` and `partial`: 'mapped' | 'early' |
-- 'early:<final status> <submitted_at> <msg>'; one per `hold`: 'held' | 'early:<final status>
-- ...'; one per `receipt`: '<final status> <submitted_at> <msg>' when it finished the message
-- ('delivered 1733125600.5 m1'; gateway/records.py `settled` reads it) | 'matched' (a part,
-- more to come) | 'unmatched' | 'duplicate' | 'intermediate'.
-- Keys are built here from the scope's prefix, and the primitive ops name theirs. On one
-- redis-server a call may hold scopes of several prefixes. On Redis Cluster a call must stay
-- within ONE hash tag, KEYS[1]'s: every scope of the call is the same shard's (prefix
-- `{<key_prefix><k>}:`, its streams under the same tag; gateway/store/shards.py), and so is
-- every key of a primitive op. Redis refuses a key of another slot with an error, after the
-- ops before it have run (a script is not rolled back), so the callers never mix shards.
--
-- Receipts by destination. A submit whose response never came is held, indexed under
-- unknown:<carrier>:<dest>; its receipt cannot be matched by id, only by destination. To never
-- settle the wrong message, a receipt unmatched by id settles a held message only when it is
-- the one held message for that carrier and destination AND no submit to that destination
-- is in flight (inflight:<dest>, written with the in-flight mark): a submit awaiting its
-- response could be the receipt's real owner (its id is not mapped yet). A receipt that comes
-- while exactly one submit to the destination is in flight and none is held is parked for
-- that one message (earlydest), and applied only if that message is then held. An SMSC that
-- does not swap a receipt's addresses names our sender as source_addr: when that is a number
-- (a long code, the receipt's `dest`) and no message is held for or in flight to it, the same
-- is done for its other address (`alt`, the handset). A held message of several parts is
-- delivered by destination only once as many distinct receipts as it has parts say delivered
-- (each part that reached the carrier has its own): the crash that left its outcome unknown
-- may have cut it off between parts, and the handset then has only some of its text.
--
-- Orphans. With shards, a receipt goes to the shard of the handset in its source_addr. An SMSC
-- that does not swap the addresses of a receipt (or writes the handset in a way smsgw cannot
-- read back) sends it to a shard where no id of it is mapped: it is parked there, and indexed
-- in `orphans` (member: {carrier, state, final, err, ts, alt, c1..cn}) for the engine's
-- orphan sweep (gateway/engine/orphan_receipts.py, claim_orphans.lua) to try in the other
-- shards once its submit_sm_resp has had time to be recorded (or, by destination `alt`, once
-- its message is held).
--
-- Lifetimes. The hash's `kept` field says until when (Redis's clock, epoch seconds) both the
-- hash and the history are sure to live. A write that adds an event or a history note renews
-- both TTLs only when `kept` falls short of its own ttl, and then to ttl + 1% (`kept` moved
-- with them). A message's events nearly always come within that 1% of its accept (3 days:
-- 43 minutes), so accept.lua's TTLs usually last it its whole life, and submitted and
-- receipts renew nothing: two EXPIREs an event fewer. A record without `kept` (written by an
-- older smsgw) is renewed by its next event.
--
-- The indexes and the hash agree: a message is in inflight:<dest> only while its `inflight`
-- field names a carrier, and in unknown:<carrier>:<dest> only while its `outcome` field is
-- set (both are written in the same op as the index). So settling a message drops it from an
-- index only when its hash says it may be there.

local FINAL = {rejected=true, suppressed=true, delivered=true, undelivered=true,
               expired=true, failed=true}
local RECEIPT_STATUS = {delivered='delivered', undelivered='undelivered', expired='expired',
                        rejected='undelivered', deleted='undelivered', unknown='undelivered'}
local NULL = cjson.null

local a = cjson.decode(ARGV[1])
local results = {}
local prefix, events, maxlen, ttl, outbound, group  -- the scope (op `scope`)
local ttl_word  -- the scope's ttl spelt once, for redis.call (which spells a number with %.17g)
local clock  -- Redis's time in whole seconds, read once per call (`renewal`)

local function set(value)  -- a hash field that is present and not empty
  return value and value ~= ''
end

-- An event's ts (ISO-8601) for the hash. gateway/messages.py event_json writes it compact
-- ('"ts":"..."'); a quote inside a JSON string is always escaped, so only the key matches.
local function event_ts(data, fallback)
  return string.match(data, '"ts":"([^"]*)"') or fallback
end

-- Whether a write to a record whose `kept` field reads `kept` must renew its TTLs (see
-- "Lifetimes"): nil if they outlast the scope's ttl from now, else the lifetime to give
-- them, with 'kept' and its new value added to `fields` (the hash write the op makes anyway).
-- `kept` must be strictly beyond now + ttl: `clock` is whole seconds, and up to one behind.
local function renewal(kept, fields)
  if not clock then clock = tonumber(redis.call('TIME')[1]) end
  if (tonumber(kept) or 0) > clock + ttl then return nil end
  local life = ttl + math.ceil(ttl / 100)
  fields[#fields + 1], fields[#fields + 2] = 'kept', clock + life
  return life
end

-- The TTLs of the record `mkey` and its history set to `life` (from `renewal`), if any.
local function renew(mkey, life)
  if life then
    redis.call('EXPIRE', mkey .. ':history', life)
    redis.call('EXPIRE', mkey, life)
  end
end

-- The message's event: on the events stream and its history; then the TTLs renewed when
-- `life` says so (after the RPUSH: an EXPIRE before the list exists would be lost).
local function event(mkey, data, life)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'data', data)
  redis.call('RPUSH', mkey .. ':history', data)
  renew(mkey, life)
end

-- Drop `msg` from its destination's in-flight index (when `flying`) and from the index of
-- messages held for `carrier` (when `held`).
local function settle(msg, dest, carrier, flying, held)
  if not dest then return end
  if flying then redis.call('SREM', prefix .. 'inflight:' .. dest, msg) end
  if held and carrier then
    redis.call('SREM', prefix .. 'unknown:' .. carrier .. ':' .. dest, msg)
  end
end

-- What a state op reads of the hash: its guard, its indexes and `kept` (f[6]).
local function state_of(mkey)
  return redis.call('HMGET', mkey, 'status', 'dest', 'carrier', 'outcome', 'inflight', 'kept')
end

-- The fields apply_receipt reads, in one HMGET (f[1] ..).
local RECEIPT_FIELDS = {'status', 'parts', 'delivered_parts', 'submitted_at',
                        'carrier_message_id', 'attempt', 'dest', 'inflight', 'outcome',
                        'dest_parts', 'kept'}

-- The receipt finished the message: `fields` (the part's state, the delivered count) are
-- written with the final status. Returns "<status> <submitted_at>" (seconds since the epoch
-- when its submit_sm_resp was recorded, for the latency histogram). `by_dest`: it was settled
-- by destination, so it is dropped from both indexes whatever its hash says.
local function finish(mkey, msg, f, status, carrier, err, ts, fields, by_dest)
  local n = #fields
  fields[n + 1], fields[n + 2], fields[n + 3], fields[n + 4] = 'status', status, 'ts', ts
  if status ~= 'delivered' then
    fields[n + 5], fields[n + 6] = 'error_code', err
    fields[n + 7], fields[n + 8] = 'error_reason', 'carrier receipt ' .. status
  end
  local life = renewal(f[11], fields)
  redis.call('HSET', mkey, unpack(fields))
  local ev = {id=msg, status=status, ts=ts, carrier=carrier,
              parts=tonumber(f[2]), attempt=tonumber(f[6])}
  if set(f[5]) then ev['carrier_message_id'] = f[5] end
  if status ~= 'delivered' then
    ev['error'] = {code=err, reason='carrier receipt ' .. status}
  end
  event(mkey, cjson.encode(ev), life)
  -- a submitted message waits in receipt_due (expire_receipts.lua) and was taken off the
  -- deferred set when submitted; any other (held, deferred) is in the deferred set
  if f[1] == 'submitted' then
    redis.call('ZREM', prefix .. 'receipt_due', msg)
  else
    redis.call('ZREM', prefix .. 'deferred', msg)
  end
  settle(msg, f[7], carrier, by_dest or set(f[8]), by_dest or set(f[9]))
  return status .. ' ' .. (f[4] or '') .. ' ' .. msg
end

-- The status word of a result ("delivered 1733.5" -> "delivered").
local function word(result)
  return string.match(result, '^%S+')
end

-- Apply receipt `state` for part `part` of message `msg` ('?': an outcome-unknown message
-- settled by destination, which of its parts the receipt is for unknown; `rid` is then the
-- receipt's own id). Returns a result word: the final status when this receipt finished the
-- message, 'matched' for a part that did not yet.
local function apply_receipt(carrier, msg, part, state, final, err, ts, rid)
  local mkey = prefix .. 'msg:' .. msg
  local pfield = 'p' .. part
  if part == '?' then pfield = 'p?' .. (rid or '') end
  local f = redis.call('HMGET', mkey, pfield, unpack(RECEIPT_FIELDS))
  local seen = table.remove(f, 1)  -- this part's state already recorded
  local status = f[1]
  if not status then return 'unmatched' end
  if FINAL[status] then return 'duplicate' end
  if final ~= '1' then
    -- an intermediate receipt (ENROUTE, ACCEPTD, BUFFRED, UNKNOWN, ...): noted on the history
    -- with the status unchanged; no event, the message waits for its final receipt
    local note = {id=msg, status=status, ts=ts, carrier=carrier, receipt_state=state}
    if part ~= '?' then note['part'] = tonumber(part) end
    if string.find(err, '[^0]') then note['receipt_error'] = err end
    redis.call('RPUSH', mkey .. ':history', cjson.encode(note))
    local kept = {}
    local life = renewal(f[11], kept)
    if life then
      redis.call('HSET', mkey, unpack(kept))
      renew(mkey, life)
    end
    return 'intermediate'
  end
  if seen then return 'duplicate' end
  -- parts delivered as known by id, and as counted by destination (below)
  local parts = tonumber(f[2]) or 1
  local by_id, by_dest = tonumber(f[3]) or 0, tonumber(f[10]) or 0
  if part == '?' then
    -- Settled by destination. A failed receipt fails the message. A message of several
    -- parts is delivered only once as many distinct receipts (each part that reached the
    -- carrier has its own) say delivered as it has parts: the crash that made its outcome
    -- unknown may have cut it off between parts, and one part's receipt must not say the
    -- whole text arrived. Short of that, the hold runs out and it fails (outcome_unknown).
    -- They are counted apart from the parts known by id (`dest_parts`): a resend after the
    -- hold (on_unknown_outcome: resend) starts them again.
    local final_status = RECEIPT_STATUS[state] or 'undelivered'
    local done = by_dest + 1
    if final_status ~= 'delivered' or by_id + done >= parts then
      return finish(mkey, msg, f, final_status, carrier, err, ts,
                    {pfield, state, 'dest_parts', done}, true)
    end
    redis.call('HSET', mkey, pfield, state, 'dest_parts', done)
    return 'matched'
  end
  if state == 'delivered' then
    local done = by_id + 1
    if done + by_dest >= parts then
      return finish(mkey, msg, f, 'delivered', carrier, err, ts,
                    {pfield, state, 'delivered_parts', done}, false)
    end
    redis.call('HSET', mkey, pfield, state, 'delivered_parts', done)
    return 'matched'
  end
  local final_status = RECEIPT_STATUS[state] or 'undelivered'
  return finish(mkey, msg, f, final_status, carrier, err, ts, {pfield, state}, false)
end

-- Map carrier id `cid` to (msg, part) for receipts, and apply a receipt that came first.
local function map_id(carrier, cid, msg, part)
  redis.call('SET', prefix .. 'cid:' .. carrier .. ':' .. cid, msg .. '\t' .. part, 'EX', ttl_word)
  local ekey = prefix .. 'early:' .. carrier .. ':' .. cid
  local early = redis.call('GET', ekey)
  if not early then return 'mapped' end
  redis.call('DEL', ekey)
  local r = cjson.decode(early)
  local applied = apply_receipt(carrier, msg, part, r[1], r[2], r[3], r[4])
  return FINAL[word(applied)] and ('early:' .. applied) or 'early'
end

-- The `n` (key, part) pairs from a[i]; returns the index after them.
local function map_ids(i, carrier, msg)
  local n = tonumber(a[i])
  for j = 1, n do
    results[#results + 1] = map_id(carrier, a[i + 2 * j - 1], msg, a[i + 2 * j])
  end
  return i + 1 + 2 * n
end

-- The entries to acknowledge on the scope's outbound stream: one XACK for them all, when the
-- scope changes or the call ends (`flush_acks`), as XACK takes many ids. An op whose entry
-- is acked has done its writes by then; if a later op fails, the script stops before the
-- XACK and those entries stay pending (reclaimed later, and resumed from their records).
local acks = {}

local function flush_acks()
  if #acks > 0 then
    for first = 1, #acks, 1000 do
      redis.call('XACK', outbound, group, unpack(acks, first, math.min(first + 999, #acks)))
    end
    acks = {}
  end
end

local function ack(entry)
  if entry ~= NULL then acks[#acks + 1] = entry end
end

local OPS = {}

function OPS.scope(i)
  flush_acks()
  prefix, events, maxlen, ttl, outbound, group = a[i], a[i + 1], a[i + 2], tonumber(a[i + 3]),
                                                 a[i + 4], a[i + 5]
  ttl_word = tostring(ttl)
  return i + 6
end

function OPS.inflight(i)
  local msg, carrier, ref, parts, dest = a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4]
  redis.call('HSET', prefix .. 'msg:' .. msg, 'inflight', carrier, 'ref', ref, 'parts', parts,
             'carrier', carrier, 'dest', dest)
  local ikey = prefix .. 'inflight:' .. dest
  redis.call('SADD', ikey, msg)
  redis.call('EXPIRE', ikey, ttl_word)
  return i + 5
end

function OPS.notsent(i)
  local msg = a[i]
  local mkey = prefix .. 'msg:' .. msg
  local f = state_of(mkey)
  settle(msg, f[2], f[3], true, true)
  if not FINAL[f[1] or ''] then redis.call('HSET', mkey, 'inflight', '') end
  return i + 1
end

function OPS.submitted(i)
  local msg, now, carrier, joined, cids = a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4]
  local parts, attempt, data, due = a[i + 5], a[i + 6], a[i + 7], a[i + 8]
  local entry, from_deferred = a[i + 9], a[i + 10]
  local mkey = prefix .. 'msg:' .. msg
  local f = state_of(mkey)
  local holder = f[3]
  if not FINAL[f[1] or ''] then
    local fields = {'status', 'submitted', 'ts', event_ts(data, now), 'submitted_at', now,
                    'carrier', carrier, 'carrier_message_id', joined, 'cids', cids,
                    'parts', parts, 'attempt', attempt, 'inflight', '', 'outcome', ''}
    local life = renewal(f[6], fields)
    redis.call('HSET', mkey, unpack(fields))
    -- resent after a hold: the parts its receipts by destination counted were the last
    -- attempt's, whichever they were
    if set(f[4]) then redis.call('HDEL', mkey, 'dest_parts') end
    event(mkey, data, life)
    -- before the ids are mapped: a receipt that came first is applied there and must find it
    if due ~= NULL then redis.call('ZADD', prefix .. 'receipt_due', due, msg) end
    holder = carrier
  end
  local after = map_ids(i + 11, carrier, msg)
  settle(msg, f[2], holder, true, set(f[4]))
  ack(entry)
  if from_deferred == '1' then redis.call('ZREM', prefix .. 'deferred', msg) end
  return after
end

function OPS.partial(i)
  local msg, carrier, cids = a[i], a[i + 1], a[i + 2]
  redis.call('HSET', prefix .. 'msg:' .. msg, 'cids', cids)
  return map_ids(i + 3, carrier, msg)
end

function OPS.deferred(i)
  local msg, now, attempt, due, due_iso = a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4]
  local data, entry, n = a[i + 5], a[i + 6], tonumber(a[i + 7])
  local mkey = prefix .. 'msg:' .. msg
  local f = state_of(mkey)
  if not FINAL[f[1] or ''] then
    local fields = {'status', 'deferred', 'ts', event_ts(data, now), 'attempt', attempt,
                    'inflight', '', 'due', due_iso}
    for j = 1, 2 * n do fields[10 + j] = a[i + 7 + j] end
    local life = renewal(f[6], fields)
    redis.call('HSET', mkey, unpack(fields))
    redis.call('ZADD', prefix .. 'deferred', due, msg)
    event(mkey, data, life)
  end
  settle(msg, f[2], f[3], set(f[5]), set(f[4]))  -- `hold` re-adds a held message
  ack(entry)
  return i + 8 + 2 * n
end

function OPS.final(i)
  local msg, status, now, code, reason = a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4]
  local data, entry, from_deferred = a[i + 5], a[i + 6], a[i + 7]
  local mkey = prefix .. 'msg:' .. msg
  local f = state_of(mkey)
  if not FINAL[f[1] or ''] then
    local fields = {'status', status, 'ts', event_ts(data, now), 'inflight', ''}
    if code ~= NULL then fields[#fields + 1], fields[#fields + 2] = 'error_code', code end
    if reason ~= NULL then fields[#fields + 1], fields[#fields + 2] = 'error_reason', reason end
    local life = renewal(f[6], fields)
    redis.call('HSET', mkey, unpack(fields))
    event(mkey, data, life)
  end
  settle(msg, f[2], f[3], set(f[5]), set(f[4]))
  ack(entry)
  if from_deferred == '1' then redis.call('ZREM', prefix .. 'deferred', msg) end
  return i + 8
end

function OPS.rejected(i)
  local msg, entry, now, code, reason, data = a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4],
                                              a[i + 5]
  local mkey = prefix .. 'msg:' .. msg
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'data', data)
  -- never over the record of a good message with the same id
  if redis.call('EXISTS', mkey) == 0 then
    local fields = {'status', 'rejected', 'ts', event_ts(data, now), 'entry', entry,
                    'error_code', code, 'error_reason', reason}
    local life = renewal(nil, fields)
    redis.call('HSET', mkey, unpack(fields))
    redis.call('RPUSH', mkey .. ':history', data)
    renew(mkey, life)
  end
  ack(entry)
  return i + 6
end

function OPS.hold(i)
  local msg, carrier, dest = a[i], a[i + 1], a[i + 2]
  local mkey = prefix .. 'msg:' .. msg
  local result = 'held'
  if not FINAL[redis.call('HGET', mkey, 'status') or ''] then
    redis.call('HSET', mkey, 'outcome', 'unknown', 'carrier', carrier)
    local ukey = prefix .. 'unknown:' .. carrier .. ':' .. dest
    redis.call('SADD', ukey, msg)
    redis.call('EXPIRE', ukey, ttl)
    local dkey = prefix .. 'earlydest:' .. carrier .. ':' .. dest
    -- the one held message, nothing else in flight: a receipt parked for it is its own
    if redis.call('SCARD', ukey) == 1
        and redis.call('SCARD', prefix .. 'inflight:' .. dest) == 0 then
      local found = false
      for _, early in ipairs(redis.call('LRANGE', dkey, 0, -1)) do
        local r = cjson.decode(early)
        if r[5] == msg then
          -- one parked per part that reached the carrier: each is applied, until one ends it
          found = true
          for j = 6, #r do redis.call('DEL', prefix .. 'early:' .. carrier .. ':' .. r[j]) end
          local applied = apply_receipt(carrier, msg, '?', r[1], r[2], r[3], r[4], r[6])
          if FINAL[word(applied)] then
            result = 'early:' .. applied
            break
          end
        end
      end
      if found then redis.call('DEL', dkey) end
    end
  end
  results[#results + 1] = result
  return i + 3
end

-- The messages held for a final receipt by destination `dest`, and those in flight to it.
local function by_destination(carrier, dest, final)
  if dest == '' or final ~= '1' then return {}, {} end
  return redis.call('SMEMBERS', prefix .. 'unknown:' .. carrier .. ':' .. dest),
         redis.call('SMEMBERS', prefix .. 'inflight:' .. dest)
end

-- The first mapped id of candidates a[i + 1 .. i + ncand]: its "<msg>\t<part>", or nil.
local function mapped(carrier, i, ncand)
  for j = 1, ncand do
    local found = redis.call('GET', prefix .. 'cid:' .. carrier .. ':' .. a[i + j])
    if found then return found end
  end
  return nil
end

local function apply_mapped(carrier, found, state, final, err, ts)
  local tab = string.find(found, '\t', 1, true)
  return apply_receipt(carrier, string.sub(found, 1, tab - 1), string.sub(found, tab + 1),
                       state, final, err, ts)
end

function OPS.orphan(i)
  local carrier, ncand = a[i], tonumber(a[i + 1])
  local base = i + 1 + ncand
  local state, final, err, ts, alt = a[base + 1], a[base + 2], a[base + 3], a[base + 4],
                                     a[base + 5]
  local found = mapped(carrier, i + 1, ncand)
  local result = 'unmatched'
  if found then
    result = apply_mapped(carrier, found, state, final, err, ts)
  else
    local held, flying = by_destination(carrier, alt, final)
    if #held == 1 and #flying == 0 then  -- see "Receipts by destination" above
      result = apply_receipt(carrier, held[1], '?', state, final, err, ts, a[i + 2])
    end
  end
  results[#results + 1] = result
  return base + 6
end

function OPS.unpark(i)
  local member = a[i]
  redis.call('ZREM', prefix .. 'orphans', member)
  local r = cjson.decode(member)
  for j = 7, #r do redis.call('DEL', prefix .. 'early:' .. r[1] .. ':' .. r[j]) end
  return i + 1
end

function OPS.receipt(i)
  local carrier, ncand = a[i], tonumber(a[i + 1])
  local base = i + 1 + ncand
  local state, final, err, ts, dest = a[base + 1], a[base + 2], a[base + 3], a[base + 4],
                                      a[base + 5]
  local orphan_due, alt = a[base + 6], a[base + 7]
  -- candidates come most preferred first (gateway/receipts.py): the first that maps wins
  local found = mapped(carrier, i + 1, ncand)
  local result
  if found then
    result = apply_mapped(carrier, found, state, final, err, ts)
  else
    local held, flying = by_destination(carrier, dest, final)
    if #held == 0 and #flying == 0 and alt ~= '' then  -- not swapped: see above
      dest = alt
      held, flying = by_destination(carrier, dest, final)
    end
    if #held == 1 and #flying == 0 then  -- see "Receipts by destination" above
      result = apply_receipt(carrier, held[1], '?', state, final, err, ts, a[i + 2])
    else
      local packed = cjson.encode({state, final, err, ts})
      local cands = {}
      for j = 1, ncand do
        cands[j] = a[i + 1 + j]
        redis.call('SET', prefix .. 'early:' .. carrier .. ':' .. cands[j], packed, 'EX', 600)
      end
      if #held == 0 and #flying == 1 then
        -- its one possible owner may never get its response recorded (a crash mid-submit):
        -- it is then held (op hold) and settled by this, if nothing else went to `dest` since
        local dkey = prefix .. 'earlydest:' .. carrier .. ':' .. dest
        redis.call('RPUSH', dkey, cjson.encode({state, final, err, ts, flying[1],
                                                unpack(cands)}))
        redis.call('EXPIRE', dkey, 600)
      end
      if orphan_due ~= NULL then
        redis.call('ZADD', prefix .. 'orphans', orphan_due,
                   cjson.encode({carrier, state, final, err, ts, alt, unpack(cands)}))
      end
      result = 'unmatched'
    end
  end
  results[#results + 1] = result
  return base + 8
end

function OPS.H(i)
  local count = tonumber(a[i + 1])
  local args = {}
  for j = 1, count * 2 do args[j] = a[i + 1 + j] end
  redis.call('HSET', a[i], unpack(args))
  return i + 2 + count * 2
end

function OPS.X(i)
  redis.call('XADD', a[i], 'MAXLEN', '~', a[i + 1], '*', 'data', a[i + 2])
  return i + 3
end

function OPS.A(i)
  redis.call('XACK', a[i], a[i + 1], a[i + 2])
  return i + 3
end

function OPS.R(i)
  redis.call('ZREM', a[i], a[i + 1])
  return i + 2
end

function OPS.S(i)
  redis.call('SADD', a[i], a[i + 1])
  redis.call('EXPIRE', a[i], a[i + 2])
  return i + 3
end

local SCOPED = {inflight=true, notsent=true, submitted=true, partial=true, deferred=true,
                final=true, rejected=true, hold=true, receipt=true, orphan=true,
                unpark=true}

local i, n = 1, #a
while i <= n do
  local name = a[i]
  local op = OPS[name]
  if not op then
    return redis.error_reply('smsgw apply: unknown op ' .. tostring(name) .. ' at ' .. i)
  end
  if SCOPED[name] and not prefix then
    return redis.error_reply('smsgw apply: op ' .. name .. ' at ' .. i .. ' before a scope')
  end
  i = op(i + 1)
end
flush_acks()
return results
