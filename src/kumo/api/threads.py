"""The one way kumo runs blocking work (SQLite, PostgreSQL, files, numpy, model inference) off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on a worker thread (anyio's pool, the one Starlette uses for sync routes); a task
    cancelled meanwhile waits for the call to end, so no write is left half done behind it."""
    return await run_in_threadpool(fn, *args, **kwargs)
