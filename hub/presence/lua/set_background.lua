-- ARGV: prefix, pid, member, background ("0" or "1")
if redis.call('HEXISTS', sockets_key(ARGV[2]), ARGV[3]) == 1 then
  redis.call('HSET', sockets_key(ARGV[2]), ARGV[3], ARGV[4])
end
return 0
