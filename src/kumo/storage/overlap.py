"""Receiving a body while the previous block is being worked on.

A backend hashes and writes (or uploads) each block in a worker thread. Awaiting that thread before asking for
the next block would leave the socket unread meanwhile (the server stops reading once its small buffer is
full), so receiving and working would take turns on a machine with cores to spare. `overlapped` keeps one
block in the worker while the event loop receives the next: blocks are still worked on one at a time, in order.
hashlib, zlib and file writes release the GIL on large buffers, so the two really run at once.
"""

from __future__ import annotations

import asyncio
from kumo.api.threads import blocking
from collections.abc import AsyncIterable, Callable
from typing import TypeVar

T = TypeVar("T")


async def overlapped(items: AsyncIterable[T], work: Callable[[T], None]) -> None:
    """`work(item)` for every item, in order, in worker threads, while the next item is received. When this
    returns or raises, no work is still running (the caller may close what `work` writes to)."""
    running: asyncio.Future | None = None
    try:
        async for item in items:
            if running is not None:
                await asyncio.shield(running)  # a cancel must not orphan the thread's block: see finally
            running = asyncio.ensure_future(blocking(work, item))
        if running is not None:
            await asyncio.shield(running)
    finally:
        if running is not None and not running.done():
            await asyncio.wait([running])  # a thread cannot be stopped: let it finish its block
        if running is not None and running.done() and not running.cancelled():
            running.exception()  # retrieved: the caller is already handling the first failure
