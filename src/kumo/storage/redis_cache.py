"""The gateway's response cache in Redis, shared by every kumo node; Redis expires entries itself (bound
its memory with `maxmemory` + an eviction policy). An unreachable Redis is a cache miss, never an error."""

from __future__ import annotations

import json
import logging
import struct
import time

import redis
from redis.exceptions import RedisError

from kumo.gateway.cache import MAX_CACHEABLE_BYTES, CachedResponse

log = logging.getLogger("kumo.cache")


def encode(entry: CachedResponse) -> bytes:
    head = json.dumps({"status": entry.status, "headers": entry.headers,
                       "lengths": [len(c) for c in entry.chunks]}).encode()
    return struct.pack(">I", len(head)) + head + b"".join(entry.chunks)


def decode(blob: bytes, expires_at: float) -> CachedResponse:
    (size,) = struct.unpack(">I", blob[:4])
    head = json.loads(blob[4 : 4 + size])
    chunks, start = [], 4 + size
    for length in head["lengths"]:
        chunks.append(blob[start : start + length])
        start += length
    return CachedResponse(head["status"], head["headers"], chunks, expires_at)


class RedisCache:
    def __init__(self, url: str, prefix: str = "kumo:cache:"):
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix

    def get(self, key: str) -> CachedResponse | None:
        try:
            pipe = self.client.pipeline()
            pipe.get(self.prefix + key)
            pipe.pttl(self.prefix + key)
            blob, ttl_ms = pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("cache unavailable (a miss): %s", exc)
            return None
        if blob is None or ttl_ms is None or ttl_ms <= 0:
            return None
        return decode(blob, time.time() + ttl_ms / 1000)

    def put(self, key: str, entry: CachedResponse) -> None:
        ttl = entry.expires_at - time.time()
        if ttl <= 0 or entry.size > MAX_CACHEABLE_BYTES:
            return
        try:
            self.client.set(self.prefix + key, encode(entry), px=int(ttl * 1000))
        except (RedisError, OSError) as exc:
            log.warning("cache unavailable (not stored): %s", exc)

    def close(self) -> None:
        self.client.close()
