"""Gateway rate limits: `limit` requests per `interval` seconds, `fixed` (calendar windows aligned to the
interval) or `sliding` (the last `interval` seconds, an exact log of timestamps). Check-and-count happens
without an await in between, so it is exact under any concurrency on one event loop. With Redis
(`kumo.storage.redis_ratelimit`) the same check is one atomic script, exact across every node."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, interval: int, technique: str) -> tuple[bool, float]: ...


class MemoryRateLimiter:
    def __init__(self, clock=time.time):
        self._clock = clock
        self._fixed: dict[str, tuple[int, int]] = {}
        self._sliding: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    async def hit(self, key: str, limit: int, interval: int, technique: str) -> tuple[bool, float]:
        """Count one request; (allowed, seconds until a request would be allowed)."""
        now = self._clock()
        with self._lock:
            if technique == "sliding":
                log = self._sliding.setdefault(key, deque())
                while log and log[0] <= now - interval:
                    log.popleft()
                if len(log) >= limit:
                    return False, max(0.0, log[0] + interval - now)
                log.append(now)
                return True, 0.0
            window = int(now // interval)
            current, count = self._fixed.get(key, (window, 0))
            if current != window:
                current, count = window, 0
            if count >= limit:
                return False, (window + 1) * interval - now
            self._fixed[key] = (current, count + 1)
            return True, 0.0
