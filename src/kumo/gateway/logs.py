"""Request logs, written off the hot path: finished calls go into a queue and a background thread turns them
into records and writes them in batches (one transaction per batch); `close()` flushes what is left.

The thread wakes as seldom as it can: each commit costs ~0.8 ms of CPU (an fsync'ed SQLite transaction), which
at low load, woken every 0.1 s, was a third of a logged request's CPU. It sleeps until a log arrives, then
gathers for FLUSH_EVERY (or until BATCH are waiting) and writes them together; idle, it does not wake at all."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from kumo.errors import KumoError, ServiceUnavailable
from kumo.gateway.store import GatewayStore, LogRecord

log = logging.getLogger("kumo.gateway.logs")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters: half the lookups (hot path)
BATCH = 500
FLUSH_EVERY = 1.0  # seconds: the longest a log waits to be written (a kill -9 loses at most this much)
MAX_PENDING = 100_000
MAX_UNWRITTEN = 100_000  # log rows kept while the database is unreachable


def new_ulid() -> str:
    """A ULID: 48 bits of milliseconds + 80 random bits, Crockford base32 (sortable by time)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


class Loggable(Protocol):
    def settle(self) -> LogRecord | None: ...


class LogWriter:
    """The request path only appends to a deque (thread-safe, no lock to take) and, only when the thread sleeps
    idle or a batch is full, wakes it; the thread settles what is pending (usage, cost, metrics: see finished.py)
    and writes it in batches."""

    def __init__(self, store: GatewayStore, limits: Callable[[str, str], tuple[int, str] | None],
                 after_write: Callable[[list[LogRecord]], None] | None = None):
        self.store = store
        self.limits = limits
        self.after_write = after_write  # handed the records once stored (Logpush), on this thread
        self._pending: deque[Loggable | threading.Event] = deque()
        self._unwritten: list[LogRecord] = []  # settled, but the database was unreachable
        self._wake = threading.Event()  # write now: a flush, close, or a full batch
        self._arrived = threading.Event()  # a first log after an idle spell
        self._idle = False  # the thread waits for a first log: the next write sets _arrived
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="kumo-gateway-logs", daemon=True)
        self._thread.start()

    def write(self, entry: Loggable) -> None:
        if len(self._pending) >= MAX_PENDING:  # never block a request on logging; say so instead
            log.warning("log queue full: dropping a gateway log")
            return
        pending = self._pending
        pending.append(entry)
        if self._idle:
            self._idle = False
            self._arrived.set()
        elif len(pending) == BATCH:
            self._wake.set()

    def flush(self, timeout: float = 10) -> None:
        """Wait until everything written so far is settled and stored (tests, the logs API and /metrics use it)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        self._arrived.set()
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            if not (self._pending or self._unwritten or self._closing):
                self._idle = True
                if not self._pending:  # (a write between the two checks saw _idle and set _arrived)
                    self._arrived.wait()
                self._idle = False
                self._arrived.clear()
            self._wake.wait(FLUSH_EVERY)  # gather a batch; a flush, close or full batch ends it early
            self._wake.clear()
            closing = self._closing
            self._drain()
            if closing:
                if self._unwritten:
                    log.error("shutting down with %d gateway logs not written: the database is unreachable",
                              len(self._unwritten))
                return

    def _drain(self) -> None:
        batch: list[Loggable] = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, threading.Event):  # a flush: what came before it is written first
                self._write(batch)
                batch = []
                item.set()
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                self._write(batch)
                batch = []
        self._write(batch)

    def _write(self, batch: list[Loggable]) -> None:
        records = self._unwritten
        self._unwritten = []
        for entry in batch:
            try:
                record = entry.settle()
            except Exception:
                log.exception("could not build a gateway log")
                continue
            if record is not None:
                records.append(record)
        if not records:
            return
        limits = {}
        for record in records:
            key = (record.account, record.gateway)
            if key not in limits:
                try:
                    limit = self.limits(*key)
                except KumoError:  # the gateway's settings are out of reach: keep the rows, trim later
                    limit = None
                if limit is not None:
                    limits[key] = limit
        try:
            self.store.write_logs(records, limits)
        except ServiceUnavailable:
            # The database is away (scaled out: PostgreSQL). Keep the newest rows in memory, bounded, and
            # write them with the next batch once it answers again.
            self._unwritten = records[-MAX_UNWRITTEN:]
            lost = len(records) - len(self._unwritten)
            log.warning("database unreachable: %d gateway logs wait in memory%s", len(self._unwritten),
                        f", {lost} oldest dropped" if lost else "")
        except Exception:
            log.exception("could not write %d gateway logs", len(records))
        else:
            if self.after_write is not None:
                try:
                    self.after_write(records)
                except Exception:
                    log.exception("could not hand %d gateway logs to Logpush", len(records))

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._arrived.set()
        self._thread.join(timeout=30)
