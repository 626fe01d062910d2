-- smsgw: take the receipts parked unmatched in a shard that are due to be tried in the others
-- (apply.lua, "Orphans"). KEYS[1] the shard's `orphans` zset (score: when to try). ARGV:
-- prefix now limit. Takes up to `limit` members due by `now` off the set; returns those whose
-- receipt is still parked (its first id's `early:` key is there), as their JSON. The others
-- were applied meanwhile (their submit_sm_resp was recorded in this shard) or expired.
-- Atomic, so instances sweeping at once never take one receipt twice.
local prefix, now, limit = ARGV[1], ARGV[2], ARGV[3]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local r = cjson.decode(member)
  if redis.call('EXISTS', prefix .. 'early:' .. r[1] .. ':' .. r[6]) == 1 then
    out[#out + 1] = member
  end
end
return out
