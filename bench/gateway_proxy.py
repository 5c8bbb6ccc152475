"""AI Gateway proxy benchmark: kumo's `/v1/{account}/{gateway}/openai/...` against the provider called
directly and against LiteLLM proxy, all in front of the same fake OpenAI-compatible provider.

Pieces, each its own process:

* fake provider: a raw ASGI app under uvicorn (1 worker, uvloop + httptools) answering
  `POST /chat/completions` and `POST /v1/chat/completions` with a fixed small chat completion (with
  `usage`) after a fixed latency (`--latency-ms`, default 20, `asyncio.sleep`), or, when the body says
  `"stream": true`, an SSE stream of ~20 `chat.completion.chunk` events (the first after the latency, then
  one every `--chunk-gap-ms`), a usage event and `data: [DONE]`;
* targets, one worker process each: (a) `direct` = the fake itself, (b) `kumo` = `kumo serve` with
  `KUMO_UPSTREAM_OPENAI` pointed at the fake (gateway `gw` created through the management API with
  `collect_logs: true`, so every request is logged, as in production), (c) `litellm` = `litellm --config ...
  --num_workers 1` with `gpt-4o-mini -> openai/gpt-4o-mini`, `api_base` = the fake, a dummy key, no
  database, telemetry and callbacks off (needs `--litellm-bin`, a separate venv; skipped if missing);
* load generator: this file with `--role loadgen`, a minimal HTTP/1.1 keep-alive client on raw asyncio
  streams (uvloop) in its own process. Closed loop = C connections each sending back to back; open loop =
  requests sent at fixed intervals whatever happened before, latency taken from the *scheduled* send time
  (so queueing is not hidden: no coordinated omission), connections drawn from a pool that grows to 512.
  `wrk` (if installed) gives an independent closed-loop figure at 64 connections.

CPU placement (the machine has 2 cores): the proxy under test is pinned to CPU 0 (`taskset -c 0`, with
all its threads: kumo's log writer and cache threads included); the fake provider, the load generator, wrk
and this orchestrator share CPU 1. So a proxy gets one whole core, the same for kumo and LiteLLM, and
"direct" runs the fake on CPU 1 alongside the load generator (it is light: 20 ms of sleeping per request).

Measured, per target: (i) concurrency 1 (sequential) latency; (ii) open-loop 50 / 200 / 500 req/s,
`--open-duration` s each; (iii) closed-loop sweep over `--sweep` connections: req/s and p99, giving the
throughput each proxy sustains at a given p99; (v) streaming time to first chunk (sequential). For kumo
also: (iv) cache hits (same body, `cf-aig-cache-ttl: 300`, after one miss) sequential and at 64
connections; (vi) VmRSS of the kumo process before and after `--rss-requests` (default 100k) requests,
sampled every 10k. "Added" figures are the target's percentile minus direct's at the same load.

Targets: kumo added p50 <= 1 ms and p99 <= 5 ms at 500 req/s; kumo >= 3x LiteLLM's req/s at equal p99;
kumo RSS flat over 100k requests.

The parts live in bench/gateway/: workload.py (bodies, CPU placement), fake_provider.py, loadgen.py, peers.py
(the targets' processes), measure.py, report.py; bench/_harness.py has what every benchmark shares.

Check that no other benchmark is running first (`pgrep -af bench/`): this script waits for them unless
`--no-wait`.

Run:  .venv/bin/python bench/gateway_proxy.py --litellm-bin /tmp/litellm-venv/bin/litellm   # ~30 min
      .venv/bin/python bench/gateway_proxy.py --quick --append-results --json bench/gateway_proxy.json  # ~10 min
"""

from __future__ import annotations


from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import REPO, other_benchmarks, wait_for_idle
from gateway import measure
from gateway.fake_provider import run_fake
from gateway.loadgen import run_loadgen
from gateway.measure import measure_controls, measure_kumo_extras, measure_target
from gateway.peers import start_fake, start_kumo, start_litellm, stop
from gateway.report import report
from gateway.workload import CLIENT_CPU, MODEL

