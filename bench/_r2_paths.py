"""The R2 benchmark's clients and paths (bench/r2_objects.py): PUT and GET by httpx threads or by `curl`
processes against any base URL (kumo's /r2/<account>/<bucket>, the HTTP floor's /), the raw disk path done by
the bench itself, and the floor's bare ASGI app."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx

from _harness import curl_transfers

MIB = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_threads(clients: int, ops_each: int, op) -> tuple[float, list[float]]:
    """Wall seconds and every op's latency (seconds) for `clients` threads doing `ops_each` ops each. An op
    with `batch(c, count)` does a client's ops in one go (a curl process) and reports their latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(c: int) -> None:
        if hasattr(op, "batch"):
            try:
                took = op.batch(c, ops_each)
                with lock:
                    latencies.extend(took)
            except BaseException as exc:  # reported after the join
                errors.append(exc)
            return
        state = op.setup() if hasattr(op, "setup") else None
        try:
            for i in range(ops_each):
                start = time.perf_counter()
                op(c, i, state)
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
        except BaseException as exc:  # reported after the join
            errors.append(exc)
        finally:
            if state is not None and hasattr(state, "close"):
                state.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start, latencies


class HttpPut:
    """PUT <base>/<tag>/<c>/<i> with the payload, by an httpx client per thread."""

    def __init__(self, base: str, payload: bytes, tag: str):
        self.base, self.payload, self.tag = base, payload, tag

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        r = http.put(f"{self.base}/{self.tag}/{c}/{i}", content=self.payload)
        assert r.status_code == 200, r.text


class HttpGet:
    def __init__(self, base: str, tag: str, size: int):
        self.base, self.tag, self.size = base, tag, size

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        got = 0
        with http.stream("GET", f"{self.base}/{self.tag}/{c}/{i}") as r:
            assert r.status_code == 200
            for chunk in r.iter_raw(MIB):
                got += len(chunk)
        assert got == self.size


class CurlPut:
    """The same PUTs by one `curl` process per client thread (the payload read from a file)."""

    def __init__(self, base: str, payload_file: Path, tag: str):
        self.base, self.payload_file, self.tag = base, payload_file, tag
        self.size = payload_file.stat().st_size

    def batch(self, c: int, count: int) -> list[float]:
        results = curl_transfers([f"{self.base}/{self.tag}/{c}/{i}" for i in range(count)], self.payload_file)
        assert all(status == 200 and sent == self.size for status, _, sent in results), results
        return [seconds for _, seconds, _ in results]


class CurlGet:
    def __init__(self, base: str, tag: str, size: int):
        self.base, self.tag, self.size = base, tag, size

    def batch(self, c: int, count: int) -> list[float]:
        results = curl_transfers([f"{self.base}/{self.tag}/{c}/{i}" for i in range(count)])
        assert all(status == 200 and got == self.size for status, _, got in results), results
        return [seconds for _, seconds, _ in results]


class RawPut:
    """The same bytes written with kumo's durability steps: write, fsync, rename, fsync the directory."""

    def __init__(self, root: Path, payload: bytes, tag: str):
        self.root, self.payload, self.tag = root, payload, tag

    def __call__(self, c: int, i: int, state) -> None:
        name = f"{self.tag}-{c}-{i}"
        temp = self.root / "tmp" / name
        with open(temp, "wb") as f:
            view = memoryview(self.payload)
            for at in range(0, len(view), MIB):
                f.write(view[at:at + MIB])
            f.flush()
            os.fsync(f.fileno())
        os.rename(temp, self.root / "objects" / name)
        fd = os.open(self.root / "objects", os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


class RawGet:
    def __init__(self, root: Path, tag: str, size: int):
        self.root, self.tag, self.size = root, tag, size

    def __call__(self, c: int, i: int, state) -> None:
        got = 0
        with open(self.root / "objects" / f"{self.tag}-{c}-{i}", "rb") as f:
            while block := f.read(MIB):
                got += len(block)
        assert got == self.size


FLOOR_APP = """
import asyncio, os

ROOT = os.environ["FLOOR_ROOT"]


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    name = scope["path"].strip("/").replace("/", "_")
    path = os.path.join(ROOT, "objects", name)
    if scope["method"] == "PUT":
        temp = os.path.join(ROOT, "tmp", name)
        f = open(temp, "wb")
        pending, held = [], 0
        while True:
            message = await receive()
            pending.append(message.get("body", b""))
            held += len(pending[-1])
            more = message.get("more_body", False)
            if held >= 1048576 or not more:
                await asyncio.to_thread(f.write, b"".join(pending))
                pending, held = [], 0
            if not more:
                break
        def finish():
            f.flush(); os.fsync(f.fileno()); f.close(); os.rename(temp, path)
            fd = os.open(os.path.join(ROOT, "objects"), os.O_RDONLY); os.fsync(fd); os.close(fd)
        await asyncio.to_thread(finish)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    if not os.path.exists(path):
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    f = await asyncio.to_thread(open, path, "rb")
    size = os.fstat(f.fileno()).st_size
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(size).encode())]})
    while block := await asyncio.to_thread(f.read, 1048576):
        await send({"type": "http.response.body", "body": block, "more_body": True})
    f.close()
    await send({"type": "http.response.body", "body": b""})
"""
