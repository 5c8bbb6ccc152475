"""Measurements on a target: each load-generator run re-run when other processes took CPU meanwhile; the
sweep a target gets (sequential, open loop, closed loop, wrk, streaming); kumo's cache hits and RSS over many
requests; the gateway controls' cost (spend limits + DLP + OTel against a bare gateway)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _harness import CpuWatch, proc_cpu, proc_status, wait_for_idle
from gateway.peers import Target, start_kumo, stop
from gateway.workload import ACCOUNT, CLIENT_CPU, ENTRY, REQUEST_BODY, STREAM_BODY


def loadgen_cmd(spec: dict) -> list[str]:
    return ["taskset", "-c", CLIENT_CPU, sys.executable, str(ENTRY), "--role", "loadgen", "--spec", json.dumps(spec)]


WATCH: dict = {"pids": [], "max_foreign": 0.15, "retries": 3, "max_wait": 25 * 60}


def run_load(target: Target, label: str, **spec) -> dict:
    """One load-generator run; re-run (after waiting for quiet) when other processes used more than
    `--max-foreign` cores meanwhile."""
    spec.setdefault("request", target.request())
    spec.setdefault("expect", "chat.completion")
    spec.update(host="127.0.0.1", port=target.port)
    for attempt in range(1, WATCH["retries"] + 1):
        started = time.monotonic()
        watch = CpuWatch(WATCH["pids"] + [target.pid])
        cpu0 = proc_cpu(target.pid)
        out = subprocess.run(loadgen_cmd(spec), capture_output=True, text=True, timeout=3600)
        cpu1 = proc_cpu(target.pid)
        foreign = watch.foreign()
        if out.returncode != 0:
            raise RuntimeError(f"loadgen failed for {target.name}/{label}: {out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["foreign_cores"] = foreign
        # the target's own CPU (all its threads) per request, warm-up requests included on both sides
        result["cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / max(1, result["sent_total"])
        result["attempts"] = attempt
        lat = result["latency"]
        extra = f" errors={result['errors']}" if result["errors"] else ""
        print(f"  {target.name:8s} {label:22s} n={result['done']:6d} rps={result['rps']:8.1f} "
              f"p50={lat.get('p50', float('nan')):7.2f} p99={lat.get('p99', float('nan')):7.2f} "
              f"ttfb50={result['ttfb'].get('p50', float('nan')):7.2f} cpu/req={result['cpu_ms_per_req']:.2f}ms "
              f"others={foreign:.2f} cores "
              f"({time.monotonic() - started:.0f} s){extra}", flush=True)
        if result["error_samples"]:
            print("    sample error:", result["error_samples"][0][:400].replace("\r\n", " | "), flush=True)
        if foreign <= WATCH["max_foreign"] or attempt == WATCH["retries"]:
            if foreign > WATCH["max_foreign"]:
                print(f"    WARNING: other processes used {foreign:.2f} cores during this measurement", flush=True)
            return result
        print(f"    other processes used {foreign:.2f} cores: waiting for quiet, then measuring again", flush=True)
        wait_for_idle(WATCH["max_wait"], max_busy=0.2, me="gateway_proxy.py")
    raise AssertionError("unreachable")


def run_wrk(target: Target, conns: int, seconds: int, workdir: Path) -> dict | None:
    if not shutil.which("wrk"):
        return None
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(REQUEST_BODY)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench-dummy"\n'
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('WRKJSON {\"requests\": %d, \"duration_us\": %d, \"errors_status\": %d, "
        "\"errors_other\": %d, \"p50\": %f, \"p99\": %f}\\n', summary.requests, summary.duration, "
        "summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + "
        "summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))\n"
        "end\n")
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(script), f"http://127.0.0.1:{target.port}{target.path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            r = json.loads(line[8:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            print(f"  {target.name:8s} {'wrk c=' + str(conns):22s} rps={r['rps']:8.1f} p50={r['p50']:7.2f} "
                  f"p99={r['p99']:7.2f} status_errors={r['errors_status']} other_errors={r['errors_other']}",
                  flush=True)
            return r
    print(f"  wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}", file=sys.stderr)
    return None


def measure_target(target: Target, args, workdir: Path) -> dict:
    res: dict = {}
    print(f"== {target.name} (port {target.port}, pid {target.pid})", flush=True)
    # one request first: it must succeed
    res["seq"] = run_load(target, "sequential c=1", mode="closed", conns=1, count=args.seq_requests,
                          warmup=args.seq_requests // 10 or 10)
    res["open"] = {}
    for rate in args.rates:
        res["open"][str(rate)] = run_load(target, f"open {rate}/s", mode="open", rate=rate,
                                          duration=args.open_duration, warmup=2, preopen=32)
    res["sweep"] = {}
    for conns in args.sweep:
        res["sweep"][str(conns)] = run_load(target, f"closed c={conns}", mode="closed", conns=conns,
                                            duration=args.sweep_duration, warmup=2)
    res["wrk64"] = run_wrk(target, 64, args.sweep_duration, workdir)
    res["stream"] = run_load(target, "stream sequential", mode="closed", conns=1, count=args.stream_requests,
                             warmup=20, request=target.request(STREAM_BODY), expect="[DONE]")
    return res


def measure_kumo_extras(kumo: Target, args) -> dict:
    res: dict = {}
    hit_request = kumo.request(extra={"cf-aig-cache-ttl": "300"})
    # one miss (also checks the header), then hits
    res["cache_seq"] = run_load(kumo, "cache hit c=1", mode="closed", conns=1, count=args.seq_requests,
                                warmup=10, request=hit_request)
    res["cache_c64"] = run_load(kumo, "cache hit c=64", mode="closed", conns=64, duration=args.sweep_duration,
                                warmup=2, request=hit_request)
    status = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Accept:",
                             "-H", "content-type: application/json", "-H", "cf-aig-cache-ttl: 300",
                             "-d", REQUEST_BODY, f"http://127.0.0.1:{kumo.port}{kumo.path}"],
                            capture_output=True, text=True).stdout
    res["cache_header"] = next((line.strip() for line in status.splitlines()
                                if line.lower().startswith("cf-aig-cache-status")), None)
    print(f"  kumo     cache header on repeat: {res['cache_header']}", flush=True)
    # RSS over N requests
    pid = kumo.pid
    samples = [(0, round(proc_status(pid) * 1024))]
    step = 10_000
    total = 0
    print(f"  kumo     RSS before: {samples[0][1] / 1024:.1f} MiB", flush=True)
    rps = []
    while total < args.rss_requests:
        n = min(step, args.rss_requests - total)
        r = run_load(kumo, f"rss block {total // step + 1}", mode="closed", conns=32, count=n, warmup=0)
        total += r["done"]
        rps.append(r["rps"])
        samples.append((total, round(proc_status(pid) * 1024)))
        print(f"  kumo     RSS after {total}: {samples[-1][1] / 1024:.1f} MiB", flush=True)
    res["rss_samples_kib"] = samples
    res["rss_block_rps"] = rps
    return res


class OtlpSink:
    """Where the controlled gateway's spans go: an HTTP server answering 200 to every OTLP/HTTP export (on the
    client CPU, in this orchestrator), counting what it received."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        sink = self
        self.posts = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.posts += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


