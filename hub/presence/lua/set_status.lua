-- ARGV: prefix, user_id, role, status
local uid = ARGV[2]
local now = now_ms()
ensure(uid, ARGV[3], now)
redis.call('HSET', user_key(uid), 'chosen', ARGV[4])
return {record(uid, settle(uid, now))}
