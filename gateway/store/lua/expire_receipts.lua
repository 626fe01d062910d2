-- smsgw: settle messages whose final delivery receipt never came (carrier receipt_timeout).
-- KEYS[1] the receipt-due zset (score: when the wait ends). ARGV: prefix now limit ts events
-- maxlen ttl code reason; `now` is epoch seconds, `ts` the same instant in ISO-8601.
-- The prefix and the events stream are KEYS[1]'s shard's (one hash tag on Redis Cluster).
-- Takes up to `limit` ids due by `now` and removes each from the set; one still `submitted`
-- becomes `expired` with error {code, reason}: hash, history and event, as apply.lua's
-- finish() writes a final receipt. Any other status (a receipt finished it, the record is
-- gone) is only removed. Atomic per call, so instances sweeping at once never both settle
-- one id. The hash and history TTLs are renewed as apply.lua renews them ("Lifetimes").
-- Returns how many ids it took from the set, then per settled id: id, carrier, dest.
local prefix, now, limit, ts = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local events, maxlen, ttl, code, reason = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local clock  -- Redis's time in whole seconds, read at the first settled id
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local out = {#ids}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local mkey = prefix .. 'msg:' .. id
  local f = redis.call('HMGET', mkey, 'status', 'carrier', 'carrier_message_id', 'parts',
                       'attempt', 'dest', 'kept')
  if f[1] == 'submitted' then
    local carrier, cids, dest = f[2] or '', f[3], f[6]
    local fields = {'status', 'expired', 'ts', ts, 'error_code', code, 'error_reason', reason}
    if not clock then clock = tonumber(redis.call('TIME')[1]) end
    local life = nil
    if (tonumber(f[7]) or 0) <= clock + ttl then
      life = ttl + math.ceil(ttl / 100)
      fields[#fields + 1], fields[#fields + 2] = 'kept', clock + life
    end
    redis.call('HSET', mkey, unpack(fields))
    local event = {id=id, status='expired', ts=ts, carrier=carrier, parts=tonumber(f[4]),
                   attempt=tonumber(f[5]), error={code=code, reason=reason}}
    if cids and cids ~= '' then event['carrier_message_id'] = cids end
    local data = cjson.encode(event)
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'data', data)
    redis.call('RPUSH', mkey .. ':history', data)
    if life then
      redis.call('EXPIRE', mkey .. ':history', life)
      redis.call('EXPIRE', mkey, life)
    end
    redis.call('ZREM', prefix .. 'deferred', id)
    if dest then redis.call('SREM', prefix .. 'unknown:' .. carrier .. ':' .. dest, id) end
    out[#out + 1] = id
    out[#out + 1] = carrier
    out[#out + 1] = dest or ''
  end
end
return out
