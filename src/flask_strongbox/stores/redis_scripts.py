"""The Lua scripts behind :class:`~flask_strongbox.stores.redis.RedisStore`'s
writes. Each touches one key, so each is atomic and safe on Cluster.

A record is a hash; a key of another type, or a hash whose numbers are not
numbers, is not one: the scripts treat it as absent (writes over it return
false, purge removes it) and never fail on it.
"""

from __future__ import annotations

# Shared by the scripts below: a field that is a number (NaN is not), and the
# record's type check.
_PRELUDE = """
local function number(s) local n = tonumber(s) if n and n == n then return n end end
local function is_hash(key) return redis.call('TYPE', key).ok == 'hash' end
"""

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# The next two return the old user, expires, absolute_expires and version, so
# the caller can tell whether the user index must take or outlive the record.
# A stored record whose times or version are not numbers is treated as gone.
# ARGV: expected version, now, ttl ms (0: the new record is already dead), fields.
_REPLACE = """
if not is_hash(KEYS[1]) then return false end
local cur = redis.call('HMGET', KEYS[1], 'user', 'expires', 'absolute_expires', 'version')
local expires = number(cur[2])
if cur[4] ~= ARGV[1] or not expires or expires <= tonumber(ARGV[2]) or not number(cur[3]) then
  return false
end
if ARGV[3] == '0' then redis.call('DEL', KEYS[1]) return {} end
redis.call('HDEL', KEYS[1], 'user', 'info')
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return cur
"""
# ARGV: now, last_seen, expires, ttl ms (0: the record is now dead).
_TOUCH = """
if not is_hash(KEYS[1]) then return false end
local cur = redis.call('HMGET', KEYS[1], 'user', 'expires', 'absolute_expires', 'version')
local expires = number(cur[2])
if not expires or expires <= tonumber(ARGV[1]) or not number(cur[3])
   or not string.match(cur[4] or '', '^%-?%d+$') then
  return false
end
if ARGV[4] == '0' then redis.call('DEL', KEYS[1]) return {} end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return cur
"""
_DELETE_IF_OWNED = """
if is_hash(KEYS[1]) and redis.call('HGET', KEYS[1], 'user') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Also removes what is not a record: another type, or an expiry that is no number.
_DELETE_IF_EXPIRED = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
local expires = kind == 'hash' and number(redis.call('HGET', KEYS[1], 'expires'))
if not expires or expires <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
"""
# GT keeps scores rising, so a member re-added after a reader saw it stale gets
# a new score and the reader's conditional removal below leaves it alone. An
# index key of another type than a sorted set is not an index: it is replaced.
_INDEX_ADD = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'zset' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""
_INDEX_DROP = """
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then return 0 end
local removed = 0
for i = 1, #ARGV, 2 do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""

# A lease is the string "<until> <token>" under a key of its own, which the
# server expires at until; until is also compared with the caller's now, as a
# record's expiry is. Anything else under the key (another type, no token, an
# end that is not a finite number) is no lease and is overwritten.
# ARGV: token, until, now, ttl ms.
_LOCK = """
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  local ends, holder = string.match(redis.call('GET', KEYS[1]), '^(%S+) (.*)$')
  ends = number(ends)
  if holder ~= ARGV[1] and ends and ends > tonumber(ARGV[3]) and ends < math.huge then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[1], 'PX', ARGV[4])
return 1
"""
# Compare-and-delete: only the token holding the lease releases it. ARGV: token.
_UNLOCK = """
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if string.match(redis.call('GET', KEYS[1]), '^%S+ (.*)$') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Every script by name, each with the prelude.
SCRIPTS = {
    name: _PRELUDE + body for name, body in {
        "create": _CREATE, "replace": _REPLACE, "touch": _TOUCH, "delete_owned": _DELETE_IF_OWNED,
        "delete_expired": _DELETE_IF_EXPIRED, "index_add": _INDEX_ADD, "index_drop": _INDEX_DROP,
        "lock": _LOCK, "unlock": _UNLOCK,
    }.items()
}
