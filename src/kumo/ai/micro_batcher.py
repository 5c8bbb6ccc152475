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

Lanes: a model that can also run a pass on one core (`lane_fn`) gets up to `lanes` passes side by side, each on a
thread of its own, the waiting items shared out between the free lanes. On a 2-core machine two one-thread ONNX
passes served 270-290 sentences/s where one two-thread pass served 210-260 at any batch size: one-thread passes
never wait for each other at the barriers a multi-threaded pass crosses at every layer (and every stall there,
when the server's other work takes a core, holds up both cores). A lone item with nothing else in flight still
runs on every core (`fn`): one core would make that caller wait longer.
"""

from __future__ import annotations

import asyncio
import math
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

    def waiting(self) -> bool:
        """Some of its items are still to go into a pass, and its caller still waits."""
        return self.next < len(self.items) and not self.future.done()


class MicroBatcher:
    def __init__(self, fn: Callable[[Any, list[Any]], list[Any]], max_items: int = 64,
                 target_seconds: float = 0.025, start_budget: int = 1024, *,
                 lane_fn: Callable[[Any, list[Any]], list[Any]] | None = None, lanes: int = 1):
        """`fn(key, items) -> results` runs in a worker thread; items of one batch share a key. An item's size
        (its token count) prices a batch as items x longest item: the padded tensor the model runs. `lane_fn`:
        the same pass on one core, of which `lanes` may run at once (module docstring)."""
        self.fn = fn
        self.lane_fn = lane_fn
        self.lanes = max(1, lanes) if lane_fn is not None else 1
        self.max_items = max_items
        self.target_seconds = target_seconds
        self.budget = max(MIN_BUDGET, start_budget)  # padded tokens per batch, re-estimated from every batch that runs
        self.on_batch: Callable[[int], None] | None = None  # told each batch's item count (a metric)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[_Job] = deque()
        self._changed: asyncio.Condition | None = None  # a job came, a pass ended, a hold was let go
        self._workers: list[asyncio.Task] = []  # one per lane
        self._running = 0  # passes in flight
        self._wide = False  # a pass on every core is in flight: no other starts beside it
        self._holding = 0  # lanes waiting for their last callers to come back: no pass starts meanwhile
        # Each lane runs its passes on one thread of its own. On the shared pool a pass (a forest's Python-heavy
        # tree walk, say) went to whichever thread was free, and the pool woke a second one that then fought it
        # for the GIL every 5 ms: a 5 ms predict cost 8-10 ms of CPU in the server.
        self._threads: list[ThreadPoolExecutor] = []

    def close(self) -> None:
        """Let the lanes' threads go (passes in progress end first); a later submit starts others."""
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.shutdown(wait=True)

    async def submit(self, key: Hashable, items: Sequence[Any], sizes: Sequence[int] | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (tests build many apps)
            self._loop = loop
            self._waiting = deque()
            self._changed = asyncio.Condition()
            self._running, self._wide, self._holding = 0, False, 0
            self._workers = [loop.create_task(self._lane(lane)) for lane in range(self.lanes)]
        if not self._threads:
            self._threads = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kumo-batch-{lane}")
                             for lane in range(self.lanes)]
        if not items:
            return []
        future = loop.create_future()
        self._waiting.append(_Job(key, items, sizes if sizes is not None else [1] * len(items), future))
        try:
            await self._changed_now()
            return await future
        finally:
            future.cancel()  # a caller gone (even before its wait began): its items leave the line untouched

    async def _changed_now(self) -> None:
        changed = self._changed
        assert changed is not None
        async with changed:
            changed.notify_all()

    def _has_work(self) -> bool:
        """Whether any item waits for a pass. Requests with every item handed out (results still to come), or whose
        caller is gone, leave the front of the line, so this looks at one request: every lane asks it whenever
        anything changes."""
        waiting = self._waiting
        while waiting and not waiting[0].waiting():
            waiting.popleft()
        return bool(waiting)

    def _pending(self) -> tuple[int, int]:
        """(requests, items) waiting for a pass."""
        self._has_work()
        jobs = [job for job in self._waiting if job.waiting()]
        return len(jobs), sum(len(job.items) - job.next for job in jobs)

    def _take(self, waiting: deque[_Job], limit: int) -> tuple[list[tuple[_Job, int]], int]:
        """The next batch of at most `limit` items, as (job, item index) pairs, and its padded size."""
        key = waiting[0].key
        jobs = [job for job in waiting if job.key == key and not job.future.done()]
        batch: list[tuple[_Job, int]] = []
        longest = 0
        budget = FIRST_ROUND_BUDGETS * self.budget  # the first round: one item from each waiting request
        progress = True
        while progress and len(batch) < limit:
            progress = False
            for job in jobs:
                if job.next >= len(job.items) or len(batch) >= limit:
                    continue
                size = job.sizes[job.next]
                wider = max(longest, size)
                if batch and (wider * (len(batch) + 1) > budget or (wider > 2 * longest and wider > CHEAP_WIDTH)
                              or (self.lanes > 1 and 2 * size < longest and longest > CHEAP_WIDTH)):
                    # over budget, or short items would pay for a long one's padding; others may fit. With lanes
                    # a short item does not ride along with long ones either: a lane coming free serves it sooner
                    continue
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

    async def _lane(self, lane: int) -> None:
        changed = self._changed
        assert changed is not None
        while True:
            async with changed:
                await changed.wait_for(lambda: not self._wide and not self._holding and self._has_work())
                _, items = self._pending()
                wide = self.lanes == 1 or (self._running == 0 and items == 1)
                free = self.lanes - self._running
                batch, padded = self._take(self._waiting, min(self.max_items, math.ceil(items / free)))
                self._waiting.rotate(-1)  # the next batch starts with the next request
                self._running += 1
                self._wide = wide and self.lanes > 1
            try:
                fn = self.lane_fn if not wide and self.lane_fn else self.fn
                answered, seconds = await self._pass(lane, batch, padded, fn)
            finally:
                async with changed:
                    self._running -= 1
                    self._wide = False
                    changed.notify_all()
            if answered > 1:
                await self._regroup(answered, seconds)

    async def _pass(self, lane: int, batch: list[tuple[_Job, int]], padded: int,
                    fn: Callable[[Any, list[Any]], list[Any]]) -> tuple[int, float]:
        """Run one batch and answer its callers: (callers who now have their whole answer, seconds it took)."""
        if self.on_batch is not None:
            self.on_batch(len(batch))
        started = time.perf_counter()
        try:
            items = [job.items[i] for job, i in batch]
            results = await blocking_on(self._threads[lane], fn, batch[0][0].key, items)
            seconds = time.perf_counter() - started
            self._learn(padded, seconds)
        except Exception as exc:  # every waiter of this batch gets the error; the lane carries on
            for job, _ in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return 0, 0.0
        answered = 0  # callers who have their whole answer now, and may come back with another request
        for (job, i), result in zip(batch, results):
            job.results[i] = result
            job.left -= 1
            if job.left == 0 and not job.future.done():
                job.future.set_result(job.results)
                answered += 1
        return answered, seconds

    async def _regroup(self, callers: int, seconds: float) -> None:
        """Wait for the `callers` just answered by a pass that took `seconds` to come back (module docstring), no
        pass starting meanwhile; not at all while as many as half of that number are waiting already."""
        changed = self._changed
        assert changed is not None
        async with changed:
            if self._pending()[0] * 2 >= callers:
                return
            self._holding += 1
            try:
                await asyncio.wait_for(changed.wait_for(lambda: self._pending()[0] >= callers),
                                       min(MAX_REGROUP, seconds / 4))
            except TimeoutError:
                pass
            finally:
                self._holding -= 1
                changed.notify_all()
