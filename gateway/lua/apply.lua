-- smsgw: apply a batch of state operations atomically (one EVALSHA per engine tick).
-- ARGV[1] is a JSON array of strings (one argument, so redis-py packs one value per tick
-- rather than one per field): a flat list of operations; each starts with a one-letter code:
--   H key n f1 v1 .. fn vn      HSET
--   X stream maxlen data        XADD stream MAXLEN ~ maxlen * data <data>
--   L key value ttl             RPUSH + EXPIRE (message history)
--   A stream group id           XACK
--   T key ttl                   EXPIRE
--   Z key score member          ZADD
--   R key member                ZREM
--   S key member ttl            SADD + EXPIRE
--   M key member                SREM
--   U prefix carrier cid msg part ttl events maxlen ts
--                               map a carrier message id to (msg, part); apply an early receipt
--   G key mode n                guard: skip the next n words when `mode` says so: 'open' skips
--                               them when the hash's status is final (a final state is never
--                               overwritten), 'absent' when the key exists
--   Q prefix msg                the message's submit is settled: drop it from the indexes of
--                               submits in flight and held outcome-unknown for its destination
--   K prefix carrier dest msg ttl events maxlen
--                               hold an outcome-unknown message for a receipt by destination;
--                               apply a final receipt already parked for it (see below)
--   D prefix carrier ncand c1..cn state final err ts dest events maxlen ttl
--                               apply a delivery receipt (candidates most preferred first);
--                               appends one result
-- Results (one per D op, and one per U op): '<final status> <submitted_at>' when the receipt
-- finished the message ('delivered 1733125600.5') | 'matched' (a part, more to come) |
-- 'unmatched' | 'duplicate'
-- | 'intermediate' | 'mapped' | 'early' | 'early:<final status>'; one per K op: 'held' |
-- 'early:<final status>'.
-- Keys are passed in ARGV (single-instance Redis; not cluster-safe by design).
--
-- Receipts by destination. A submit whose response never came is held, indexed under
-- unknown:<carrier>:<dest>; its receipt cannot be matched by id, only by destination. To never
-- settle the wrong message, a receipt unmatched by id settles a held message only when it is
-- the one held message for that carrier and destination AND no submit to that destination
-- is in flight (inflight:<dest>, written with the in-flight mark): a submit awaiting its
-- response could be the receipt's real owner (its id is not mapped yet). A receipt that comes
-- while exactly one submit to the destination is in flight and none is held is parked for
-- that one message (earlydest), and applied only if that message is then held.

local FINAL = {rejected=true, suppressed=true, delivered=true, undelivered=true,
               expired=true, failed=true}
local RECEIPT_STATUS = {delivered='delivered', undelivered='undelivered', expired='expired',
                        rejected='undelivered', deleted='undelivered', unknown='undelivered'}

-- Drop `msg` from the in-flight and held indexes of its destination (op Q); `carrier`, when
-- given, is the one holding it (else the hash's).
local function settle_indexes(prefix, msg, carrier)
  local f = redis.call('HMGET', prefix .. 'msg:' .. msg, 'dest', 'carrier')
  if not f[1] then return end
  redis.call('SREM', prefix .. 'inflight:' .. f[1], msg)
  carrier = carrier or f[2]
  if carrier then redis.call('SREM', prefix .. 'unknown:' .. carrier .. ':' .. f[1], msg) end
end

-- Returns the result word for a receipt that finished the message: "<status> <submitted_at>"
-- (seconds since the epoch when its submit_sm_resp was recorded, for the latency histogram).
local function finish(prefix, mkey, msg, status, carrier, err, ts, events, maxlen, ttl)
  local submitted_at = redis.call('HGET', mkey, 'submitted_at') or ''
  local parts = redis.call('HGET', mkey, 'parts')
  local cids = redis.call('HGET', mkey, 'carrier_message_id')
  local attempt = redis.call('HGET', mkey, 'attempt')
  redis.call('HSET', mkey, 'status', status, 'ts', ts)
  local event = {id=msg, status=status, ts=ts, carrier=carrier,
                 parts=tonumber(parts), attempt=tonumber(attempt)}
  if cids and cids ~= '' then event['carrier_message_id'] = cids end
  if status ~= 'delivered' then
    event['error'] = {code=err, reason='carrier receipt ' .. status}
    redis.call('HSET', mkey, 'error_code', err, 'error_reason', 'carrier receipt ' .. status)
  end
  local data = cjson.encode(event)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'data', data)
  local hkey = mkey .. ':history'
  redis.call('RPUSH', hkey, data)
  redis.call('EXPIRE', hkey, ttl)
  redis.call('EXPIRE', mkey, ttl)
  redis.call('ZREM', prefix .. 'deferred', msg)
  redis.call('ZREM', prefix .. 'receipt_due', msg)  -- no receipt timeout (expire_receipts.lua)
  settle_indexes(prefix, msg, carrier)
  return status .. ' ' .. submitted_at
