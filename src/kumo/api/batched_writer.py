"""Rows written off the request path: a request appends to a deque (thread-safe, no lock to take) and a thread
writes what gathered in batches, one transaction each. `flush()` waits for what came before it; `close()` writes
what is left.

The thread wakes as seldom as it can: a commit costs ~0.8 ms of CPU (an fsync'ed SQLite transaction), which at
low load, woken every 0.1 s, was a third of a logged request's CPU. It sleeps until an item arrives, then gathers
for `flush_every` seconds (or until a batch is full) and writes them together; idle, it does not wake at all."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("kumo.batched_writer")


class BatchedWriter(ABC, Generic[T]):
    """Subclasses say how a batch is written (`_write_batch`) and how many items wait for an unreachable
    database (`_backlog`: the thread keeps retrying while it is not 0)."""

    def __init__(self, *, batch: int, flush_every: float, max_pending: int, name: str, what: str):
        self.batch, self.flush_every, self.max_pending, self.what = batch, flush_every, max_pending, what
        self._pending: deque[T | threading.Event] = deque()
        self._wake = threading.Event()  # write now: a flush, close, or a full batch
        self._arrived = threading.Event()  # a first item after an idle spell
        self._idle = False  # the thread waits for a first item: the next put sets _arrived
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        pending = self._pending
        if len(pending) >= self.max_pending:  # never hold a request up for its row; say so instead
            log.warning("%s queue full: dropping one", self.what)
            return
        pending.append(item)
        if self._idle:
            self._idle = False
            self._arrived.set()
        elif len(pending) == self.batch:
            self._wake.set()

    def waiting(self) -> int:
        """Items put and not yet taken by the thread."""
        return len(self._pending)

    def flush(self, timeout: float = 10) -> None:
        """Wait until everything put so far is written (the APIs that read these rows call it first)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        self._arrived.set()
        done.wait(timeout)

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._arrived.set()
        self._thread.join(timeout=30)

    @abstractmethod
    def _write_batch(self, batch: list[T]) -> None:
        """Write one batch (an empty one too: what waits for the database may go with it)."""

    def _backlog(self) -> int:
        return 0

    def _run(self) -> None:
        while True:
            if not (self._pending or self._backlog() or self._closing):
                self._idle = True
                if not self._pending:  # (a put between the two checks saw _idle and set _arrived)
                    self._arrived.wait()
                self._idle = False
                self._arrived.clear()
            self._wake.wait(self.flush_every)  # gather a batch; a flush, close or full batch ends it early
            self._wake.clear()
            closing = self._closing
            self._drain()
            if closing:
                if self._backlog():
                    log.error("shutting down with %d %s not written: the database is unreachable",
                              self._backlog(), self.what)
                return

    def _drain(self) -> None:
        batch: list[T] = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, threading.Event):  # a flush: what came before it is written first
                self._write_batch(batch)
                batch = []
                item.set()
                continue
            batch.append(item)
            if len(batch) >= self.batch:
                self._write_batch(batch)
                batch = []
        self._write_batch(batch)
