"""Token buckets in Redis, shared by every worker and instance (CHAT_RATE_LIMIT_REDIS_URL).

One Lua script per check reads, refills and spends a bucket atomically, on the Redis
server's clock, so N processes share one limit instead of N (Supabase's guidance for edge
functions: a shared store). When Redis cannot be reached the check falls back to the
process's own buckets (the limits stay, per process, as without Redis) and Redis is not
asked again for RETRY_REDIS_AFTER_SECONDS, so an outage costs one failed connection per
process and window, not one per request.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from toolkit.config import Rate
from toolkit.functions.ratelimit import TokenBuckets

__all__ = ["RETRY_REDIS_AFTER_SECONDS", "RedisBuckets"]

log = logging.getLogger("toolkit.functions")

RETRY_REDIS_AFTER_SECONDS = 5.0
KEY_PREFIX = "chat-toolkit:rate:"

# KEYS[1] the bucket; ARGV capacity, refill per second. Returns the wait in seconds as text
# (a Lua number would come back truncated to an integer).
_TAKE = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or capacity
local stamp = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * refill)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / refill
else
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """The buckets named `name`, in Redis; `take` as TokenBuckets.take, but awaited."""

    def __init__(self, client: aioredis.Redis, name: str, rate: Rate) -> None:
        self._script = client.register_script(_TAKE)
        self._prefix = f"{KEY_PREFIX}{name}:"
        self._capacity = rate.requests
        self._refill = rate.requests / rate.seconds
        self._fallback = TokenBuckets(rate)
        self._down_until = 0.0

    async def take(self, key: str) -> float:
        """Spend one request if allowed; else the seconds to wait. Never raises for Redis."""
        if time.monotonic() < self._down_until:
            return self._fallback.take(key)
        try:
            wait = await self._script(
                keys=[self._prefix + key], args=[self._capacity, repr(self._refill)]
            )
        except (RedisError, OSError) as exc:
            log.warning(
                "rate_limit_redis_unavailable %s: using in-process buckets for %.0f s",
                type(exc).__name__,
                RETRY_REDIS_AFTER_SECONDS,
            )
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
            return self._fallback.take(key)
        return float(wait)
