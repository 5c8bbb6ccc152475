"""A readers-writer lock: queries share an index (two of them search its graph on two cores at once, hnswlib
releases the GIL), writes and graph changes have it alone. Writers go first: once one waits, new readers
queue behind it, so a steady stream of queries cannot starve the writes."""

from __future__ import annotations

import threading


class SharedLock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._readers = 0
        self._writer: int | None = None  # thread id of the holder
        self._depth = 0  # re-entries of the writer
        self._writers_waiting = 0
        self._shared = _Shared(self)

    def shared(self) -> _Shared:
        """`with lock.shared():` reads beside other readers."""
        return self._shared  # stateless: one serves every thread

    def acquire_shared(self) -> None:
        if self._writer == threading.get_ident():  # a writer may read what it holds
            return
        with self._lock:  # the condition's own lock, taken directly: a query takes two of these
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_shared(self) -> None:
        if self._writer == threading.get_ident():  # it read what it held: nothing was counted
            return
        with self._lock:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
            self._depth = 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if not self._depth:
                self._writer = None
                self._cond.notify_all()

    def __enter__(self) -> SharedLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def waiting_writers(self) -> int:
        return self._writers_waiting


class _Shared:
    """The context manager of `SharedLock.shared()`: a class, not a generator, as a query enters two per search."""

    __slots__ = ("_lock",)

    def __init__(self, lock: SharedLock):
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire_shared()

    def __exit__(self, *exc) -> None:
        self._lock.release_shared()
