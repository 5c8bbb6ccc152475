"""How many logs a gateway holds, for retention (`log_management`), without counting them on every batch.

`SELECT count(*)` over one gateway's logs reads its whole index: 88 ms at a million logs on SQLite, and
about a second at the 10 million a gateway may keep, for every batch of logs written (one a second). The
count is taken once, then kept up to date by this process's own writes, and taken again every `REFRESH`
seconds, so that what other nodes write to the same PostgreSQL is seen within that time; a deletion through
the logs API makes the next batch count again. Scaled out, retention may overshoot its limit by what the
other nodes wrote since the last count, as Cloudflare's own retention is approximate (it deletes 0.1 % at a
time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

REFRESH = 60.0  # seconds a count is trusted before it is taken again

Key = tuple[str, str]  # (account, gateway)


class LogCounts:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._known: dict[Key, tuple[int, float]] = {}  # count, when it was taken
        self._generation = 0  # bumped by every `forget`: a count begun before one is not kept
        self._lock = threading.Lock()

    def count(self, key: Key, count_now: Callable[[], int]) -> tuple[int, int]:
        """The gateway's log count (counted with `count_now` when unknown or stale) and the generation to hand
        back to `keep`."""
        with self._lock:
            generation, known = self._generation, self._known.get(key)
        if known is not None and self.clock() - known[1] < REFRESH:
            return known[0], generation
        counted = count_now()
        with self._lock:
            if generation == self._generation:
                self._known[key] = (counted, self.clock())
        return counted, generation

    def keep(self, key: Key, count: int, generation: int) -> None:
        """The count once a batch is committed; if something was forgotten since it was read, the next batch
        counts again instead."""
        with self._lock:
            known = self._known.get(key)
            if known is None:
                return
            if generation == self._generation:
                self._known[key] = (count, known[1])
            else:
                del self._known[key]

    def forget(self, key: Key | None = None) -> None:
        """Logs were deleted, or a write failed: count again (every gateway's when `key` is None)."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._known.clear()
            else:
                self._known.pop(key, None)
