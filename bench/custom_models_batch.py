"""Batch scoring benchmark: 1M rows of Parquet scored by a RandomForest through kumo against pandas + the raw
model in one process, in one run, printing the ratio (the goal: kumo >= 80 % of the raw rows/s).

What it measures:

* kumo: a `kumo serve` subprocess on 127.0.0.1 (embedded, fresh temp --data-dir, dev mode), scoring itself (no
  separate `kumo worker`). The model (skops) and the dataset are uploaded to its R2 over HTTP first, the model
  registered; then the clock runs from `POST /ai/scoring-jobs` to the job reading `done` (polled every 50 ms):
  submit checks (download and read the input), chunks of 50,000 rows scored into part objects with a
  checkpoint each, the output composed in R2. The server's whole-process CPU over that span is printed.
* raw: the same work in this process with pandas and scikit-learn, no service: read the Parquet file, predict
  and predict_proba (the same columns kumo writes), write the Parquet output.
* CPU: the raw process's own, and kumo's server process's (its scoring uses `KUMO_SCORING_CONCURRENCY` threads,
  2 by default, so its wall time can beat its CPU time on an idle machine).
* the two take turns (--rounds each, interleaved) so load that drifts weighs on both alike; best round shown.

Run:  .venv/bin/python bench/custom_models_batch.py             # a few minutes
      .venv/bin/python bench/custom_models_batch.py --rows 200000 --rounds 1
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age"]
ACCOUNT = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_data(rows: int) -> tuple[pd.DataFrame, object]:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(rows, 4)) * [12, 30, 2, 15] + [24, 70, 3, 45], columns=FEATURES)
    train = x.iloc[:5000]
    y = np.where(train["support_calls"] * 8 - train["tenure_months"] + rng.normal(scale=4, size=5000) > 0,
                 "churn", "stay")
    forest = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(train, y)
    x.insert(0, "customer_id", np.arange(rows, dtype=np.int64))
    return x, forest


def raw_round(path: Path, out: Path, forest) -> tuple[float, float]:
    cpu, started = time.process_time(), time.perf_counter()
    frame = pd.read_parquet(path)
    features = frame[FEATURES]
    frame["prediction"] = forest.predict(features)
    proba = forest.predict_proba(features)
    for i, label in enumerate(forest.classes_):
        frame[f"probability_{label}"] = proba[:, i]
    frame.to_parquet(out, index=False)
    return time.perf_counter() - started, time.process_time() - cpu


def kumo_round(client: httpx.Client, pid: int, rows: int, n: int) -> tuple[float, float]:
    cpu, started = cpu_seconds(pid), time.perf_counter()
    made = client.post(f"/client/v4/accounts/{ACCOUNT}/ai/scoring-jobs",
                       json={"model": "@custom/churn", "input": "r2://lake/customers.parquet",
                             "output": f"r2://lake/scored-{n}.parquet"})
    assert made.status_code == 201, made.text
    job_id = made.json()["result"]["id"]
    while True:
        job = client.get(f"/client/v4/accounts/{ACCOUNT}/ai/scoring-jobs/{job_id}").json()["result"]
        if job["status"] == "done":
            break
        assert job["status"] == "running" or job["status"] == "composing", job
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    assert job["progress"]["rows_done"] == rows
    return elapsed, cpu_seconds(pid) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import skops.io as sio

    frame, forest = make_data(args.rows)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        data = work / "customers.parquet"
        frame.to_parquet(data, index=False)
        model = io.BytesIO(sio.dumps(forest))
        port = free_port()
        log = open(work / "server.log", "wb")
        server = subprocess.Popen([sys.executable, "-m", "kumo", "serve", "--port", str(port), "--data-dir",
                                   str(work / "data")], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, headers={"authorization": "Bearer bench"}, timeout=600) as client:
                for _ in range(300):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
                for bucket in ("ml-models", "lake"):
                    made = client.post(f"/client/v4/accounts/{ACCOUNT}/r2/buckets", json={"name": bucket})
                    assert made.status_code == 200, made.text
                for key, body in (("ml-models/churn/model.skops", model.getvalue()),
                                  ("lake/customers.parquet", data.read_bytes())):
                    put = httpx.put(f"{url}/r2/{ACCOUNT}/{key}", content=body, timeout=600)  # dev mode: unsigned
                    assert put.status_code == 200, put.text
                made = client.post(f"/client/v4/accounts/{ACCOUNT}/ai/custom-models/churn/versions",
                                   json={"version": "v1", "source": "r2://ml-models/churn/model.skops"})
                assert made.status_code == 201, made.text
                print(f"{args.rows:,} rows, RandomForest(50 trees, depth 8), Parquet {data.stat().st_size / 2**20:.1f}"
                      f" MiB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
                raw_times, kumo_times = [], []
                for n in range(args.rounds):
                    raw_times.append(raw_round(data, work / "raw-out.parquet", forest))
                    kumo_times.append(kumo_round(client, server.pid, args.rows, n))
                    print(f"round {n + 1}: raw {raw_times[-1][0]:.2f} s (CPU {raw_times[-1][1]:.2f} s), "
                          f"kumo {kumo_times[-1][0]:.2f} s (server CPU {kumo_times[-1][1]:.2f} s)")
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    raw_time, raw_cpu = min(raw_times)
    raw = args.rows / raw_time
    kumo, cpu = min(kumo_times)
    kumo_rate = args.rows / kumo
    print(f"\nraw pandas + scikit-learn: {raw:,.0f} rows/s, CPU {raw_cpu:.2f} s")
    print(f"kumo (HTTP, R2 in and out, checkpoints): {kumo_rate:,.0f} rows/s, server CPU {cpu:.2f} s")
    print(f"kumo / raw = {kumo_rate / raw:.0%}  (goal >= 80 %)")


if __name__ == "__main__":
    main()
