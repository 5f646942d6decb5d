-- Prepended to every script in this folder (hub/presence/redis.py joins them at load time).
-- ARGV[1] is the key prefix with the group's hash tag (hub/presence/redis.py); keys are built here
-- because the sweeper only learns which people it touches from the data; on a Redis Cluster they
-- all share the group's slot. A person is "<role>:<user id>" (pid): ids are unique within a role only,
-- and roles never contain a colon.
local P = ARGV[1]
local EXPIRY = P .. 'socket-expiry'
local GRACE = P .. 'grace-ends'
local CHOOSABLE = {
  customer = {}, worker = {online = true, on_leave = true},
  support = {online = true, away = true}, admin = {online = true, away = true},
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function split(pid) return string.match(pid, '^([^:]+):(.*)$') end
local function person_key(pid) return P .. 'person:' .. pid end
local function sockets_key(pid) return P .. 'person-sockets:' .. pid end
local function people_key(role, status) return P .. 'people:' .. role .. ':' .. status end

-- Create the person if they are new.
local function ensure(pid, now)
  local u = person_key(pid)
  if redis.call('EXISTS', u) == 0 then
    local role, uid = split(pid)
    redis.call('HSET', u, 'role', role, 'chosen', 'online', 'status', 'offline', 'since', now)
    redis.call('SADD', people_key(role, 'offline'), uid)
  end
end

-- Bring the effective status up to date; return the previous one if it moved, else nil.
local function settle(pid, now)
  local u = person_key(pid)
  local f = redis.call('HMGET', u, 'role', 'chosen', 'booking', 'status', 'grace_until')
  local role, chosen, booking, status, grace = f[1], f[2], f[3], f[4], f[5]
  if not role then return nil end
  local effective
  if redis.call('HLEN', sockets_key(pid)) == 0 and (not grace or tonumber(grace) <= now) then
    effective = 'offline'
    if grace then
      redis.call('HDEL', u, 'grace_until')
      redis.call('ZREM', GRACE, pid)
    end
  elseif booking then
    effective = 'busy'
  else
    effective = chosen
  end
  if effective == status then return nil end
  local _, uid = split(pid)
  redis.call('HSET', u, 'status', effective, 'since', now)
  redis.call('SMOVE', people_key(role, status), people_key(role, effective), uid)
  return status
end

-- {user_id, role, status, previous or nil, since, last_seen or nil, booking or nil}
local function record(pid, previous)
  local f = redis.call('HMGET', person_key(pid), 'role', 'status', 'since', 'last_seen', 'booking')
  local _, uid = split(pid)
  return {uid, f[1], f[2], previous or false, f[3], f[4], f[5]}
end

-- Drop one socket; if it was the person's last, note last_seen and start the grace period.
local function leave(pid, member, seen, grace_until, now)
  redis.call('ZREM', EXPIRY, member)
  local s = sockets_key(pid)
  if redis.call('HDEL', s, member) == 0 or redis.call('HLEN', s) > 0 then return nil end
  if redis.call('EXISTS', person_key(pid)) == 0 then return nil end
  redis.call('HSET', person_key(pid), 'last_seen', seen, 'grace_until', grace_until)
  redis.call('ZADD', GRACE, grace_until, pid)
  return settle(pid, now)  -- offline at once when the grace period is already over
end
