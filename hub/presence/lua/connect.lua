-- ARGV: prefix, pid, member, ttl_ms, background ("0" or "1")
local pid, member = ARGV[2], ARGV[3]
local now = now_ms()
ensure(pid, now)
redis.call('HSET', sockets_key(pid), member, ARGV[5])
redis.call('ZADD', EXPIRY, now + tonumber(ARGV[4]), member)
redis.call('HDEL', person_key(pid), 'grace_until')
redis.call('ZREM', GRACE, pid)
local previous = settle(pid, now)
if previous then return {record(pid, previous)} end
return {}