CONTROLS = {
    "spend_limits": {"rules": [{"id": "per-user", "limit": 1000, "window": 3600,
                                "metadata": {"user_id": {"mode": "partition"}}},
                               {"id": "openai", "limit": 1000, "window": 86400, "technique": "sliding",
                                "provider": {"mode": "filter", "values": ["openai"]}}]},
    "dlp": {"enabled": True, "policies": [{"id": "pii", "action": "BLOCK", "check": ["REQUEST", "RESPONSE"],
                                           "profiles": ["financial-information", "government-identifiers",
                                                        "personal-information", "credentials-and-secrets"]}]},
}


def _public_key_pem() -> str:
    """An RSA public key the size Cloudflare's Logpush guide generates (4096 bits)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=4096).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def measure_controls(args, workdir: Path, fake: Target) -> dict:
    """The same kumo, three gateways: `gw` bare, `gwc` with spend limits + DLP (every profile, prompts and answers)
    + OTel export, and `gwl` with Logpush (to kumo's R2 every second, bodies sealed to a 4096-bit key). Sequential
    latency and CPU per request of each, alternated twice, in one run."""
    import httpx

    kumo = start_kumo(args, workdir, fake, {"KUMO_GATEWAY_LOGPUSH_DESTINATION": "r2://gateway-logs/{DATE}",
                                            "KUMO_GATEWAY_LOGPUSH_INTERVAL": "1"})
    sink = OtlpSink()
    api = f"http://127.0.0.1:{kumo.port}/client/v4/accounts/{ACCOUNT}"
    settings = {"cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                "rate_limiting_interval": None, "rate_limiting_limit": None}
    try:
        for url, body in ((f"{api}/r2/buckets", {"name": "gateway-logs"}),
                          (f"{api}/ai-gateway/gateways", {"id": "gwc", **settings, **CONTROLS,
                                                          "otel": [{"url": sink.url, "content_type": "protobuf"}]}),
                          (f"{api}/ai-gateway/gateways", {"id": "gwl", **settings, "logpush": True,
                                                          "logpush_public_key": _public_key_pem()})):
            r = httpx.post(url, headers={"Authorization": "Bearer x"}, json=body, timeout=30)
            if r.status_code >= 300:
                raise RuntimeError(f"could not set up {url}: {r.status_code} {r.text}")
        controlled = Target("kumo+ctl", kumo.port, f"/v1/{ACCOUNT}/gwc/openai/chat/completions", kumo.proc, kumo.pid)
        pushed = Target("kumo+lp", kumo.port, f"/v1/{ACCOUNT}/gwl/openai/chat/completions", kumo.proc, kumo.pid)
        metadata = {"cf-aig-metadata": json.dumps({"user_id": "bench-user"})}
        runs: dict = {"bare": [], "controls": [], "logpush": []}
        for _ in range(2):
            for name, target in (("bare", kumo), ("controls", controlled), ("logpush", pushed)):
                runs[name].append(run_load(target, f"{name} c=1", mode="closed", conns=1, count=args.seq_requests,
                                           warmup=args.seq_requests // 10 or 10,
                                           request=target.request(extra=metadata)))
        time.sleep(2)  # the batch processor's last export
        res = {name: {"p50": min(x["latency"]["p50"] for x in v), "p99": min(x["latency"]["p99"] for x in v),
                      "cpu_ms_per_req": min(x["cpu_ms_per_req"] for x in v)} for name, v in runs.items()}
        res["added_p50_ms"] = res["controls"]["p50"] - res["bare"]["p50"]
        res["cpu_ratio"] = res["controls"]["cpu_ms_per_req"] / res["bare"]["cpu_ms_per_req"]
        res["otlp_posts"] = sink.posts
        res["logpush_added_p50_ms"] = res["logpush"]["p50"] - res["bare"]["p50"]
        res["logpush_cpu_ratio"] = res["logpush"]["cpu_ms_per_req"] / res["bare"]["cpu_ms_per_req"]
        print(f"  controls: added p50 {res['added_p50_ms']:.2f} ms (target <= 1.5), CPU/request "
              f"{res['cpu_ratio']:.2f}x bare (target <= 1.5x), {sink.posts} OTLP exports received", flush=True)
        print(f"  logpush: added p50 {res['logpush_added_p50_ms']:.2f} ms, CPU/request {res['logpush_cpu_ratio']:.2f}x "
              "bare (sealing and pushing included)", flush=True)
        return res
    finally:
        sink.server.shutdown()
        stop(kumo.proc)
