"""Spend-limit counters in Redis, shared by every kumo node: one Lua script reads every budget of a call, one adds
a finished call's cost to them, each atomic and timed by Redis's own clock (nodes with skewed clocks agree).
Fixed windows are one INCRBYFLOAT counter per window; sliding windows a sorted set of (time, cost) entries.
Without Redis the check follows `fail_open`, like the rate limits, and says so in the log."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kumo.gateway.controls.spend import Budget

log = logging.getLogger("kumo.spend")

# A sliding window is a sorted set of `seq:cost` members scored by time, and `<key>:total`, their running sum,
# which expires with it: a check subtracts what expired since the last one instead of summing every call in the
# window (864k of them in a day's window at 10 calls a second, each check blocking Redis for every node).
# A set without its total (kept by an earlier kumo) has it summed once.
RUNNING_TOTAL = """
local function cost_of(member)
  return tonumber(string.match(member, ':([^:]+)$'))
end
local function running_total(key)
  local stored = redis.call('GET', key .. ':total')
  if stored then
    return tonumber(stored)
  end
  local total = 0
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    total = total + cost_of(member)
  end
  local ttl = redis.call('PTTL', key)
  if ttl > 0 then  -- expiring with its set
    redis.call('SET', key .. ':total', string.format('%.17g', total), 'PX', ttl)
  elseif ttl == -1 then
    redis.call('SET', key .. ':total', string.format('%.17g', total))
  end
  return total
end
"""

SPENT = RUNNING_TOTAL + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  if ARGV[2 * i] == 'sliding' then
    local cutoff = now - window
    local total = running_total(key)
    local expired = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff)
    if #expired > 0 then
      for _, member in ipairs(expired) do
        total = total - cost_of(member)
      end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
      if redis.call('ZCARD', key) == 0 then
        redis.call('DEL', key .. ':total')
        total = 0
      else
        redis.call('SET', key .. ':total', string.format('%.17g', total), 'KEEPTTL')
      end
    end
    out[i] = string.format('%.17g', math.max(total, 0))
  else
    out[i] = redis.call('GET', key .. ':' .. math.floor(now / window)) or '0'
  end
end
return out
"""

ADD = RUNNING_TOTAL + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local cost = ARGV[1]
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  if ARGV[2 * i + 1] == 'sliding' then
    if redis.call('EXISTS', key) == 1 then
      running_total(key)  -- (summed first if an earlier kumo kept the set without it)
    else
      redis.call('DEL', key .. ':total')
    end
    local seq = redis.call('INCR', key .. ':seq')
    redis.call('ZADD', key, now, seq .. ':' .. cost)
    redis.call('INCRBYFLOAT', key .. ':total', cost)
    for _, name in ipairs({key, key .. ':seq', key .. ':total'}) do
      redis.call('EXPIRE', name, window + 1)
    end
  else
    local counter = key .. ':' .. math.floor(now / window)
    redis.call('INCRBYFLOAT', counter, cost)
    redis.call('EXPIRE', counter, window + 1)
  end
end
return 1
"""


class RedisSpendCounter:
    def __init__(self, url: str, *, fail_open: bool = True, prefix: str = "kumo:spend:"):
        self.client = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.fail_open = fail_open
        self.prefix = prefix
        self._spent = self.client.register_script(SPENT)
        self._add = self.client.register_script(ADD)

    def _keys(self, budgets: list[Budget]) -> list[str]:
        return [f"{self.prefix}{b.technique}:{b.key}" for b in budgets]

    async def spent(self, budgets: list[Budget]) -> list[float]:
        args: list = []
        for b in budgets:
            args += [b.window, b.technique]
        try:
            return [float(v) for v in await self._spent(keys=self._keys(budgets), args=args)]
        except (RedisError, OSError) as exc:
            log.warning("spend limits without Redis (%s): %s", "allowing" if self.fail_open else "refusing", exc)
            return [0.0 if self.fail_open else float("inf")] * len(budgets)

    async def add(self, budgets: list[Budget], cost: float) -> None:
        args: list = [repr(float(cost))]
        for b in budgets:
            args += [b.window, b.technique]
        try:
            await self._add(keys=self._keys(budgets), args=args)
        except (RedisError, OSError) as exc:
            log.warning("could not add $%g to %d spend limits: Redis is unreachable: %s", cost, len(budgets), exc)

    async def close(self) -> None:
        await self.client.aclose()