end

-- The status word of a result ("delivered 1733.5" -> "delivered").
local function word(result)
  return string.match(result, '^%S+')
end

-- Apply receipt `state` for part `part` of message `msg`. Returns a result word: the final
-- status when this receipt finished the message, 'matched' for a part that did not yet.
local function apply_receipt(prefix, carrier, msg, part, state, final, err, ts, events, maxlen, ttl)
  local mkey = prefix .. 'msg:' .. msg
  local status = redis.call('HGET', mkey, 'status')
  if not status then return 'unmatched' end
  if FINAL[status] then return 'duplicate' end
  if final ~= '1' then
    -- an intermediate receipt (ENROUTE, ACCEPTD, BUFFRED, UNKNOWN, ...): noted on the history
    -- with the status unchanged; no event, the message waits for its final receipt
    local note = {id=msg, status=status, ts=ts, carrier=carrier, receipt_state=state}
    if part ~= '?' then note['part'] = tonumber(part) end
    if string.find(err, '[^0]') then note['receipt_error'] = err end
    local hkey = mkey .. ':history'
    redis.call('RPUSH', hkey, cjson.encode(note))
    redis.call('EXPIRE', hkey, ttl)
    return 'intermediate'
  end
  if part == '?' then
    -- an outcome-unknown submit resolved by destination: its parts are unknown, count it whole
    local final_status = RECEIPT_STATUS[state] or 'undelivered'
    return finish(prefix, mkey, msg, final_status, carrier, err, ts, events, maxlen, ttl)
  end
  local pfield = 'p' .. part
  if redis.call('HSETNX', mkey, pfield, state) == 0 then return 'duplicate' end
  if state == 'delivered' then
    local done = redis.call('HINCRBY', mkey, 'delivered_parts', 1)
    local parts = tonumber(redis.call('HGET', mkey, 'parts') or '1')
    if done >= parts then
      return finish(prefix, mkey, msg, 'delivered', carrier, err, ts, events, maxlen, ttl)
    end
    return 'matched'
  end
  local final_status = RECEIPT_STATUS[state] or 'undelivered'
  return finish(prefix, mkey, msg, final_status, carrier, err, ts, events, maxlen, ttl)
end

