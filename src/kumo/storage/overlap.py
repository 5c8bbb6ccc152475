"""Receiving a body while the previous block is being worked on, by several works at once.

A backend hashes and writes (or uploads) each block in worker threads. Awaiting them before asking for the
next block would leave the socket unread meanwhile (the server stops reading once its small buffer is full),
so receiving and working would take turns on a machine with cores to spare. `overlapped` keeps one block in
the workers while the event loop receives the next, and gives each of a block's works (say, hashing and
writing) a thread of its own: hashlib, zlib and file writes release the GIL on large buffers, so they really
run at once. Every work still sees the blocks one at a time, in order: the next block's works start when all
of this block's are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from typing import TypeVar

from kumo.api.threads import blocking

T = TypeVar("T")


async def _settled(running: list[asyncio.Future]) -> None:
    """Wait for all of one block's works (a failed one does not cut the others short: they are threads, and
    may be touching the block or a file), then raise the first failure."""
    if running:
        await asyncio.wait(running)  # a cancel stops this wait, never the works: see `overlapped`
        for future in running:
            future.result()


async def overlapped(items: AsyncIterable[T], *works: Callable[[T], None]) -> None:
    """Every `work(item)` for every item, the works of one item at once in worker threads, items in order,
    while the next item is received. When this returns or raises, no work is still running (the caller may
    close what the works write to)."""
    running: list[asyncio.Future] = []
    try:
        async for item in items:
            await _settled(running)
            running = [asyncio.ensure_future(blocking(work, item)) for work in works]
        await _settled(running)
    finally:
        # a thread cannot be stopped: let it finish its block, through further cancels too (the caller closes
        # the file next, and a descriptor closed under a write may be another file's by then)
        cancelled = False
        while not all(future.done() for future in running):
            try:
                await asyncio.wait(running)
            except asyncio.CancelledError:
                cancelled = True
        for future in running:
            if not future.cancelled():
                future.exception()  # retrieved: the caller is already handling the first failure
        if cancelled:
            raise asyncio.CancelledError
