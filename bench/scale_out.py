"""Scale-out benchmark: what PostgreSQL + Redis cost one kumo node, what a second node adds, and what a
second `kumo worker` adds to batch throughput. In one run:

1. AI Gateway, closed loop (`--conns` keep-alive connections for `--seconds` s, the fake provider of
   bench/gateway_proxy.py answering after 20 ms, every request logged and rate-limited):
   (a) one node embedded (SQLite logs, in-memory limits), (b) one node on PostgreSQL + Redis,
   (c) two nodes on PostgreSQL + Redis, the connections split over both (one load generator each).
   Prints requests/s, p50/p99 and the ratios b/a and c/b (the scaling factor).
2. Workers AI batch jobs on the PostgreSQL queue: `--jobs` jobs of `--requests` embeddings each, submitted
   to a node that leaves them to `kumo worker` processes (one inference thread each); time until all are
   done with 1 worker and with 2; prints requests/s and the ratio.

The machine has 2 cores, shared by the nodes, PostgreSQL, Redis, the fake provider and the load
generators, so two nodes cannot reach 2x here: the figure says what a second process buys on the same
box; on separate machines the nodes share only PostgreSQL and Redis.

Run:  .venv/bin/python bench/scale_out.py            # ~3 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "bench"), str(REPO)]
from _harness import KumoServer  # noqa: E402
from gateway.measure import loadgen_cmd  # noqa: E402  (the load generator)
from gateway.peers import Target, start_fake, stop  # noqa: E402  (the fake provider)
from gateway.workload import ACCOUNT, GATEWAY  # noqa: E402
from tests.pg_instance import PostgresDatabase  # noqa: E402  (a scratch database, dropped afterwards)

KUMO = str(Path(sys.executable).with_name("kumo"))  # the kumo of the venv running this script
REDIS = "redis://127.0.0.1:6379/15"
EMBED = "@cf/baai/bge-small-en-v1.5"


def start_node(workdir: Path, name: str, env: dict[str, str]) -> Target:
    node = KumoServer(workdir / name, env, kumo=[KUMO], log_path=workdir / f"{name}.log")
    return Target(name, node.port, f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", node.proc, node.pid)


def create_gateway(node: Target) -> None:
    r = httpx.post(f"http://127.0.0.1:{node.port}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways",
                   headers={"Authorization": "Bearer x"}, timeout=30,
                   json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None,
                         "collect_logs": True, "rate_limiting_interval": 60, "rate_limiting_limit": 100_000_000,
                         "rate_limiting_technique": "sliding"})
    r.raise_for_status()


def closed_loop(nodes: list[Target], conns: int, seconds: float) -> dict:
    """One load generator per node, all at once; requests/s summed, latencies pooled by weight."""
    procs = []
    for node in nodes:
        spec = {"mode": "closed", "conns": conns // len(nodes), "duration": seconds, "warmup": 2,
                "request": node.request(), "expect": "chat.completion", "host": "127.0.0.1", "port": node.port}
        procs.append(subprocess.Popen(loadgen_cmd(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 120)
        if proc.returncode != 0:
            raise RuntimeError(err[-2000:])
        results.append(json.loads(out.strip().splitlines()[-1]))
    rps = sum(r["rps"] for r in results)
    weight = [r["rps"] / rps for r in results]
    errors = sum(sum(r["errors"].values()) for r in results)
    return {"rps": rps, "errors": errors,
            "p50": sum(w * r["latency"]["p50"] for w, r in zip(weight, results)),
            "p99": max(r["latency"]["p99"] for r in results)}


def stop_all(nodes) -> None:
    for node in nodes:
        stop(node.proc)


def gateway_part(args, workdir: Path, fake: Target) -> dict:
    upstream = {"KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake.port}"}
    results = {}
    node = start_node(workdir, "embedded", upstream)
    create_gateway(node)
    results["embedded, 1 node"] = closed_loop([node], args.conns, args.seconds)
    stop_all([node])
    with PostgresDatabase("kumo_bench") as db:
        shared = {**upstream, "KUMO_DATABASE_URL": db.url, "KUMO_REDIS_URL": REDIS}
        one = start_node(workdir, "pg-a", shared)
        create_gateway(one)
        results["PostgreSQL + Redis, 1 node"] = closed_loop([one], args.conns, args.seconds)
        two = start_node(workdir, "pg-b", shared)
        results["PostgreSQL + Redis, 2 nodes"] = closed_loop([one, two], args.conns, args.seconds)
        stop_all([one, two])
    return results


def batch_part(args, workdir: Path) -> dict:
    results = {}
    for workers in (1, 2):
        with PostgresDatabase("kumo_bench") as db:
            env = {"KUMO_DATABASE_URL": db.url, "KUMO_BATCH_WORKER": "false"}
            node = start_node(workdir, f"batch-node-{workers}", env)
            procs = [subprocess.Popen([KUMO, "worker", "--data-dir", str(workdir / f"w{workers}-{i}")],
                                      env={**os.environ, **env, "KUMO_THREADS": "1"},
                                      stdout=open(workdir / f"worker-{workers}-{i}.log", "w"),
                                      stderr=subprocess.STDOUT) for i in range(workers)]
            url = f"http://127.0.0.1:{node.port}/client/v4/accounts/b/ai/run/{EMBED}"
            with httpx.Client(headers={"Authorization": "Bearer x"}, timeout=60) as client:
                client.post(url, json={"text": "warm the node"})  # the node validates the model on submit
                time.sleep(3)  # workers connected
                started = time.perf_counter()
                ids = [client.post(url, params={"queueRequest": "true"},
                                   json={"requests": [{"text": f"job {j} document {i} " * 8}
                                                      for i in range(args.requests)]}).json()["result"]["request_id"]
                       for j in range(args.jobs)]
                pending = set(ids)
                while pending:
                    for job_id in list(pending):
                        r = client.post(url, params={"queueRequest": "true"}, json={"request_id": job_id})
                        if "responses" in r.json()["result"]:
                            pending.discard(job_id)
                    time.sleep(0.1)
                elapsed = time.perf_counter() - started
            for proc in procs:
                stop(proc)
            stop_all([node])
        results[f"{workers} worker(s)"] = {"seconds": elapsed, "requests_per_s": args.jobs * args.requests / elapsed}
        print(f"  batch, {workers} worker(s): {elapsed:.1f} s, {args.jobs * args.requests / elapsed:.0f} req/s",
              flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kumo-scale-"))
    fake_args = argparse.Namespace(latency_ms=20.0, chunks=20, chunk_gap_ms=1.0)
    fake = start_fake(fake_args, workdir)
    try:
        gateway = gateway_part(args, workdir, fake)
    finally:
        stop(fake.proc)
    batch = batch_part(args, workdir)

    print(f"\nAI Gateway, closed loop, {args.conns} connections, fake provider at 20 ms:")
    print(f"  {'setup':30s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} errors")
    for name, r in gateway.items():
        print(f"  {name:30s} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']}")
    a, b, c = (gateway[k]["rps"] for k in gateway)
    print(f"  PostgreSQL + Redis vs embedded, one node: {b / a:.2f}x; two nodes vs one: {c / b:.2f}x")
    one, two = batch["1 worker(s)"], batch["2 worker(s)"]
    print(f"\nBatch embeddings ({args.jobs} jobs x {args.requests}): 1 worker {one['requests_per_s']:.0f} req/s, "
          f"2 workers {two['requests_per_s']:.0f} req/s: {two['requests_per_s'] / one['requests_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"gateway": gateway, "batch": batch}, indent=2))


if __name__ == "__main__":
    main()
