-- smsgw: claim due entries of the deferred set with a lease.
-- KEYS[1] deferred zset. ARGV: prefix now lease limit (the prefix of KEYS[1]'s shard: on
-- Redis Cluster every key of a call shares KEYS[1]'s hash tag, and so its slot).
-- A claimed id is not removed: its score moves to now + lease, so if this instance dies the
-- message becomes due again and another instance takes it. The caller removes it (ZREM) or
-- re-adds it with a new due time once the message's fate is recorded.
-- Returns per id: id, payload, attempt, inflight, status, outcome, ref, cids, dest
local prefix, now, lease, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + lease, id)
  local f = redis.call('HMGET', prefix .. 'msg:' .. id, 'payload', 'attempt', 'inflight',
                       'status', 'outcome', 'ref', 'cids', 'dest')
  out[#out + 1] = id
  for j = 1, 8 do out[#out + 1] = f[j] or '' end
end
return out
