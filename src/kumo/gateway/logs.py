"""Request logs, written off the hot path: records go into a queue and a background thread writes them in
batches (one transaction per batch); `close()` flushes what is left."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from kumo.gateway.store import GatewayStore, LogRecord

log = logging.getLogger("kumo.gateway.logs")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BATCH = 500
FLUSH_EVERY = 0.1  # seconds


def new_ulid() -> str:
    """A ULID: 48 bits of milliseconds + 80 random bits, Crockford base32 (sortable by time)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class LogWriter:
    def __init__(self, store: GatewayStore, limits: Callable[[str, str], tuple[int, str] | None]):
        self.store = store
        self.limits = limits
        self._queue: queue.Queue[LogRecord | None] = queue.Queue(maxsize=100_000)
        self._thread = threading.Thread(target=self._run, name="kumo-gateway-logs", daemon=True)
        self._thread.start()
        self._idle = threading.Event()
        self._idle.set()

    def write(self, record: LogRecord) -> None:
        self._idle.clear()
        try:
            self._queue.put_nowait(record)
        except queue.Full:  # never block a request on logging; say so instead
            log.warning("log queue full: dropping the log of request %s", record.id)

    def flush(self, timeout: float = 10) -> None:
        """Wait until everything queued so far is written (tests and the logs API use it)."""
        deadline = time.monotonic() + timeout
        while not (self._queue.empty() and self._idle.is_set()) and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + FLUSH_EVERY
            while len(batch) < BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._write(batch)
                    return
                batch.append(item)
            self._write(batch)
            if self._queue.empty():
                self._idle.set()

    def _write(self, batch: list[LogRecord]) -> None:
        limits = {}
        for record in batch:
            key = (record.account, record.gateway)
            if key not in limits:
                limit = self.limits(*key)
                if limit is not None:
                    limits[key] = limit
        try:
            self.store.write_logs(batch, limits)
        except Exception:
            log.exception("could not write %d gateway logs", len(batch))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
