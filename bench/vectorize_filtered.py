"""Filtered Vectorize queries over HTTP, A/B: this tree's `kumo serve` against another kumo tree's, in one run.

Both servers get the same N clustered 384-d vectors (cosine) through `insert`, with metadata indexes on
`bucket` (number, 100 values: a 1 % filter) and `half` (string, 2 values: a 50 % filter). One client process
per server sends one query at a time, the two servers taking turns chunk by chunk (the machine is shared, so
both see the same noise). Every answer is checked against numpy's exact filtered top-10. The ANN threshold is
set above N on both: filtered queries never use the graph, and a graph being built behind the load would
only add noise.

Run:  PYTHONPATH=src .venv/bin/python bench/vectorize_filtered.py --against /path/to/other/kumo/src
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from _harness import load_average, say, table
from vectorize_http import Client, Server, ids_of
from _vectors import TOP_K, clustered, unit_centres

ACCOUNT = "bench-account"
INDEX = "bench-filtered"
BASE = f"/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes"


def load(server: Server, data: np.ndarray, buckets: np.ndarray, halves: np.ndarray, batch: int) -> Client:
    client = Client(server.port)
    client.json("POST", BASE, {"name": INDEX, "config": {"dimensions": data.shape[1], "metric": "cosine"}})
    for prop, kind in (("bucket", "number"), ("half", "string")):
        client.json("POST", f"{BASE}/{INDEX}/metadata_index/create", {"propertyName": prop, "indexType": kind})
    for start in range(0, len(data), batch):
        body = b"\n".join(orjson.dumps({"id": str(i), "values": data[i].tolist(),
                                        "metadata": {"bucket": int(buckets[i]), "half": "ab"[halves[i]]}})
                          for i in range(start, min(len(data), start + batch)))
        status, payload = client.request("POST", f"{BASE}/{INDEX}/insert", body)
        assert status == 200, payload
    return client


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", type=Path, help="another kumo tree's src/ (e.g. main's) to compare with")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300, help="queries per filter and server")
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    centres = unit_centres(rng, 1000, args.dims)
    data = clustered(rng, centres, args.n, 2.0)
    queries = clustered(rng, centres, args.queries, 2.0)
    buckets = rng.integers(0, 100, args.n)
    halves = rng.integers(0, 2, args.n)
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-filtered-"))
    env = {"KUMO_VECTORIZE_ANN_THRESHOLD": str(args.n * 10)}
    trees = {"this tree": None} | ({f"{args.against}": args.against} if args.against else {})
    servers, clients = {}, {}
    try:
        for name, src in trees.items():
            extra = {"PYTHONPATH": str(src)} if src else {}
            servers[name] = Server(tmp / f"data{len(servers)}", env={**env, **extra})
            t = time.perf_counter()
            clients[name] = load(servers[name], data, buckets, halves, 1000)
            say(f"{name}: {args.n:,} vectors loaded in {time.perf_counter() - t:.1f}s")
        cases = {
            "1 % (number: bucket == b)": (lambda i: {"bucket": int(i % 100)}, lambda i: buckets == i % 100),
            "50 % (string: half == 'a'|'b')": (lambda i: {"half": "ab"[i % 2]}, lambda i: halves == i % 2),
        }
        rows = []
        for label, (make_filter, make_mask) in cases.items():
            bodies = [orjson.dumps({"vector": queries[i].tolist(), "topK": TOP_K, "filter": make_filter(i)})
                      for i in range(args.queries)]
            want = []
            for i in range(args.queries):
                scores = np.where(make_mask(i), data @ queries[i], -np.inf)
                want.append(np.argsort(-scores, kind="stable")[:TOP_K].tolist())
            lat = {name: np.empty(args.queries) for name in trees}
            exact = dict.fromkeys(trees, 0)
            cpu = dict.fromkeys(trees, 0.0)
            for name in trees:  # warm: the first sightings of each filter
                for body in bodies[:4]:
                    clients[name].request("POST", f"{BASE}/{INDEX}/query", body)
            for start in range(0, args.queries, args.chunk):
                for name in trees:
                    cpu0 = servers[name].cpu_seconds()
                    for i in range(start, min(args.queries, start + args.chunk)):
                        s = time.perf_counter()
                        status, payload = clients[name].request("POST", f"{BASE}/{INDEX}/query", bodies[i])
                        lat[name][i] = time.perf_counter() - s
                        exact[name] += status == 200 and _same(ids_of(payload), want[i], data, queries[i])
                    cpu[name] += servers[name].cpu_seconds() - cpu0
            for name in trees:
                rows.append([label, name, args.queries / lat[name].sum(), np.percentile(lat[name], 50) * 1000,
                             np.percentile(lat[name], 99) * 1000, cpu[name] / args.queries * 1000,
                             f"{exact[name]}/{args.queries}"])
            if len(trees) == 2:
                a, b = trees
                say(f"{label}: this tree / {b} = {lat[b].sum() / lat[a].sum():.2f}x QPS")
        say(f"\n{args.n:,} × {args.dims}, topK {TOP_K}, one client per server, load average {load_average()}\n")
        say(table(["filter", "kumo", "QPS", "p50 ms", "p99 ms", "server CPU ms/query", "exact"], rows))
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _same(got: list[int], want: list[int], data: np.ndarray, q: np.ndarray) -> bool:
    """Equal, or equal up to exact ties at the boundary (the same float64 scores)."""
    if got == want:
        return True
    q64 = q.astype(np.float64)
    sg = np.sort(data[got].astype(np.float64) @ q64)
    sw = np.sort(data[want].astype(np.float64) @ q64)
    return len(sg) == len(sw) and np.allclose(sg, sw, rtol=0, atol=1e-9)


if __name__ == "__main__":
    raise SystemExit(main())
