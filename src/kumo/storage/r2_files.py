"""R2's blob files on disk: a body written in ~1 MiB blocks (hashed and written in a worker thread while the
next block arrives, with early writeback so the final fsync finds little left) and read back in blocks."""

from __future__ import annotations

import os
import threading
from io import FileIO
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from pathlib import Path

from kumo.api.threads import blocking
from kumo.r2.store import ObjectInfo

BLOCK = 1024 * 1024  # bytes per write/read call in a worker thread
WRITEBACK = 8 * 1024 * 1024  # a large body's bytes start going to disk every this many (see _BlobFile)


async def _blocks(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The body re-cut into ~BLOCK-sized pieces: fewer, larger writes and thread hops."""
    pending: list[bytes] = []
    held = 0
    async for chunk in body:
        if chunk:
            pending.append(chunk)
            held += len(chunk)
        if held >= BLOCK:
            yield b"".join(pending)
            pending, held = [], 0
    if held:
        yield b"".join(pending)


class _BlobFile:
    """A temporary file being written block by block (in worker threads, in order).

    Every WRITEBACK bytes it starts an `fdatasync` in a thread of its own, so the disk writes the early blocks
    while later ones are received and hashed; the fsync durability needs at the end then finds little left."""

    def __init__(self, path: Path, observe: Callable[[bytes], None] | None):
        self.path = path
        self.observe = observe
        self.size = 0
        self._file: FileIO | None = None  # opened by the first call, in its worker thread: one thread hop less per PUT
        self._unsynced = 0
        self._writeback: threading.Thread | None = None

    def _opened(self) -> FileIO:
        if self._file is None:
            self._file = open(self.path, "wb", buffering=0)
        return self._file

    def keep(self, block: bytes) -> None:
        if self.observe is not None:
            self.observe(block)
        file = self._opened()
        view = memoryview(block)
        while view:
            view = view[file.write(view):]
        self.size += len(block)
        self._unsynced += len(block)
        if self._unsynced >= WRITEBACK and (self._writeback is None or not self._writeback.is_alive()):
            self._unsynced = 0
            self._writeback = threading.Thread(target=os.fdatasync, args=(file.fileno(),), daemon=True)
            self._writeback.start()

    def _settle(self) -> None:
        if self._writeback is not None:
            self._writeback.join()  # never close the descriptor under a running fdatasync

    def finish(self) -> None:
        """Durable: everything written is on disk."""
        self._settle()
        file = self._opened()
        os.fsync(file.fileno())
        file.close()

    def abandon(self) -> None:
        self._settle()
        if self._file is not None:
            self._file.close()
        self.path.unlink(missing_ok=True)


class FileReader:
    """An open blob: `chunks()` yields bytes [start, end) and closes the file when done or left."""

    def __init__(self, info: ObjectInfo, file, start: int, end: int):
        self.info = info
        self._file = file
        self._start = start
        self._end = end
        self._first = b""

    def prefetch(self) -> None:
        """Read the first block now (in the thread that opened the file): one hop less for small objects."""
        self._first = os.pread(self._file.fileno(), min(BLOCK, max(self._end - self._start, 0)), self._start)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        position = self._start
        try:
            if self._first:
                position += len(self._first)
                first, self._first = self._first, b""
                yield first
            while position < self._end:
                size = min(BLOCK, self._end - position)
                data = await blocking(os.pread, self._file.fileno(), size, position)
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self._file.close()
