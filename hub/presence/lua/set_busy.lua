-- ARGV: prefix, worker_id, booking_id ("" to clear)
local uid, booking = ARGV[2], ARGV[3]
local now = now_ms()
local role = redis.call('HGET', user_key(uid), 'role')
if booking == '' then
  if not role then return {} end
  redis.call('HDEL', user_key(uid), 'booking')
else
  if role and role ~= 'worker' then return redis.error_reply('PRESENCE_NOT_A_WORKER ' .. role) end
  ensure(uid, 'worker', now)
  redis.call('HSET', user_key(uid), 'booking', booking)
end
local previous = settle(uid, now)
if previous then return {record(uid, previous)} end
return {}
