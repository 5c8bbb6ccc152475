"""The embedded store's blob writer (storage/r2_files.py, storage/overlap.py, EmbeddedObjectStore.stage): the
bytes land whole whatever the chunking, tiny chunks are gathered, a block's write and hashing run at once, the
digests equal hashlib's over the whole body, a failed write or body leaves nothing behind, and the durability
steps keep their order (write, fsync, rename, directory fsync)."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import os
import threading
import zlib

import crc32c
import pytest

from kumo.r2.digests import BodyDigests
from kumo.storage import r2_files
from kumo.storage.overlap import overlapped
from kumo.storage.r2_embedded import EmbeddedObjectStore
from kumo.storage.r2_files import BLOCK, SMALL, _blocks, write_all

MIB = 1024 * 1024


async def _chunks(data: bytes, sizes):
    """`data` cut into chunks of the given sizes (cycled) as an ASGI body would arrive."""
    at, i = 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        yield data[at:at + size]
        at += size
        i += 1


def _store(tmp_path) -> EmbeddedObjectStore:
    store = EmbeddedObjectStore(tmp_path / "r2", tmp_path / "r2.sqlite3")
    store.start()
    return store


def _files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _collect(body) -> list[list[bytes]]:
    return [block async for block in _blocks(body)]


@pytest.mark.parametrize("sizes", [
    [BLOCK], [BLOCK - 1], [BLOCK + 1], [SMALL - 1], [SMALL], [1, SMALL, 3, BLOCK + 5], [65536], [7, 300_000],
])
def test_blocks_keep_every_byte_in_order_and_are_about_a_block(sizes):
    body = os.urandom(3 * BLOCK + 12345)
    blocks = asyncio.run(_collect(_chunks(body, sizes)))
    assert b"".join(piece for block in blocks for piece in block) == body
    assert all(piece for block in blocks for piece in block)
    for block in blocks[:-1]:
        assert sum(map(len, block)) >= BLOCK
        assert sum(map(len, block)) < BLOCK + max(sizes) + SMALL  # a block ends at the first chunk that fills it


def test_tiny_chunks_are_gathered_into_pieces_of_about_small():
    body = os.urandom(BLOCK + 4321)
    blocks = asyncio.run(_collect(_chunks(body, [7])))
    assert b"".join(piece for block in blocks for piece in block) == body
    for block in blocks:
        assert all(len(piece) >= SMALL for piece in block[:-1])
        assert len(block) <= BLOCK // SMALL + 1


def test_large_chunks_are_kept_as_they_came():
    chunk = os.urandom(256 * 1024)

    async def body():
        for _ in range(6):
            yield chunk

    blocks = asyncio.run(_collect(body()))
    assert [len(block) for block in blocks] == [4, 2]
    assert all(piece is chunk for block in blocks for piece in block)  # no copy


def test_write_all_survives_short_writes(tmp_path, monkeypatch):
    real = os.writev
    calls = []

    def stingy(fd, buffers):
        calls.append(len(buffers))
        first = bytes(buffers[0])[:1000]  # at most 1000 bytes per call, as a short write may
        return real(fd, [first])

    monkeypatch.setattr(os, "writev", stingy)
    pieces = [os.urandom(n) for n in (1, 999, 1000, 1001, 5000, 3)]
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        assert write_all(fd, pieces) == sum(map(len, pieces))
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(pieces)
    assert len(calls) > len(pieces)


def test_write_all_refuses_a_file_that_takes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "writev", lambda fd, buffers: 0)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            write_all(fd, [b"x" * 10])
    finally:
        os.close(fd)


@pytest.mark.parametrize("sizes", [[65536], [1, 2, 3, 70_000], [BLOCK * 2 + 1], [5000]])
def test_stage_stores_the_body_and_digests_equal_hashlib_over_the_whole_body(tmp_path, sizes):
    body = os.urandom(2 * BLOCK + 777)
    store = _store(tmp_path)
    digests = BodyDigests(payload_sha256=hashlib.sha256(body).hexdigest(),
                          content_md5=base64.b64encode(hashlib.md5(body).digest()).decode(),
                          checksums={"crc32": base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()},
                          compute=("crc32c", "sha1", "sha256"), size=len(body))
    try:
        blob = asyncio.run(store.stage(_chunks(body, sizes), digests.update))
        assert blob.size == len(body)
        assert store._blob_path(blob.ref).read_bytes() == body
        assert digests.md5_hex == hashlib.md5(body).hexdigest()
        computed = digests.verify()
        assert computed["crc32c"] == base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
        assert computed["sha1"] == base64.b64encode(hashlib.sha1(body).digest()).decode()
        assert computed["sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert _files(store.tmp) == []
    finally:
        store.close()


def test_tiny_chunks_become_one_write_and_few_hash_updates_per_block(tmp_path, monkeypatch):
    real = os.writev
    writes: list[int] = []
    monkeypatch.setattr(os, "writev", lambda fd, buffers: writes.append(len(buffers)) or real(fd, buffers))
    body = os.urandom(BLOCK + 100)
    seen: list[int] = []
    store = _store(tmp_path)
    try:
        blob = asyncio.run(store.stage(_chunks(body, [10]), lambda piece: seen.append(len(piece))))
        assert store._blob_path(blob.ref).read_bytes() == body
    finally:
        store.close()
    assert len(writes) == 2  # one call per block, not one per 10-byte chunk
    assert sum(seen) == len(body) and len(seen) <= 2 * (BLOCK // SMALL + 1)


def test_a_blocks_write_and_hashing_run_at_once(tmp_path, monkeypatch):
    """Each side of a block waits for the other to have started it: run one after the other, they would not
    meet, and the barrier would break."""
    meet = threading.Barrier(2, timeout=10)
    real = os.writev

    def writev(fd, buffers):
        meet.wait()
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", writev)
    body = os.urandom(3 * BLOCK)
    seen = bytearray()
    store = _store(tmp_path)

    def observe(piece: bytes) -> None:
        if len(seen) % BLOCK == 0:  # the block's first piece
            meet.wait()
        seen.extend(piece)

    try:
        blob = asyncio.run(store.stage(_chunks(body, [BLOCK]), observe))
        assert store._blob_path(blob.ref).read_bytes() == body == bytes(seen)
    finally:
        store.close()


def test_a_failing_write_cleans_up_and_leaves_no_work_running(tmp_path, monkeypatch):
    real = os.writev
    calls = []
    hashing = threading.Event()

    def failing(fd, buffers):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, buffers)

    def slow_observe(piece: bytes) -> None:
        hashing.set()
        threading.Event().wait(0.01)  # the hashing side is still busy when the write fails
        hashing.clear()

    async def run() -> None:
        with pytest.raises(OSError) as raised:
            await store.stage(_chunks(os.urandom(6 * BLOCK), [BLOCK]), slow_observe)
        assert raised.value.errno == errno.ENOSPC
        assert not hashing.is_set()  # no thread is left working on the block (checked before the loop ends)
        assert _files(store.tmp) == [] and _files(store.blobs) == []

    monkeypatch.setattr(os, "writev", failing)
    store = _store(tmp_path)
    try:
        asyncio.run(run())
    finally:
        store.close()


def test_a_failed_early_writeback_fails_the_put(tmp_path, monkeypatch):
    """Linux reports a failed writeback once: the final fsync would pass, so the early one's error must count."""
    def failing(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    store = _store(tmp_path)
    try:
        with pytest.raises(OSError) as raised:
            asyncio.run(store.stage(_chunks(os.urandom(r2_files.WRITEBACK + BLOCK), [BLOCK]), lambda piece: None))
        assert raised.value.errno == errno.EIO
        assert _files(store.tmp) == [] and _files(store.blobs) == []
    finally:
        store.close()


def test_a_failing_hash_or_body_cleans_up(tmp_path):
    store = _store(tmp_path)

    def refuse(piece: bytes) -> None:
        raise ValueError("refused")

    async def broken_body():
        yield os.urandom(BLOCK)
        yield os.urandom(BLOCK)
        raise ConnectionResetError("client left")

    try:
        with pytest.raises(ValueError):
            asyncio.run(store.stage(_chunks(os.urandom(3 * BLOCK), [BLOCK]), refuse))
        with pytest.raises(ConnectionResetError):
            asyncio.run(store.stage(broken_body(), lambda piece: None))
        assert _files(store.tmp) == [] and _files(store.blobs) == []
    finally:
        store.close()


def test_durability_steps_keep_their_order(tmp_path, monkeypatch):
    """Kill-safety: the bytes stay in tmp/ until fsynced, then are renamed into blobs/ and the directory is
    fsynced; nothing reaches blobs/ before the file's fsync, so a kill before it leaves only a temporary file."""
    steps: list[str] = []
    real_fsync, real_rename, real_writev = os.fsync, os.rename, os.writev

    def fsync(fd):
        steps.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        return real_fsync(fd)

    def rename(source, target):
        steps.append("rename")
        return real_rename(source, target)

    def writev(fd, buffers):
        steps.append("write")
        assert _files(tmp_path / "r2" / "blobs") == []
        return real_writev(fd, buffers)

    store = _store(tmp_path)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "writev", writev)
    try:
        blob = asyncio.run(store.stage(_chunks(os.urandom(2 * BLOCK + 1), [65536])))
    finally:
        store.close()
    assert [s for s in steps if s != "write"] == ["fsync-file", "rename", "fsync-dir"]
    assert steps[:3] == ["write"] * 3 and steps.index("fsync-file") == 3
    assert store._blob_path(blob.ref).stat().st_size == 2 * BLOCK + 1


