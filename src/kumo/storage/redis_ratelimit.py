"""Gateway rate limits in Redis: one Lua script per check, so counting is atomic and exact across every kumo
node. Redis's own clock is used, so nodes with skewed clocks agree. If Redis cannot be reached the limiter
follows `fail_open` (allow, the default, or refuse) and logs it; it works again as soon as Redis is back."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("kumo.ratelimit")

FIXED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local interval = tonumber(ARGV[2])
local window = math.floor(now / interval)
local key = KEYS[1] .. ':' .. window
local count = redis.call('INCR', key)
if count == 1 then redis.call('EXPIRE', key, interval + 1) end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', key)
  return {0, tostring((window + 1) * interval - now)}
end
return {1, '0'}
"""

SLIDING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local interval = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tostring(tonumber(oldest[2]) + interval - now)}
end
local seq = redis.call('INCR', KEYS[1] .. ':seq')
redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. seq)
redis.call('EXPIRE', KEYS[1], interval + 1)
redis.call('EXPIRE', KEYS[1] .. ':seq', interval + 1)
return {1, '0'}
"""


class RedisRateLimiter:
    def __init__(self, url: str, *, fail_open: bool = True, prefix: str = "kumo:rl:"):
        self.client = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.fail_open = fail_open
        self.prefix = prefix
        self._fixed = self.client.register_script(FIXED)
        self._sliding = self.client.register_script(SLIDING)

    async def hit(self, key: str, limit: int, interval: int, technique: str) -> tuple[bool, float]:
        script = self._sliding if technique == "sliding" else self._fixed
        try:
            allowed, wait = await script(keys=[self.prefix + technique + ":" + key], args=[limit, interval])
        except (RedisError, OSError) as exc:
            log.warning("rate limiting without Redis (%s): %s", "allowing" if self.fail_open else "refusing", exc)
            return self.fail_open, 1.0
        return bool(int(allowed)), float(wait)

    async def close(self) -> None:
        await self.client.aclose()
