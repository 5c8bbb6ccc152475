"""The embedded response cache stays within its size: expired entries go first (found through their index),
then the oldest; its running total of bytes matches what is stored."""

from __future__ import annotations

import time

from kumo.gateway.cache import CachedResponse
from kumo.storage.sqlite_cache import SqliteCache


def entry(size: int, ttl: float) -> CachedResponse:
    return CachedResponse(200, {"content-type": "application/json"}, [b"x" * size], time.time() + ttl)


def stored(cache: SqliteCache) -> tuple[list[str], int]:
    with cache.db.reading() as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM cache ORDER BY stored_at")]
        total = conn.execute("SELECT coalesce(sum(size), 0) FROM cache").fetchone()[0]
    return keys, total


def test_expired_first_then_oldest(tmp_path):
    cache = SqliteCache(tmp_path / "cache.sqlite3", max_bytes=1000)
    cache.put("old-a", entry(300, 60))
    cache.put("soon-gone", entry(300, 0.05))
    cache.put("old-b", entry(300, 60))
    time.sleep(0.1)
    cache.put("new", entry(300, 60))  # over: the expired one goes, nothing else
    assert stored(cache) == (["old-a", "old-b", "new"], 900) and cache._bytes == 900
    cache.put("newer", entry(300, 60))  # over, nothing expired: the oldest goes
    assert stored(cache) == (["old-b", "new", "newer"], 900) and cache._bytes == 900
    cache.put("new", entry(500, 60))  # a replacement counts its new size only
    keys, total = stored(cache)
    assert total == cache._bytes <= 1000 and keys[-1] == "new"
    assert cache.get("newer") is not None and cache.get("old-a") is None
    cache.close()


def test_the_expired_are_found_by_index(tmp_path):
    cache = SqliteCache(tmp_path / "cache.sqlite3", max_bytes=1000)
    with cache.db.reading() as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN DELETE FROM cache WHERE expires_at <= ?", (1.0,)).fetchall()
    assert "cache_by_expiry" in str(plan)
    cache.close()
