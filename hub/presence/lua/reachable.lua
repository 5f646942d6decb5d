-- ARGV: prefix, pid. A socket counts only until it expires, even before a sweep drops it.
local now = now_ms()
local sockets = redis.call('HGETALL', sockets_key(ARGV[2]))
for i = 1, #sockets, 2 do
  if sockets[i + 1] == '0' then
    local expiry = redis.call('ZSCORE', EXPIRY, sockets[i])
    if expiry and tonumber(expiry) > now then return 1 end
  end
end
return 0
