-- ARGV: prefix, ttl_ms, members. Returns the members Redis no longer has.
local expiry = now_ms() + tonumber(ARGV[2])
local missing = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', EXPIRY, ARGV[i]) then
    redis.call('ZADD', EXPIRY, expiry, ARGV[i])
  else
    missing[#missing + 1] = ARGV[i]
  end
end
return missing
