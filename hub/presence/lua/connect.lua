-- ARGV: prefix, user_id, role, member, ttl_ms, background ("0" or "1")
local uid, member = ARGV[2], ARGV[4]
local now = now_ms()
ensure(uid, ARGV[3], now)
redis.call('HSET', sockets_key(uid), member, ARGV[6])
redis.call('ZADD', EXPIRY, now + tonumber(ARGV[5]), member)
redis.call('HDEL', user_key(uid), 'grace_until')
redis.call('ZREM', GRACE, uid)
local previous = settle(uid, now)
if previous then return {record(uid, previous)} end
return {}
