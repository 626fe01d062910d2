-- smsgw: take the receipts parked unmatched in a shard that are due to be tried in the others
-- (apply.lua, "Orphans"). KEYS[1] the shard's `orphans` zset (score: when to try). ARGV:
-- prefix now limit min_wait. Returns up to `limit` members due by `now` whose receipt is still
-- parked (its first id's `early:` key is there), as their JSON; the others were applied
-- meanwhile (their submit_sm_resp was recorded in this shard) or expired, and are dropped.
--
-- A member taken is not removed but made due again later: as long again as it has been
-- parked (at least `min_wait` seconds), so its tries come at 1, 2, 4, 8... times the grace it
-- was first given, until its parking (600 s, apply.lua) runs out. The engine drops it (op
-- `unpark`) once one shard has applied it. So a receipt whose id is mapped only later (a
-- submit_sm_resp recorded late, after a Redis outage say) is still found, and one taken by an
-- instance that dies before trying it is taken again. Atomic: instances sweeping at once never
-- take one receipt at the same time.
local prefix, now, limit, min_wait = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local PARKED_MS = 600000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, member in ipairs(due) do
  local r = cjson.decode(member)
  local left = -2  -- a member without an id (not one apply.lua wrote) is dropped
  if r[7] then left = redis.call('PTTL', prefix .. 'early:' .. r[1] .. ':' .. r[7]) end
  if left > 0 then
    local parked_for = (PARKED_MS - left) / 1000
    redis.call('ZADD', KEYS[1], 'XX', now + math.max(parked_for, min_wait), member)
    out[#out + 1] = member
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out