HERE = Path(__file__).resolve()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["bench", "fake", "loadgen"], default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--latency-ms", type=float, default=20.0, help="fake provider latency (default 20)")
    ap.add_argument("--chunks", type=int, default=20, help="SSE events per stream (default 20)")
    ap.add_argument("--chunk-gap-ms", type=float, default=1.0, help="gap between SSE events (default 1)")
    ap.add_argument("--targets", default="direct,kumo,litellm",
                    help="any of direct,kumo,litellm,controls (controls: one kumo, a bare gateway vs one with "
                         "spend limits + DLP + OTel, sequential latency and CPU per request)")
    ap.add_argument("--litellm-bin", default="/tmp/litellm-venv/bin/litellm")
    ap.add_argument("--seq-requests", type=int, default=1000)
    ap.add_argument("--stream-requests", type=int, default=300)
    ap.add_argument("--rates", default="50,200,500", help="open-loop rates, req/s")
    ap.add_argument("--open-duration", type=float, default=20.0)
    ap.add_argument("--sweep", default="4,16,64,128", help="closed-loop connection counts")
    ap.add_argument("--sweep-duration", type=int, default=10)
    ap.add_argument("--p99-budgets", default="50,100", help="extra p99 budgets (ms) for the throughput comparison")
    ap.add_argument("--rss-requests", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="short run: fewer requests, 5 s loads, 20k for RSS")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for other benchmarks")
    ap.add_argument("--max-wait", type=float, default=25.0,
                    help="minutes to wait for a quiet machine before (and during) measuring (default 25)")
    ap.add_argument("--max-foreign", type=float, default=0.15,
                    help="re-measure when other processes used more than this many cores meanwhile (default 0.15)")
    ap.add_argument("--json", type=Path, help="write raw results here")
    ap.add_argument("--append-results", action="store_true", help="append the table to bench/RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    if args.role == "fake":
        run_fake(args.port, args.latency_ms, args.chunks, args.chunk_gap_ms)
        return
    if args.role == "loadgen":
        run_loadgen(args.spec)
        return

    args.rates = [int(x) for x in args.rates.split(",")]
    args.sweep = [int(x) for x in args.sweep.split(",")]
    args.p99_budgets = [float(x) for x in args.p99_budgets.split(",") if x]
    if args.quick:
        args.seq_requests, args.stream_requests, args.open_duration = 300, 100, 5.0
        args.sweep_duration, args.rss_requests = 5, 20_000
    targets = args.targets.split(",")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    measure.WATCH["max_wait"] = args.max_wait * 60
    if not args.no_wait:
        wait_for_idle(measure.WATCH["max_wait"], me="gateway_proxy.py")
    os.sched_setaffinity(0, {int(CLIENT_CPU)})

    workdir = Path(tempfile.mkdtemp(prefix="kumo-gwbench-"))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
    meta = {"commit": head + ("+dirty src" if dirty else ""), "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    results: dict = {}
    fake = start_fake(args, workdir)
    procs = [fake.proc]
    measure.WATCH["pids"] = [fake.pid]
    measure.WATCH["max_foreign"] = args.max_foreign
    try:
        if "direct" in targets:
            results["direct"] = measure_target(fake, args, workdir)
        if "kumo" in targets:
            kumo = start_kumo(args, workdir, fake)
            procs.append(kumo.proc)
            results["kumo"] = measure_target(kumo, args, workdir)
            results["kumo"]["extras"] = measure_kumo_extras(kumo, args)
            stop(kumo.proc)
        if "controls" in targets:
            results["controls"] = measure_controls(args, workdir, fake)
        if "litellm" in targets:
            lit = start_litellm(args, workdir, fake)
            if lit is not None:
                procs.append(lit.proc)
                version = subprocess.run([str(Path(args.litellm_bin).parent / "python"), "-c",
                                          "import importlib.metadata as m; print(m.version('litellm'))"],
                                         capture_output=True, text=True).stdout.strip()
                meta["litellm"] = (f"litellm {version} proxy, `--num_workers 1`, no DB, telemetry/callbacks off, "
                                   f"model `{MODEL}` -> `openai/{MODEL}` at the fake")
                results["litellm"] = measure_target(lit, args, workdir)
                stop(lit.proc)
    finally:
        for p in procs:
            stop(p)
        others = other_benchmarks("gateway_proxy.py")
        if others:
            print(f"NOTE: other benchmarks seen at the end of the run: {others}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")
    text = report(results, args, meta)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "args": {k: v for k, v in vars(args).items()
                                                                  if isinstance(v, (int, float, str, list, bool))},
                                         "results": results}, indent=1, default=str))
    if args.append_results:
        path = HERE.parent / "RESULTS.md"
        with open(path, "a") as fh:
            fh.write(("\n" if path.exists() and path.stat().st_size else "") + text + "\n")


if __name__ == "__main__":
    main()
