"""R2's blob files on disk: a body written in ~1 MiB blocks and read back in blocks.

A block is the body's chunks as they came (no copy joins them): `os.writev` writes them in one call, and the
service's hashes read them in place, in a thread of their own beside the write's (`overlapped`). Chunks under
SMALL bytes are gathered first, so tiny ASGI chunks become neither tiny iovecs nor hash updates too short to
release the GIL. An `fdatasync` every WRITEBACK bytes starts the disk early, so the final fsync finds little left.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from pathlib import Path

from kumo.api.threads import blocking
from kumo.r2.store import ObjectInfo

BLOCK = 1024 * 1024  # bytes per block: one write (and one hash step) in a worker thread; reads too
SMALL = 16 * 1024  # body chunks under this are gathered into one piece before they are written or hashed
WRITEBACK = 8 * 1024 * 1024  # a large body's bytes start going to disk every this many (see _BlobFile)
_IOV_MAX = max(16, os.sysconf("SC_IOV_MAX")) if "SC_IOV_MAX" in os.sysconf_names else 1024  # -1: no limit told


async def _blocks(body: AsyncIterable[bytes]) -> AsyncIterator[list[bytes]]:
    """The body re-cut into blocks of ~BLOCK bytes, each a list of its pieces, in order: a chunk of SMALL
    bytes or more is a piece as it is; runs of smaller ones are joined into pieces of about SMALL bytes."""
    pieces: list[bytes] = []
    small: list[bytes] = []
    held = small_held = 0
    async for chunk in body:
        if not chunk:
            continue
        held += len(chunk)
        if len(chunk) < SMALL:
            small.append(chunk)
            small_held += len(chunk)
            if small_held < SMALL and held < BLOCK:
                continue
        else:
            if small:
                pieces.append(b"".join(small))
            pieces.append(chunk)
            small, small_held = [], 0
        if small:
            pieces.append(b"".join(small))
            small, small_held = [], 0
        if held >= BLOCK:
            yield pieces
            pieces, held = [], 0
    if small:
        pieces.append(b"".join(small))
    if pieces:
        yield pieces


def observing(observe: Callable[[bytes], None]) -> Callable[[list[bytes]], None]:
    """`observe` (say, the service's digests) over a block's pieces, in order."""
    def each(pieces: list[bytes]) -> None:
        for piece in pieces:
            observe(piece)

    return each


def write_all(fd: int, pieces: list[bytes]) -> int:
    """Write every piece, in order, with as few `writev` calls as the kernel takes; the bytes written."""
    views = [memoryview(piece) for piece in pieces]
    total = sum(len(view) for view in views)
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first:first + _IOV_MAX])
        if written <= 0:
            raise OSError("the file took no bytes")
        while written and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:  # a short write: the rest of this piece goes in the next call
            views[first] = views[first][written:]
    return total


class _BlobFile:
    """A temporary file being written block by block (in worker threads, in order).

    Every WRITEBACK bytes it starts an `fdatasync` in a thread of its own, so the disk writes the early blocks
    while later ones are received and hashed; the fsync durability needs at the end then finds little left."""

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        self._fd: int | None = None  # opened by the first call, in its worker thread: one thread hop less per PUT
        self._unsynced = 0
        self._writeback: threading.Thread | None = None
        # an early fdatasync's error: Linux reports a failed writeback once, so the final fsync would pass
        self._writeback_error: OSError | None = None
        self._done = False  # finished or abandoned: a late block must not re-create the file

    def _opened(self) -> int:
        if self._done:
            raise OSError("the blob file was already closed")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        return self._fd

    def keep(self, pieces: list[bytes]) -> None:
        fd = self._opened()
        written = write_all(fd, pieces)
        self.size += written
        self._unsynced += written
        if self._unsynced >= WRITEBACK and (self._writeback is None or not self._writeback.is_alive()):
            self._unsynced = 0
            self._writeback = threading.Thread(target=self._sync_early, args=(fd,), daemon=True)
            self._writeback.start()

    def _sync_early(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError as exc:
            self._writeback_error = exc

    def _settle(self) -> None:
        if self._writeback is not None:
            self._writeback.join()  # never close the descriptor under a running fdatasync

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def finish(self) -> None:
        """Durable: everything written is on disk."""
        self._settle()
        try:
            if self._writeback_error is not None:
                raise self._writeback_error
            os.fsync(self._opened())
        finally:
            self._close()
            self._done = True

    def abandon(self) -> None:
        self._done = True
        self._settle()
        self._close()
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
