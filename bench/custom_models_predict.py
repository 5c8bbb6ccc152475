"""Custom models benchmark: one-row predictions through kumo over HTTP against the raw model in process.

In one run, side by side, for the guide's model (a scikit-learn RandomForest) saved as skops and converted to
ONNX with skl2onnx:

(a) raw: `predict_proba` on one row (a 1 x F numpy array) in this process, and the ONNX file on an
    `onnxruntime.InferenceSession` (one thread, as kumo runs it); one caller in a loop, then `--clients`
    threads calling at once (what an in-process app with many request threads gets);
(b) kumo: `POST /client/v4/accounts/A/ai/run/@custom/<name>` with `{"features": [...]}` to a real `kumo serve`
    subprocess on 127.0.0.1 (a temporary data dir, the model uploaded to its R2 with boto3 and registered over
    the v4 API): one client on a keep-alive connection, then `--clients` concurrent clients (aiohttp), which
    kumo's micro-batcher answers with shared predicts.

Printed: p50 latency per call and the latency kumo adds (kumo p50 - raw p50, one caller), calls/s and the
ratio kumo / raw (many callers: against the better of raw's one-caller and many-thread figures), and the
server's whole-process CPU seconds per 1,000 calls (utime + stime of the `kumo serve` process, every thread).
With `--baseline-src DIR` a second `kumo serve` runs another source tree (e.g. a `git worktree` of main) and its
blocks follow this one's between the same raw blocks: old vs new in one run.
Targets: added p50 <= 2 ms; with many callers >= 90 % of raw calls/s.

Raw and kumo blocks alternate (`--repeats`), so drift on a shared machine hits both alike; figures taken on a
busy machine say so in the README.

Run:  .venv/bin/python bench/custom_models_predict.py            # ~1-2 minutes on 2 cores
      .venv/bin/python bench/custom_models_predict.py --calls 4000 --clients 64 --trees 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ACCOUNT = "bench"
TOKEN = "bench-custom-models-token-0123456789"
FEATURES = 8
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p50_ms(seconds: list[float]) -> float:
    return float(np.percentile(seconds, 50) * 1000)


class KumoServer:
    def __init__(self, src: str | None = None):
        """`src`: another kumo's src/ to run (PYTHONPATH), e.g. a `git worktree` of main for an A/B."""
        self.tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-cm-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.src = src

    def __enter__(self) -> KumoServer:
        env = {**os.environ, "KUMO_API_TOKENS": json.dumps([{"token": TOKEN}])}
        if self.src:
            env["PYTHONPATH"] = self.src
        self._log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "kumo", "serve", "--port", str(self.port), "--data-dir",
                                      str(self.tmp / "data"), "--log-level", "warning"],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.tmp / "server.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("kumo serve did not become healthy in 60 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_models(trees: int, work: Path):
    """The guide's RandomForest on synthetic churn-like data: skops and ONNX files, and the fitted model."""
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(7)
    x = rng.normal(size=(5000, FEATURES))
    y = (x[:, 0] * 2 - x[:, 1] + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=trees, max_depth=10, random_state=0).fit(x, y)
    sio.dump(forest, work / "model.skops")
    onnx = to_onnx(forest, initial_types=[("float_input", FloatTensorType([None, FEATURES]))],
                   options={id(forest): {"zipmap": False}})
    (work / "model.onnx").write_bytes(onnx.SerializeToString())
    return forest, rng.normal(size=(4096, FEATURES))


