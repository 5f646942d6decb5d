-- ARGV: prefix, grace_ms, then pid, member pairs
local now = now_ms()
local grace_until = now + tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local previous = leave(ARGV[i], ARGV[i + 1], now, grace_until, now)
  if previous then out[#out + 1] = record(ARGV[i], previous) end
end
return out
