"""Dynamic micro-batching: concurrent requests share one forward pass.

Requests queue up while a batch runs; the next batch takes everything waiting (up to `max_items`),
so under load batches grow by themselves and when idle a lone request runs at once, with no timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool


class _Job:
    __slots__ = ("key", "items", "future")

    def __init__(self, key: Hashable, items: Sequence[Any], future: asyncio.Future):
        self.key, self.items, self.future = key, items, future


class MicroBatcher:
    def __init__(self, fn: Callable[[Hashable, list[Any]], list[Any]], max_items: int = 64):
        """`fn(key, items) -> results` runs in a worker thread; items of one batch share a key."""
        self.fn = fn
        self.max_items = max_items
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, key: Hashable, items: Sequence[Any]) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (tests build many apps)
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        assert self._queue is not None
        self._queue.put_nowait(_Job(key, items, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        pending: list[_Job] = []
        while True:
            if not pending:
                pending.append(await self._queue.get())
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
            key = pending[0].key
            batch, rest, size = [], [], 0
            for job in pending:
                if job.key == key and (not batch or size + len(job.items) <= self.max_items):
                    batch.append(job)
                    size += len(job.items)
                else:
                    rest.append(job)
            pending = rest
            items = [item for job in batch for item in job.items]
            try:
                results = await run_in_threadpool(self.fn, key, items)
            except Exception as exc:  # every waiter of this batch gets the error
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            start = 0
            for job in batch:
                if not job.future.done():
                    job.future.set_result(results[start : start + len(job.items)])
                start += len(job.items)
