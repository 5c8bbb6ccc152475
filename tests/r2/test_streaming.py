"""Bodies stream: half a GiB through PUT and GET moves the server's peak RSS by far less than the object."""

from __future__ import annotations

import hashlib
import os
import uuid

import httpx

MIB = 1024 * 1024


def _peak_rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def test_half_a_gib_streams_through(server):
    base = f"{server.url}/r2/stream-{uuid.uuid4().hex[:8]}/big-objects"
    assert httpx.put(base).status_code == 200
    block, count = os.urandom(8 * MIB), 64  # 512 MiB
    digest = hashlib.md5()

    def body():
        for _ in range(count):
            digest.update(block)
            yield block

    before = _peak_rss_mib(server.proc.pid)
    put = httpx.put(f"{base}/blob", content=body(), headers={"content-length": str(count * len(block))}, timeout=300)
    assert put.status_code == 200 and put.headers["etag"] == f'"{digest.hexdigest()}"'
    got = hashlib.md5()
    with httpx.stream("GET", f"{base}/blob", timeout=300) as response:
        for chunk in response.iter_raw():
            got.update(chunk)
    assert got.hexdigest() == digest.hexdigest()
    assert _peak_rss_mib(server.proc.pid) - before < 128, "the object went through memory"
    assert httpx.delete(f"{base}/blob").status_code == 204
