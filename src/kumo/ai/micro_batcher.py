"""Dynamic micro-batching: concurrent requests share forward passes, and no request waits behind a large one.

Requests queue up while a batch runs; the next batch takes what is waiting, so under load batches grow by
themselves and when idle a lone request runs at once, with no timer. Fairness: a request is split into its
items, each batch takes items from the waiting requests in turn (one from each, then again) starting with a
different request each time, a batch's padded size is bounded so that it runs in about `target_seconds` (the
first round, one item of each waiting request, may take a few times that), and an item does not join a batch it
would make more than twice as wide once past a few dozen tokens (short items do not pay a long one's padding).
A one-sentence request that arrives behind a 100-text request therefore waits for at most the batch in progress
and shares the next one, instead of waiting for the whole large request.

One short wait: closed-loop callers (each sends its next request when it has its answer) come back a moment after
a pass ends, one by one. Started at once, the next pass would take the first one or two of them and the others
would queue behind it: many small passes. So after a pass that served several callers, while fewer than half of
them are back, the batcher waits for the rest, at most a quarter of that pass's time and at most MAX_REGROUP.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kumo.api.threads import blocking_on

MIN_BUDGET = 256  # padded tokens: a batch of ~20 sentences, however slow the machine; one long text costs as much
# Requests waiting together are served together: splitting their first items over several passes only adds passes
# (each request waits for all of them anyway), and a budget learned on a busy machine would cut concurrency into
# small batches. The bound keeps one such pass's time and memory in check.
FIRST_ROUND_BUDGETS = 4
CHEAP_WIDTH = 64  # tokens: up to this width, padding costs less than the extra pass it saves
MAX_REGROUP = 0.020  # seconds a pass may be held back for the callers of the last one


class _Job:
    __slots__ = ("key", "items", "sizes", "results", "next", "left", "future")

    def __init__(self, key: Hashable, items: Sequence[Any], sizes: Sequence[int], future: asyncio.Future):
        self.key, self.items, self.sizes, self.future = key, items, sizes, future
        self.results: list[Any] = [None] * len(items)
        self.next = 0  # the first item not yet given to a batch
        self.left = len(items)  # items whose result has not come back


class MicroBatcher:
    def __init__(self, fn: Callable[[Any, list[Any]], list[Any]], max_items: int = 64,
                 target_seconds: float = 0.025, start_budget: int = 1024):
        """`fn(key, items) -> results` runs in a worker thread; items of one batch share a key. An item's size
        (its token count) prices a batch as items x longest item: the padded tensor the model runs."""
        self.fn = fn
        self.max_items = max_items
        self.target_seconds = target_seconds
        self.budget = max(MIN_BUDGET, start_budget)  # padded tokens per batch, re-estimated from every batch that runs
        self.on_batch: Callable[[int], None] | None = None  # told each batch's item count (a metric)
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Passes run one at a time, so one thread of the batcher's own runs them all. On the shared pool a pass
        # (a forest's Python-heavy tree walk, say) went to whichever thread was free, and the pool woke a second
        # one that then fought it for the GIL every 5 ms: a 5 ms predict cost 8-10 ms of CPU in the server.
        self._thread: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Let the batcher's thread go (a pass in progress ends first); a later submit starts another."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)

    async def submit(self, key: Hashable, items: Sequence[Any], sizes: Sequence[int] | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (tests build many apps)
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kumo-batch")
        if not items:
            return []
        future = loop.create_future()
        assert self._queue is not None
        self._queue.put_nowait(_Job(key, items, sizes if sizes is not None else [1] * len(items), future))
        return await future

    def _take(self, waiting: deque[_Job]) -> tuple[list[tuple[_Job, int]], int]:
        """The next batch, as (job, item index) pairs, and its padded size."""
        key = waiting[0].key
        jobs = [job for job in waiting if job.key == key and not job.future.done()]
        batch: list[tuple[_Job, int]] = []
        longest = 0
        budget = FIRST_ROUND_BUDGETS * self.budget  # the first round: one item from each waiting request
        progress = True
        while progress and len(batch) < self.max_items:
            progress = False
            for job in jobs:
                if job.next >= len(job.items) or len(batch) >= self.max_items:
                    continue
                size = job.sizes[job.next]
                wider = max(longest, size)
                if batch and (wider * (len(batch) + 1) > budget or (wider > 2 * longest and wider > CHEAP_WIDTH)):
                    continue  # over budget, or short items would pay for a long one's padding; others may fit
                batch.append((job, job.next))
                job.next += 1
                longest = wider
                progress = True
            budget = self.budget  # further items of the same requests: what a newcomer may wait behind
        return batch, longest * len(batch)

    def _learn(self, padded: int, seconds: float) -> None:
        """Move the budget toward what runs in `target_seconds` at the speed just measured. Only batches near the
        budget teach it: a small batch's time is mostly fixed costs and would shrink the budget for nothing."""
        if padded < self.budget // 2 or seconds <= 0:
            return
        fits = padded * self.target_seconds / seconds
        # too slow: shrink at once (a waiting request pays every late batch); fast: grow gently
        self.budget = max(MIN_BUDGET, int(fits if fits < self.budget else 0.8 * self.budget + 0.2 * fits))

    async def _run(self) -> None:
        assert self._queue is not None
        waiting: deque[_Job] = deque()
        while True:
            if not waiting:
                waiting.append(await self._queue.get())
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            while waiting and (waiting[0].next >= len(waiting[0].items) or waiting[0].future.done()):
                waiting.popleft()  # every item handed out (results still to come) or the caller is gone
            if not waiting:
                continue
            batch, padded = self._take(waiting)
            waiting.rotate(-1)  # the next batch starts with the next request
            if self.on_batch is not None:
                self.on_batch(len(batch))
            started = time.perf_counter()
            try:
                items = [job.items[i] for job, i in batch]
                results = await blocking_on(self._thread, self.fn, batch[0][0].key, items)
                seconds = time.perf_counter() - started
                self._learn(padded, seconds)
            except Exception as exc:  # every waiter of this batch gets the error; the worker carries on
                for job, _ in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            answered = 0  # callers who have their whole answer now, and may come back with another request
            for (job, i), result in zip(batch, results):
                job.results[i] = result
                job.left -= 1
                if job.left == 0 and not job.future.done():
                    job.future.set_result(job.results)
                    answered += 1
            if answered > 1:
                await self._regroup(waiting, answered, seconds)

    async def _regroup(self, waiting: deque[_Job], callers: int, seconds: float) -> None:
        """Wait for the `callers` just answered by a pass that took `seconds` to come back (module docstring),
        moving what arrives into `waiting`; not at all while as many as half of that number are waiting already."""
        queue = self._queue
        assert queue is not None

        def pending() -> int:
            while not queue.empty():
                waiting.append(queue.get_nowait())
            return sum(1 for job in waiting if job.next < len(job.items) and not job.future.done())

        if pending() * 2 >= callers:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(MAX_REGROUP, seconds / 4)
        while (left := deadline - loop.time()) > 0:
            try:
                waiting.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                return
            if pending() >= callers:
                return
