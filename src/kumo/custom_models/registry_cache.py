"""What every prediction reads from the registry (the model's served version, split and shadow, and the chosen
version's row), kept in memory so a call costs no SQL. One process (embedded) sees every change itself: kept
until changed. Nodes sharing a database re-read after `ttl` seconds, so a promotion on one node reaches the
others within that time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

MAX_ENTRIES = 100_000  # beyond it the cache starts over (each entry is one small row)


class RegistryCache:
    def __init__(self, ttl: float | None):
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> Any:
        """The cached value of `key` while it is fresh, else None."""
        entry = self._entries.get(key)
        if entry is not None and (self.ttl is None or entry[1] > time.monotonic()):
            return entry[0]
        return None

    def get(self, key: Hashable, read: Callable[[], Any]) -> Any:
        """The cached value of `key`, else `read()` (cached unless None: what is missing is asked again)."""
        value = self.peek(key)
        if value is not None:
            return value
        value = read()
        if value is not None:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (value, time.monotonic() + (self.ttl or 0))
        return value

    def forget(self, prefix: tuple) -> None:
        """Drop every entry whose key starts with `prefix` (a change made here)."""
        with self._lock:
            for key in [k for k in self._entries if isinstance(k, tuple) and k[:len(prefix)] == prefix]:
                del self._entries[key]
