"""Vectorize ingest benchmark: acknowledged inserts per second through a real `kumo serve`.

What it measures, in one run:

* kumo over HTTP: a `kumo serve` subprocess on 127.0.0.1 with a fresh temp --data-dir per scenario;
  an index of `--dims` dims is created over HTTP, then NDJSON batches of `--batch` vectors are POSTed
  to `/client/v4/accounts/{acct}/vectorize/v2/indexes/{name}/insert` (httpx, `Authorization: Bearer x`)
  by 1 client and by 4 concurrent clients. A vector counts once its request is answered 200
  (committed to SQLite with synchronous=FULL and in memory; the ANN graph is built behind).
  Each client count runs twice: with kumo's default settings, and with the ANN graph kept out of
  the way (KUMO_VECTORIZE_ANN_THRESHOLD far above N) to show what the graph builder costs ingest.
  The server's RSS (VmRSS, and peak VmHWM) is read from /proc/<pid>/status after the ingest.
* raw peers on the same vectors, in this process: a plain SQLite table (WAL, synchronous=FULL, one
  transaction with executemany of float32 blobs per batch) and raw hnswlib `add_items` per batch.
* a breakdown of kumo's own steps in this process: `parse_batch` on the same NDJSON bodies, plain
  `json.loads` per line, and `VectorizeService.write` without the background indexer.

Vectors are unit-norm random float32; in the NDJSON they are written the way JavaScript or numpy's
`tolist()` writes float32 values (shortest repr of the float64, ~17 digits) unless `--digits` rounds them.

Run:  .venv/bin/python bench/vectorize_ingest.py            # 100,000 vectors per scenario, a few minutes
      .venv/bin/python bench/vectorize_ingest.py --n 20000 --clients 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from _harness import KumoServer, cpu_model, load_average, say, table

ACCOUNT = "bench-account"


# ---- data -----------------------------------------------------------------------------------
def make_vectors(n: int, dims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, dims), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def ndjson_bodies(vectors: np.ndarray, batch: int, digits: int | None, prefix: str = "v") -> list[bytes]:
    bodies = []
    for start in range(0, len(vectors), batch):
        block = vectors[start : start + batch]
        rows = np.round(block.astype(np.float64), digits).tolist() if digits is not None else block.tolist()
        lines = [json.dumps({"id": f"{prefix}{start + i}", "values": row}, separators=(",", ":"))
                 for i, row in enumerate(rows)]
        bodies.append(("\n".join(lines) + "\n").encode())
    return bodies


# ---- kumo over HTTP -------------------------------------------------------------------------
def http_ingest(server: KumoServer, index: str, dims: int, bodies: list[bytes], clients: int,
                probe_every: float = 0.0) -> dict:
    headers = {"Authorization": "Bearer x"}
    base = f"{server.url}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes"
    r = httpx.post(base, json={"name": index, "config": {"dimensions": dims, "metric": "cosine"}}, headers=headers)
    r.raise_for_status()
    url = f"{base}/{index}/insert"
    latencies: list[float] = []
    errors: list[str] = []
    acked = [0]
    lock = threading.Lock()

    def worker(mine: list[bytes]) -> None:
        with httpx.Client(headers={**headers, "Content-Type": "application/x-ndjson"}, timeout=None) as client:
            for body in mine:
                t = time.perf_counter()
                resp = client.post(url, content=body)
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if resp.status_code == 200 and resp.json().get("success"):
                        acked[0] += body.count(b"\n")
                    else:
                        errors.append(f"{resp.status_code} {resp.text[:200]}")

    probe_lat: list[float] = []
    done = threading.Event()

    def probe() -> None:
        """A reader beside the writers: one topK=10 query every `probe_every` s, its latency noted."""
        rng = np.random.default_rng(0)
        with httpx.Client(headers=headers, timeout=None) as client:
            while not done.wait(probe_every):
                q = rng.standard_normal(dims).astype(np.float32)
                t = time.perf_counter()
                resp = client.post(f"{base}/{index}/query", json={"vector": q.tolist(), "topK": 10})
                if resp.status_code == 200:
                    probe_lat.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    prober = threading.Thread(target=probe) if probe_every > 0 else None
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    if prober is not None:
        prober.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    done.set()
    if prober is not None:
        prober.join()
    info = httpx.get(f"{base}/{index}/info", headers=headers).json()["result"]
    return {"wall": wall, "acked": acked[0], "errors": errors, "lat": np.asarray(latencies),
            "count": info["vectorCount"], "probe": np.asarray(probe_lat)}


# ---- raw peers ------------------------------------------------------------------------------
def sqlite_peer(vectors: np.ndarray, batch: int) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-sqlite-"))
    try:
        conn = sqlite3.connect(tmp / "peer.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE vectors (id TEXT PRIMARY KEY, vals BLOB NOT NULL)")
        t = time.perf_counter()
        for start in range(0, len(vectors), batch):
            block = vectors[start : start + batch]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO vectors (id, vals) VALUES (?, ?)",
                             [(f"v{start + i}", row.tobytes()) for i, row in enumerate(block)])
            conn.execute("COMMIT")
        wall = time.perf_counter() - t
        conn.close()
        return wall
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def hnswlib_peer(vectors: np.ndarray, batch: int, threads: int, m: int, ef_construction: int) -> float:
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=m, ef_construction=ef_construction)
    t = time.perf_counter()
    for start in range(0, len(vectors), batch):
        index.add_items(vectors[start : start + batch], np.arange(start, min(len(vectors), start + batch)),
                        num_threads=threads)
    return time.perf_counter() - t


def breakdown(vectors: np.ndarray, bodies: list[bytes], batch: int) -> list[tuple[str, float]]:
    """kumo's own ingest steps, in this process, on the same data."""
    from kumo.storage.sqlite_vectors import SqliteVectorStore
    from kumo.vectorize.batch import VectorBatch, parse_batch
    from kumo.vectorize.embedded import EmbeddedEngine
    from kumo.vectorize.service import VectorizeService
    from kumo.vectorize.space import AnnParams

    dims = vectors.shape[1]
    out = []
    t = time.perf_counter()
    for body in bodies:
        for line in body.splitlines():
            json.loads(line)
    out.append(("json.loads per NDJSON line (decode only)", time.perf_counter() - t))
    t = time.perf_counter()
    batches = [parse_batch(body, dims) for body in bodies]
    out.append(("kumo parse_batch (decode + validate + to float32)", time.perf_counter() - t))
    del batches
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-write-"))
    try:
        # the Vectorize part of kumo's Platform, not started: no background graph builder
        store = SqliteVectorStore(tmp / "vectorize.sqlite3")
        service = VectorizeService(store, EmbeddedEngine(store, tmp / "snapshots", AnnParams()))
        service.create_index(ACCOUNT, "inproc", {"dimensions": dims, "metric": "cosine"})
        t = time.perf_counter()
        for start in range(0, len(vectors), batch):
            block = vectors[start : start + batch]
            ids = [f"v{start + i}" for i in range(len(block))]
            service.write(ACCOUNT, "inproc", VectorBatch(ids, block, [None] * len(ids), [None] * len(ids)),
                          upsert=False)
        out.append(("kumo VectorizeService.write, no graph builder (SQLite + memory)", time.perf_counter() - t))
        service.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---- the benchmark --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from kumo.config import Settings

    defaults = Settings.model_fields
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="vectors per scenario (default 100,000)")
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1000, help="vectors per request / transaction (default 1000)")
    ap.add_argument("--clients", default="1,4", help="concurrent HTTP clients to try (default 1,4)")
    ap.add_argument("--no-graph-variant", action=argparse.BooleanOptionalAction, default=True,
                    help="also run each client count with the ANN graph builder kept idle (default on)")
    ap.add_argument("--digits", type=int, default=None,
                    help="round values to this many decimals in the NDJSON (default: full float32 precision)")
    ap.add_argument("--probe-every", type=float, default=0.25,
                    help="seconds between the probe queries sent during ingest (0: no probe; default 0.25)")
    ap.add_argument("--hnsw-threads", default="1", help="num_threads for the raw hnswlib peer (default 1, like kumo)")
    ap.add_argument("--kumo", default=str(Path(sys.executable).with_name("kumo")), help="the kumo executable")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    m = defaults["vectorize_hnsw_m"].default
    efc = defaults["vectorize_hnsw_ef_construction"].default
    threshold = defaults["vectorize_ann_threshold"].default

    say("# kumo Vectorize ingest benchmark\n")
    say(f"machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, numpy {np.__version__}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; load average at start {load_average()}")
    vectors = make_vectors(args.n, args.dims, args.seed)
    t = time.perf_counter()
    bodies = ndjson_bodies(vectors, args.batch, args.digits)
    size = sum(map(len, bodies))
    say(f"data: {args.n:,} unit vectors x {args.dims} dims, {len(bodies)} NDJSON bodies of {args.batch} "
        f"({size / len(bodies) / 2**20:.1f} MiB each, {size / args.n / 1024:.1f} KiB per vector; "
        f"encoded in {time.perf_counter() - t:.1f}s); kumo defaults: ann_threshold={threshold}, M={m}, "
        f"ef_construction={efc}\n")

    rows, probes = [], []
    scenarios = [(c, True) for c in map(int, args.clients.split(","))]
    if args.no_graph_variant:
        scenarios += [(c, False) for c in map(int, args.clients.split(","))]
    for clients, graph in scenarios:
        env = {} if graph else {"KUMO_VECTORIZE_ANN_THRESHOLD": str(10 * args.n + 10**9)}
        label = f"kumo serve, HTTP insert, {clients} client{'s' if clients > 1 else ''}" + (
            "" if graph else ", graph builder idle")
        server = KumoServer(env=env, kumo=[os.path.abspath(args.kumo) if os.sep in args.kumo else args.kumo],
                            clean_env=True)
        try:
            res = http_ingest(server, "bench-ingest", args.dims, bodies, clients, args.probe_every)
            rss, hwm = server.rss_mb(), server.rss_mb("VmHWM")
        finally:
            server.stop()
        if res["errors"]:
            say(f"  {len(res['errors'])} failed requests, first: {res['errors'][0]}")
        rate = res["acked"] / res["wall"]
        lat = res["lat"]
        rows.append([label, res["acked"], res["wall"], rate, float(np.percentile(lat, 50) * 1000),
                     float(np.percentile(lat, 99) * 1000), f"{rss:,.0f} / {hwm:,.0f}"])
        probe = res["probe"]
        if len(probe):
            probes.append([label, len(probe), float(np.percentile(probe, 50) * 1000),
                           float(np.percentile(probe, 99) * 1000), float(probe.max() * 1000)])
        say(f"{label}: {res['acked']:,} acknowledged in {res['wall']:.1f}s = {rate:,.0f} vectors/s "
            f"(index reports {res['count']:,}); server RSS {rss:,.0f} MiB, peak {hwm:,.0f} MiB")

    sqlite_wall = sqlite_peer(vectors, args.batch)
    rows.append(["raw SQLite table, WAL + synchronous=FULL, executemany/batch", args.n, sqlite_wall,
                 args.n / sqlite_wall, float("nan"), float("nan"), ""])
    say(f"raw SQLite: {args.n / sqlite_wall:,.0f} vectors/s")
    for threads in map(int, args.hnsw_threads.split(",")):
        wall = hnswlib_peer(vectors, args.batch, threads, m, efc)
        rows.append([f"raw hnswlib add_items/batch, {threads} thread{'s' if threads > 1 else ''} (M={m}, efC={efc})",
                     args.n, wall, args.n / wall, float("nan"), float("nan"), ""])
        say(f"raw hnswlib ({threads} thread): {args.n / wall:,.0f} vectors/s")

    sqlite_rate = args.n / sqlite_wall
    hnsw_rate = rows[-1][3]
    for r in rows:
        r.insert(4, f"{r[3] / sqlite_rate:.0%}")
        r.insert(5, f"{r[3] / hnsw_rate:.0%}")

    parts = breakdown(vectors, bodies, args.batch)

    say("\n## Acknowledged inserts\n")
    say(table(["path", "vectors", "seconds", "vectors/s", "vs SQLite", "vs hnswlib", "request p50 ms",
               "request p99 ms", "server RSS / peak MiB"], rows))
    if probes:
        say(f"\n## Query latency during ingest (one topK=10 query every {args.probe_every} s beside the writers)\n")
        say(table(["scenario", "queries", "p50 ms", "p99 ms", "max ms"], probes))
    say("\n## Where the time goes: kumo's steps in-process on the same data (single thread)\n")
    say(table(["step", "seconds", "vectors/s"], [[name, wall, args.n / wall] for name, wall in parts]))
    say(f"\nload average at the end: {load_average()} (on a busy machine every figure above is lower)")
    say(f"\nraw float32 vectors: {vectors.nbytes / 2**20:,.0f} MiB; NDJSON sent per scenario: {size / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
