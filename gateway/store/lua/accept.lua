-- smsgw: accept a batch of outbound messages idempotently.
-- KEYS[1]: the events stream (ARGV's `events`, declared so that redis-py's cluster client
-- routes the call to its slot's master; every key written is under its hash tag).
-- ARGV: prefix events maxlen ttl ts, then per message: id entry payload event dest
-- The hash's `ts` is its accepted event's (ISO-8601), as every state write's is. The hash and
-- the history get a TTL of ttl + 1% and `kept` says until when (apply.lua "Lifetimes"): the
-- later events of a message that comes to its end within that 1% renew neither.
-- Returns per message, in order, its kind and for an existing record 7 words more:
--   'new'       the record was created (status accepted, accepted event written): the one
--               word alone, as nearly every message's answer is this
--   'resume'    the record exists for this same stream entry (a reclaim), then
--   'duplicate' the id was already taken by another entry (the caller acks it), then
--               status, inflight, attempt, outcome, ref, cids, dest (from the record)
local prefix, events, maxlen, ttl, ts = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local life = ttl + math.ceil(ttl / 100)
-- numbers spelt once per call: redis.call spells a Lua number with printf's %.17g each time
local life_word = tostring(life)
local kept  -- Redis's clock (whole seconds) + life, read at the first new record, spelt
local out = {}
local i = 6
while i <= #ARGV do
  local id, entry, payload, event, dest = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local mkey = prefix .. 'msg:' .. id
  local existing = redis.call('HMGET', mkey, 'entry', 'status', 'inflight', 'attempt',
                             'outcome', 'ref', 'cids', 'dest')
  if not existing[2] then
    local iso = string.match(event, '"ts":"([^"]*)"') or ts
    if not kept then kept = tostring(tonumber(redis.call('TIME')[1]) + life) end
    redis.call('HSET', mkey, 'status', 'accepted', 'ts', iso, 'entry', entry, 'payload', payload,
               'attempt', '0', 'dest', dest, 'delivered_parts', '0', 'kept', kept)
    redis.call('EXPIRE', mkey, life_word)
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'data', event)
    redis.call('RPUSH', mkey .. ':history', event)
    redis.call('EXPIRE', mkey .. ':history', life_word)
    out[#out + 1] = 'new'
  else
    local kind = 'duplicate'
    if existing[1] == entry then kind = 'resume' end
    out[#out + 1] = kind
    for j = 2, 8 do out[#out + 1] = existing[j] or '' end
  end
  i = i + 5
end
return out