def register(srv: KumoServer, work: Path) -> None:
    import boto3
    from botocore.config import Config

    from kumo.r2.credentials import s3_credentials

    key_id, secret = s3_credentials(TOKEN)
    s3 = boto3.client("s3", endpoint_url=f"{srv.url}/r2/{ACCOUNT}", aws_access_key_id=key_id,
                      aws_secret_access_key=secret, region_name="auto", config=Config(retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="ml-models")
    with httpx.Client(base_url=f"{srv.url}/client/v4/accounts/{ACCOUNT}/ai",
                      headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
        for name, file in (("rf", "model.skops"), ("rf-onnx", "model.onnx")):
            s3.put_object(Bucket="ml-models", Key=f"{name}/v1/{file}", Body=(work / file).read_bytes())
            made = api.post(f"/custom-models/{name}/versions",
                            json={"version": "v1", "source": f"r2://ml-models/{name}/v1/{file}"})
            assert made.status_code == 201, made.text


# ---- raw, in process ---------------------------------------------------------------------------

def raw_one(predict, rows: np.ndarray, calls: int) -> tuple[float, float]:
    """(p50 seconds, calls/s) of one caller predicting one row per call."""
    times = []
    started = time.perf_counter()
    for n in range(calls):
        t = time.perf_counter()
        predict(rows[n % len(rows)][None, :])
        times.append(time.perf_counter() - t)
    return p50_ms(times), calls / (time.perf_counter() - started)


def raw_many(predict, rows: np.ndarray, calls: int, clients: int) -> float:
    """calls/s of `clients` threads predicting one row per call at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda n: predict(rows[n % len(rows)][None, :]), range(calls)))
    return calls / (time.perf_counter() - started)


# ---- kumo, over HTTP -----------------------------------------------------------------------------

def kumo_one(srv: KumoServer, model: str, rows: np.ndarray, calls: int) -> tuple[float, float, float]:
    """(p50 ms, calls/s, server CPU s per 1,000 calls) of one client on a keep-alive connection."""
    path = f"/client/v4/accounts/{ACCOUNT}/ai/run/{model}"
    bodies = [json.dumps({"features": r.tolist()}).encode() for r in rows]
    times = []
    with httpx.Client(base_url=srv.url, headers={"authorization": f"Bearer {TOKEN}",
                                                 "content-type": "application/json"}) as client:
        client.post(path, content=bodies[0])
        cpu, started = proc_cpu(srv.proc.pid), time.perf_counter()
        for n in range(calls):
            t = time.perf_counter()
            r = client.post(path, content=bodies[n % len(bodies)])
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        elapsed, cpu = time.perf_counter() - started, proc_cpu(srv.proc.pid) - cpu
    return p50_ms(times), calls / elapsed, cpu / calls * 1000


async def _kumo_many(srv: KumoServer, model: str, rows: np.ndarray, calls: int, clients: int) -> tuple[float, float, float]:
    import aiohttp

    url = f"{srv.url}/client/v4/accounts/{ACCOUNT}/ai/run/{model}"
    bodies = [json.dumps({"features": r.tolist()}).encode() for r in rows]
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    counter = iter(range(calls))
    times: list[float] = []

    async def client(session) -> None:
        for n in counter:
            t = time.perf_counter()
            async with session.post(url, data=bodies[n % len(bodies)], headers=headers) as r:
                await r.read()
                assert r.status == 200
            times.append(time.perf_counter() - t)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))  # warm: connections, the batcher
        counter = iter(range(calls))
        times.clear()
        cpu, started = proc_cpu(srv.proc.pid), time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed, cpu = time.perf_counter() - started, proc_cpu(srv.proc.pid) - cpu
    return p50_ms(times), calls / elapsed, cpu / calls * 1000


def kumo_many(srv, model, rows, calls, clients):
    return asyncio.run(_kumo_many(srv, model, rows, calls, clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent callers")
    parser.add_argument("--trees", type=int, default=100, help="trees in the forest")
    parser.add_argument("--repeats", type=int, default=2, help="raw/kumo blocks, alternated; best kept")
    parser.add_argument("--baseline-src", default=None,
                        help="another kumo's src/ (e.g. a git worktree of main) served beside this one, its blocks "
                             "interleaved with this one's: old vs new in one run")
    args = parser.parse_args()

    import onnxruntime as ort

    work = Path(tempfile.mkdtemp(prefix="kumo-bench-cm-files-"))
    forest, rows = make_models(args.trees, work)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(work / "model.onnx"), options, providers=["CPUExecutionProvider"])
    raw = {"rf": forest.predict_proba,
           "rf-onnx": lambda x: session.run(None, {"float_input": x.astype(np.float32)})}
    print(f"{os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())} at the start; "
          f"RandomForest of {args.trees} trees, {FEATURES} features; {args.calls} calls per figure, "
          f"{args.clients} concurrent callers\n", flush=True)
    results: dict[str, dict[str, float]] = {}
    kumos = {"": None, **({f" [baseline {args.baseline_src}]": args.baseline_src} if args.baseline_src else {})}
    with contextlib.ExitStack() as stack:
        servers = {label: stack.enter_context(KumoServer(src)) for label, src in kumos.items()}
        for srv in servers.values():
            register(srv, work)
        for _ in range(args.repeats):
            for name in raw:
                p50, one = raw_one(raw[name], rows, args.calls)
                many = raw_many(raw[name], rows, args.calls, args.clients)
                for label, srv in servers.items():  # new and old kumo back to back, between the same raw blocks
                    best = results.setdefault(name + label, {})
                    k_p50, k_one, k_cpu_one = kumo_one(srv, f"@custom/{name}", rows, args.calls)
                    m_p50, k_many, k_cpu_many = kumo_many(srv, f"@custom/{name}", rows, args.calls, args.clients)
                    for key, value, better in (("raw_p50", p50, min), ("raw_one", one, max), ("raw_many", many, max),
                                               ("kumo_p50", k_p50, min), ("kumo_one", k_one, max),
                                               ("kumo_many", k_many, max), ("kumo_many_p50", m_p50, min),
                                               ("cpu_one", k_cpu_one, min), ("cpu_many", k_cpu_many, min)):
                        best[key] = better(best.get(key, value), value)
    shutil.rmtree(work, ignore_errors=True)
    print(f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())} at the end\n")

    header = (f"| model | raw p50 ms | kumo p50 ms | added p50 ms | raw 1 caller /s | kumo 1 client /s | "
              f"raw {args.clients} threads /s | kumo {args.clients} clients /s | kumo/raw ({args.clients}) | "
              f"kumo p50 ms ({args.clients}) | server CPU s/1k (1 / {args.clients}) |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, r in results.items():
        raw_best = max(r["raw_one"], r["raw_many"])
        base, _, label = name.partition(" ")
        kind = ("skops (sklearn)" if base == "rf" else "ONNX Runtime") + (f" {label}" if label else "")
        print(f"| {kind} | {r['raw_p50']:.3f} | {r['kumo_p50']:.3f} "
              f"| {r['kumo_p50'] - r['raw_p50']:.3f} | {r['raw_one']:,.0f} | {r['kumo_one']:,.0f} | "
              f"{r['raw_many']:,.0f} | {r['kumo_many']:,.0f} | {r['kumo_many'] / raw_best:.2f} | "
              f"{r['kumo_many_p50']:.2f} | {r['cpu_one']:.2f} / {r['cpu_many']:.2f} |")
    for name, r in results.items():
        raw_best = max(r["raw_one"], r["raw_many"])
        print(f"{name}: added p50 {r['kumo_p50'] - r['raw_p50']:.2f} ms (target <= 2), "
              f"{args.clients} callers at {r['kumo_many'] / raw_best:.0%} of raw calls/s (target >= 90 %)")


if __name__ == "__main__":
    main()