local ARGV = cjson.decode(ARGV[1])  -- the op list, read below as if passed as ARGV
local results = {}
local i = 1
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'H' then
    local count = tonumber(ARGV[i + 2])
    local args = {}
    for j = 1, count * 2 do args[j] = ARGV[i + 2 + j] end
    redis.call('HSET', ARGV[i + 1], unpack(args))
    i = i + 3 + count * 2
  elseif op == 'X' then
    redis.call('XADD', ARGV[i + 1], 'MAXLEN', '~', ARGV[i + 2], '*', 'data', ARGV[i + 3])
    i = i + 4
  elseif op == 'L' then
    redis.call('RPUSH', ARGV[i + 1], ARGV[i + 2])
    redis.call('EXPIRE', ARGV[i + 1], ARGV[i + 3])
    i = i + 4
  elseif op == 'A' then
    redis.call('XACK', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'T' then
    redis.call('EXPIRE', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'Z' then
    redis.call('ZADD', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'R' then
    redis.call('ZREM', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'S' then
    redis.call('SADD', ARGV[i + 1], ARGV[i + 2])
    redis.call('EXPIRE', ARGV[i + 1], ARGV[i + 3])
    i = i + 4
  elseif op == 'M' then
    redis.call('SREM', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'U' then
    local prefix, carrier, cid = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local msg, part, ttl = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    local events, maxlen, ts = ARGV[i + 7], ARGV[i + 8], ARGV[i + 9]
    redis.call('SET', prefix .. 'cid:' .. carrier .. ':' .. cid, msg .. '\t' .. part, 'EX', ttl)
    local ekey = prefix .. 'early:' .. carrier .. ':' .. cid
    local early = redis.call('GET', ekey)
    if early then
      redis.call('DEL', ekey)
      local r = cjson.decode(early)
      local applied = apply_receipt(prefix, carrier, msg, part, r[1], r[2], r[3], r[4],
                                    events, maxlen, ttl)
      results[#results + 1] = FINAL[word(applied)] and ('early:' .. applied) or 'early'
    else
      results[#results + 1] = 'mapped'
    end
    i = i + 10
  elseif op == 'G' then
    local key, mode, skip = ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    local pass
    if mode == 'absent' then
      pass = redis.call('EXISTS', key) == 0
    else
      pass = not FINAL[redis.call('HGET', key, 'status') or '']
    end
    i = i + 4
    if not pass then i = i + skip end
  elseif op == 'Q' then
    settle_indexes(ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'K' then
    local prefix, carrier, dest, msg = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local ttl, events, maxlen = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
    local result = 'held'
    if not FINAL[redis.call('HGET', prefix .. 'msg:' .. msg, 'status') or ''] then
      local ukey = prefix .. 'unknown:' .. carrier .. ':' .. dest
      redis.call('SADD', ukey, msg)
      redis.call('EXPIRE', ukey, ttl)
      local dkey = prefix .. 'earlydest:' .. carrier .. ':' .. dest
      -- the one held message, nothing else in flight: a receipt parked for it is its own
      if redis.call('SCARD', ukey) == 1
          and redis.call('SCARD', prefix .. 'inflight:' .. dest) == 0 then
        for _, early in ipairs(redis.call('LRANGE', dkey, 0, -1)) do
          local r = cjson.decode(early)
          if r[5] == msg then
            redis.call('DEL', dkey)
            for j = 6, #r do redis.call('DEL', prefix .. 'early:' .. carrier .. ':' .. r[j]) end
            local applied = apply_receipt(prefix, carrier, msg, '?', r[1], r[2], r[3], r[4],
                                          events, maxlen, ttl)
            result = FINAL[word(applied)] and ('early:' .. applied) or 'held'
            break
          end
        end
      end
    end
    results[#results + 1] = result
    i = i + 8
  elseif op == 'D' then
    local prefix, carrier = ARGV[i + 1], ARGV[i + 2]
    local ncand = tonumber(ARGV[i + 3])
    local base = i + 3 + ncand
    local state, final, err, ts = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
    local dest, events, maxlen, ttl = ARGV[base + 5], ARGV[base + 6], ARGV[base + 7], ARGV[base + 8]
    -- candidates come most preferred first (gateway/receipts.py): the first that maps wins
    local found = nil
    for j = 1, ncand do
      found = redis.call('GET', prefix .. 'cid:' .. carrier .. ':' .. ARGV[i + 3 + j])
      if found then break end
    end
    local result
    if found then
      local tab = string.find(found, '\t', 1, true)
      result = apply_receipt(prefix, carrier, string.sub(found, 1, tab - 1),
                             string.sub(found, tab + 1), state, final, err, ts, events, maxlen, ttl)
    else
      local held, flying = {}, {}
      if dest ~= '' and final == '1' then
        held = redis.call('SMEMBERS', prefix .. 'unknown:' .. carrier .. ':' .. dest)
        flying = redis.call('SMEMBERS', prefix .. 'inflight:' .. dest)
      end
      if #held == 1 and #flying == 0 then  -- see "Receipts by destination" above
        result = apply_receipt(prefix, carrier, held[1], '?', state, final, err, ts,
                               events, maxlen, ttl)
      else
        local packed = cjson.encode({state, final, err, ts})
        local cands = {}
        for j = 1, ncand do
          cands[j] = ARGV[i + 3 + j]
          redis.call('SET', prefix .. 'early:' .. carrier .. ':' .. cands[j], packed, 'EX', 600)
        end
        if #held == 0 and #flying == 1 then
          -- its one possible owner may never get its response recorded (a crash mid-submit):
          -- it is then held (op K) and settled by this, if nothing else went to `dest` since
          local dkey = prefix .. 'earlydest:' .. carrier .. ':' .. dest
          redis.call('RPUSH', dkey, cjson.encode({state, final, err, ts, flying[1],
                                                  unpack(cands)}))
          redis.call('EXPIRE', dkey, 600)
        end
        result = 'unmatched'
      end
    end
    results[#results + 1] = result
    i = base + 9
  else
    return redis.error_reply('smsgw apply: unknown op ' .. tostring(op) .. ' at ' .. i)
  end
end
return results
