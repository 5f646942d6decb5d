-- ARGV: prefix, pid (a worker's), booking_id ("" to clear)
local pid, booking = ARGV[2], ARGV[3]
local now = now_ms()
if booking == '' then
  if redis.call('EXISTS', person_key(pid)) == 0 then return {} end
  redis.call('HDEL', person_key(pid), 'booking')
else
  ensure(pid, now)
  redis.call('HSET', person_key(pid), 'booking', booking)
end
local previous = settle(pid, now)
if previous then return {record(pid, previous)} end
return {}
