"""Latency a Worker sees for its bindings through kumo's binding bridge, against the same work through kumo's
REST API called by the same Worker with fetch(), in one run.

Pieces: `kumo serve` (an index of --vectors x 384 clustered vectors, cosine); the Worker tests/workers/probe
run by `kumo workers dev` (wrangler config, miniflare, workerd); this client, one keep-alive connection to the
Worker, sequential requests. Each iteration calls, in turn:

  bridge  POST /run    -> env.AI.run("@cf/baai/bge-small-en-v1.5", {text: [one sentence]})
  REST    POST /rest   -> fetch(kumo /client/v4/accounts/{a}/ai/run/@cf/baai/bge-small-en-v1.5)
  bridge  POST /query  -> env.VECTORIZE.query(vector, {topK: 5})
  REST    POST /rest   -> fetch(kumo .../vectorize/v2/indexes/probe-index/query)

so both paths share the client -> Worker hop and the machine's moment; "added" = bridge p50 - REST p50 (target:
<= 2 ms). For reference, kumo's REST called straight from this process (no Worker).

    .venv/bin/python bench/workers_bridge.py [--n 300] [--vectors 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import Server  # noqa: E402
from tests.workers.conftest import PROBE, Worker  # noqa: E402

MODEL = "@cf/baai/bge-small-en-v1.5"
SENTENCE = "Workers run close to the user, and kumo runs close to the Worker."
AUTH = {"authorization": "Bearer kumo-dev"}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--vectors", type=int, default=2000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    server = Server(work / "data").start()
    account = "bench-" + uuid.uuid4().hex[:8]
    rest = f"{server.url}/client/v4/accounts/{account}"
    rng = np.random.default_rng(16)
    centres = rng.normal(size=(50, 384))
    vectors = centres[rng.integers(0, 50, args.vectors)] + rng.normal(scale=0.3, size=(args.vectors, 384))
    with httpx.Client(headers=AUTH, timeout=120) as http:
        http.post(f"{rest}/vectorize/v2/indexes", json={"name": "probe-index",
                                                      "config": {"dimensions": 384, "metric": "cosine"}})
        for start in range(0, args.vectors, 1000):
            lines = "\n".join(json.dumps({"id": f"v{i}", "values": vectors[i].round(5).tolist()})
                              for i in range(start, min(start + 1000, args.vectors)))
            assert http.post(f"{rest}/vectorize/v2/indexes/probe-index/upsert", content=lines,
                             headers={"content-type": "application/x-ndjson"}).status_code == 200

    worker = Worker(PROBE, server.url, account, work / "worker.log")
    query_vector = vectors[7].round(5).tolist()
    calls = {
        "AI.run bridge": ("run", {"model": MODEL, "inputs": {"text": [SENTENCE]}}),
        "AI.run REST": ("rest", {"url": f"{rest}/ai/run/{MODEL}", "body": {"text": [SENTENCE]}}),
        "VECTORIZE.query bridge": ("query", {"vector": query_vector, "options": {"topK": 5}}),
        "VECTORIZE.query REST": ("rest", {"url": f"{rest}/vectorize/v2/indexes/probe-index/query",
                                          "body": {"vector": query_vector, "topK": 5}}),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    direct: dict[str, list[float]] = {"AI.run": [], "VECTORIZE.query": []}
    try:
        with httpx.Client(timeout=120) as client, httpx.Client(headers=AUTH, timeout=120) as http:
            def hit(route: str, body: dict) -> None:
                response = client.post(f"{worker.url}/{route}", content=json.dumps(body))
                assert response.status_code == 200 and "ok" in response.json(), response.text[:300]

            for _ in range(30):  # warm up: model loaded, connections open, JIT warm
                for route, body in calls.values():
                    hit(route, body)
            for _ in range(args.n):
                for name, (route, body) in calls.items():
                    times[name].append(timed(lambda: hit(route, body)))
                direct["AI.run"].append(timed(lambda: http.post(f"{rest}/ai/run/{MODEL}", json={"text": [SENTENCE]})))
                direct["VECTORIZE.query"].append(timed(lambda: http.post(
                    f"{rest}/vectorize/v2/indexes/probe-index/query", json={"vector": query_vector, "topK": 5})))
    finally:
        worker.stop()
        server.stop()

    print("# Workers bindings through kumo's bridge vs kumo's REST API, as a Worker sees them\n")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}; "
          f"{args.n} sequential rounds, one keep-alive connection; index {args.vectors} x 384, cosine, topK 5\n")
    print("| call (from the Worker) | path | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---:|---:|---:|")
    for name, values in times.items():
        call, path = name.rsplit(" ", 1)
        print(f"| {call} | {'binding bridge' if path == 'bridge' else 'fetch() to REST'} | {pct(values, 50):.2f} | "
              f"{pct(values, 90):.2f} | {pct(values, 99):.2f} |")
    for name, values in direct.items():
        print(f"| {name} | REST from Python, no Worker | {pct(values, 50):.2f} | {pct(values, 90):.2f} | "
              f"{pct(values, 99):.2f} |")
    print()
    for call in ("AI.run", "VECTORIZE.query"):
        bridge, via_rest = times[f"{call} bridge"], times[f"{call} REST"]
        added = statistics.median(bridge) - statistics.median(via_rest)
        paired = statistics.median(b - r for b, r in zip(bridge, via_rest))
        print(f"{call}: bridge adds {added:+.2f} ms at p50 (median of paired differences {paired:+.2f} ms); "
              f"target <= 2 ms: {'met' if added <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
