-- Prepended to every script in this folder (hub/presence/redis.py joins them at load time).
-- ARGV[1] is the key prefix; keys are built here because the sweeper only learns which people it
-- touches from the data.
local P = ARGV[1]
local EXPIRY = P .. 'expiry'
local GRACE = P .. 'grace'
local CHOOSABLE = {
  customer = {}, worker = {online = true, on_leave = true},
  support = {online = true, away = true}, admin = {online = true, away = true},
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function user_key(uid) return P .. 'user:' .. uid end
local function sockets_key(uid) return P .. 'sockets:' .. uid end
local function status_key(role, status) return P .. 'status:' .. role .. ':' .. status end

-- Create the person, or move them to a new role (dropping what that role cannot have).
local function ensure(uid, role, now)
  local u = user_key(uid)
  local old = redis.call('HGET', u, 'role')
  if not old then
    redis.call('HSET', u, 'role', role, 'chosen', 'online', 'status', 'offline', 'since', now)
    redis.call('SADD', status_key(role, 'offline'), uid)
  elseif old ~= role then
    local f = redis.call('HMGET', u, 'status', 'chosen')
    redis.call('SMOVE', status_key(old, f[1]), status_key(role, f[1]), uid)
    redis.call('HSET', u, 'role', role)
    if not CHOOSABLE[role][f[2]] then redis.call('HSET', u, 'chosen', 'online') end
    if role ~= 'worker' then redis.call('HDEL', u, 'booking') end
  end
end

-- Bring the effective status up to date; return the previous one if it moved, else nil.
local function settle(uid, now)
  local u = user_key(uid)
  local f = redis.call('HMGET', u, 'role', 'chosen', 'booking', 'status', 'grace_until')
  local role, chosen, booking, status, grace = f[1], f[2], f[3], f[4], f[5]
  if not role then return nil end
  local effective
  if redis.call('HLEN', sockets_key(uid)) == 0 and (not grace or tonumber(grace) <= now) then
    effective = 'offline'
    if grace then
      redis.call('HDEL', u, 'grace_until')
      redis.call('ZREM', GRACE, uid)
    end
  elseif booking then
    effective = 'busy'
  else
    effective = chosen
  end
  if effective == status then return nil end
  redis.call('HSET', u, 'status', effective, 'since', now)
  redis.call('SMOVE', status_key(role, status), status_key(role, effective), uid)
  return status
end

-- {user_id, role, status, previous or nil, since, last_seen or nil, booking or nil}
local function record(uid, previous)
  local f = redis.call('HMGET', user_key(uid), 'role', 'status', 'since', 'last_seen', 'booking')
  return {uid, f[1], f[2], previous or false, f[3], f[4], f[5]}
end

-- Drop one socket; if it was the person's last, note last_seen and start the grace period.
local function leave(uid, member, seen, grace_until, now)
  redis.call('ZREM', EXPIRY, member)
  local s = sockets_key(uid)
  if redis.call('HDEL', s, member) == 0 or redis.call('HLEN', s) > 0 then return nil end
  if redis.call('EXISTS', user_key(uid)) == 0 then return nil end
  redis.call('HSET', user_key(uid), 'last_seen', seen, 'grace_until', grace_until)
  redis.call('ZADD', GRACE, grace_until, uid)
  return settle(uid, now)  -- offline at once when the grace period is already over
end
