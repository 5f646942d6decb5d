-- ARGV: prefix, grace_ms, ttl_ms, limit. Returns {more (0 or 1), records}.
local grace, ttl, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local out = {}
local expired = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #expired, 2 do
  local member, expiry = expired[i], tonumber(expired[i + 1])
  local ok, socket = pcall(cjson.decode, member)
  if ok and type(socket) == 'table' and type(socket[3]) == 'string' and split(socket[3]) then
    -- Its node last vouched for it one TTL before the expiry; the grace period runs from the
    -- expiry, not from this sweep, which bounds how long a dead node's people linger.
    local pid = socket[3]
    local previous = leave(pid, member, math.min(now, expiry - ttl), expiry + grace, now)
    if previous then out[#out + 1] = record(pid, previous) end
  else
    redis.call('ZREM', EXPIRY, member)
  end
end
local due = redis.call('ZRANGEBYSCORE', GRACE, '-inf', now, 'LIMIT', 0, limit)
for _, pid in ipairs(due) do
  redis.call('ZREM', GRACE, pid)
  local previous = settle(pid, now)
  if previous then out[#out + 1] = record(pid, previous) end
end
local more = 0
if #expired >= 2 * limit or #due >= limit then more = 1 end
return {more, out}