def test_a_half_written_body_is_a_temporary_file_that_start_removes(tmp_path):
    store = _store(tmp_path)
    paused = asyncio.Event()

    async def stalled():
        yield os.urandom(BLOCK)
        yield os.urandom(BLOCK)
        paused.set()
        await asyncio.Event().wait()  # the client stalls: as if the process were killed right now

    async def run() -> None:
        task = asyncio.ensure_future(store.stage(stalled()))
        await paused.wait()
        await asyncio.sleep(0.05)
        assert len(_files(store.tmp)) == 1 and _files(store.blobs) == []
        restarted = EmbeddedObjectStore(tmp_path / "r2", tmp_path / "r2.sqlite3")
        restarted.start()  # as after a kill: the temporary file goes
        restarted.close()
        assert _files(store.tmp) == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
        assert _files(store.tmp) == [] and _files(store.blobs) == []
    finally:
        store.close()


def test_overlapped_gives_every_work_each_item_in_order_and_settles_on_failure():
    seen: dict[str, list[int]] = {"a": [], "b": []}
    running = threading.Event()

    async def items():
        for i in range(20):
            yield i

    def work(name: str):
        def each(item: int) -> None:
            running.set()
            threading.Event().wait(0.001)
            seen[name].append(item)
            running.clear()
        return each

    asyncio.run(overlapped(items(), work("a"), work("b")))
    assert seen == {"a": list(range(20)), "b": list(range(20))}

    def fails(item: int) -> None:
        if item == 5:
            raise RuntimeError("boom")

    async def failing() -> None:
        with pytest.raises(RuntimeError):
            await overlapped(items(), work("a"), fails)
        assert not running.is_set()  # the other work's thread finished its item before the failure came out
        assert seen["a"] == list(range(6))

    seen = {"a": [], "b": []}
    asyncio.run(failing())
