-- ARGV: prefix, pid, status
local pid = ARGV[2]
local now = now_ms()
ensure(pid, now)
redis.call('HSET', person_key(pid), 'chosen', ARGV[3])
return {record(pid, settle(pid, now))}
