"""The one way kumo runs blocking work (SQLite, PostgreSQL, files, numpy, model inference) off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
THREADS = 40  # as many as Starlette gives sync routes: a slow call (inference, a PostgreSQL wait) blocks no other


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the loop's executor, with the caller's context (the request id). This is
    `asyncio.to_thread`: ~2x cheaper per call than anyio's pool, which counts on R2's per-chunk writes and the
    gateway's cache lookups. A task cancelled meanwhile stops waiting; the call itself runs to its end."""
    return await blocking_on(None, fn, *args, **kwargs)


async def blocking_on(executor: Executor | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`blocking` on a given executor (None: the loop's pool), e.g. a thread of a model's own."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(executor, call)


def use_thread_pool(loop: asyncio.AbstractEventLoop) -> None:
    """Give the loop kumo's pool (Platform.start_async): asyncio's default, min(32, cores + 4) threads, would let
    a few slow calls hold every thread on a small machine."""
    loop.set_default_executor(ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="kumo"))
