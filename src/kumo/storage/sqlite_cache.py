"""The gateway's response cache in SQLite, bounded by total bytes (oldest entries are evicted first)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kumo.gateway.cache import MAX_CACHEABLE_BYTES, CachedResponse
from kumo.storage.sqlite import SqliteDatabase


class SqliteCache:
    def __init__(self, path: Path, max_bytes: int):
        self.db = SqliteDatabase(path, synchronous="NORMAL", branch="cache")  # a lost cache entry is only a miss
        self.max_bytes = max_bytes
        with self.db.reading() as conn:
            self._bytes = conn.execute("SELECT coalesce(sum(size), 0) FROM cache").fetchone()[0]

    def get(self, key):
        with self.db.reading() as conn:
            row = conn.execute("SELECT status, headers, chunks, lengths, expires_at FROM cache WHERE key = ?",
                               (key,)).fetchone()
        if row is None:
            return None
        status, headers, blob, lengths, expires_at = row
        if expires_at <= time.time():
            return None
        chunks, start = [], 0
        for length in json.loads(lengths):
            chunks.append(bytes(blob[start : start + length]))
            start += length
        return CachedResponse(status, json.loads(headers), chunks, expires_at)

    def put(self, key, entry):
        size = entry.size
        if size > min(self.max_bytes, MAX_CACHEABLE_BYTES):
            return
        with self.db.transaction() as conn:
            old = conn.execute("SELECT size FROM cache WHERE key = ?", (key,)).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, status, headers, chunks, lengths, size, expires_at, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, entry.status, json.dumps(entry.headers), b"".join(entry.chunks),
                 json.dumps([len(c) for c in entry.chunks]), size, entry.expires_at, time.time()),
            )
            self._bytes += size - (old[0] if old else 0)
            if self._bytes > self.max_bytes:
                # the expired first (an index range), their sizes taken off the total as they go: summing every
                # row's size here read the whole file on each put once the cache was full
                expired = conn.execute("DELETE FROM cache WHERE expires_at <= ? RETURNING size", (time.time(),))
                self._bytes -= sum(row[0] for row in expired)
                while self._bytes > self.max_bytes:
                    victim = conn.execute("SELECT key, size FROM cache ORDER BY stored_at LIMIT 1").fetchone()
                    if victim is None:
                        break
                    conn.execute("DELETE FROM cache WHERE key = ?", (victim[0],))
                    self._bytes -= victim[1]

    def close(self):
        self.db.close()
