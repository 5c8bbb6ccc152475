"""Group commit: writes from many threads share one SQLite transaction, so one WAL fsync acknowledges them all.

With `synchronous=FULL` every COMMIT waits for an fsync, and SQLite has one writer: sixteen concurrent small
writes would queue for sixteen fsyncs. Here the first writer to arrive leads: it takes every write waiting,
runs each in its own SAVEPOINT (a write that raises is rolled back alone and its caller gets the exception),
commits once, and only then wakes the callers. A caller returns after the COMMIT that holds its write, so
"answered" still means "durable". Writers arriving meanwhile wait for the next batch, led by the first of them.

PostgreSQL groups concurrent commits itself; `committer()` gives it plain one-transaction-per-write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Write:
    __slots__ = ("fn", "result", "error", "done", "lead", "wake")

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False  # this write's thread is to lead the next batch
        self.wake = threading.Event()


class GroupCommit:
    """`run(fn)`: `fn(conn)` inside a transaction shared with concurrent callers; its result once committed."""

    def __init__(self, db, max_batch: int = 256):
        self.db = db
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Write] = []
        self._leading = False

    def run(self, fn: Callable[[Any], T]) -> T:
        write = _Write(fn)
        with self._mutex:
            self._queue.append(write)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            write.wake.wait()
            if write.lead:
                self._lead()
        else:
            self._lead()
        if write.error is not None:
            raise write.error
        return write.result

    def _lead(self) -> None:
        with self._mutex:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            self._commit(batch)
        finally:
            with self._mutex:
                if self._queue:
                    self._queue[0].lead = True  # hand over: its thread is waiting and will lead the next batch
                    self._queue[0].wake.set()
                else:
                    self._leading = False
            for write in batch:
                write.done = True
                write.wake.set()

    def _commit(self, batch: list[_Write]) -> None:
        try:
            with self.db.transaction() as conn:
                for write in batch:
                    conn.execute("SAVEPOINT one_write")
                    try:
                        write.result = write.fn(conn)
                    except BaseException as exc:  # noqa: BLE001 - handed to its own caller
                        write.error = exc
                        conn.execute("ROLLBACK TO one_write")
                    conn.execute("RELEASE one_write")
        except BaseException as exc:  # the COMMIT itself failed: nothing in the batch landed
            for write in batch:
                if write.error is None:
                    write.error = exc
                    write.result = None


class OneByOne:
    """One transaction per write (PostgreSQL, which groups concurrent commits on its own)."""

    def __init__(self, db):
        self.db = db

    def run(self, fn: Callable[[Any], T]) -> T:
        with self.db.transaction() as conn:
            return fn(conn)


def committer(db) -> GroupCommit | OneByOne:
    return GroupCommit(db) if getattr(db, "dialect", "") == "sqlite" else OneByOne(db)
