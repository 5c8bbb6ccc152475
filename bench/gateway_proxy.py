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

Check that no other benchmark is running first (`pgrep -af bench/`): this script waits for them unless
`--no-wait`.

Run:  .venv/bin/python bench/gateway_proxy.py --litellm-bin /tmp/litellm-venv/bin/litellm   # ~30 min
      .venv/bin/python bench/gateway_proxy.py --quick --append-results --json bench/gateway_proxy.json  # ~10 min
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
ACCOUNT = "acct"
GATEWAY = "gw"
MODEL = "gpt-4o-mini"
REQUEST_BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}],
                           "max_tokens": 16}, separators=(",", ":"))
STREAM_BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}],
                          "max_tokens": 16, "stream": True, "stream_options": {"include_usage": True}},
                         separators=(",", ":"))
PROXY_CPU = "0"
CLIENT_CPU = "1"


# ============================================================================================================
# fake provider
# ============================================================================================================

def make_fake_app(latency: float, n_chunks: int, gap: float):
    completion = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how are you?"},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21},
    }).encode()
    json_head = {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(completion)).encode()),
                             (b"x-request-id", b"req_bench")]}
    sse_head = {"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                            (b"x-request-id", b"req_bench")]}

    def chunk(delta: dict, finish: str | None, usage: dict | None = None, choices: bool = True) -> bytes:
        payload = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL,
                   "system_fingerprint": "fp_bench",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
        if usage is not None:
            payload["usage"] = usage
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": f"tok{i} "}, None) for i in range(max(1, n_chunks - 3))]
    events.append(chunk({}, "stop"))
    tail = (chunk({}, None, {"prompt_tokens": 14, "completion_tokens": n_chunks, "total_tokens": 14 + n_chunks},
                  choices=False) + b"data: [DONE]\n\n")
    not_found = b'{"error":{"message":"not found","type":"invalid_request_error"}}'

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": not_found})
            return
        try:
            stream = bool(json.loads(body).get("stream"))
        except (ValueError, AttributeError):
            stream = False
        await asyncio.sleep(latency)
        if not stream:
            await send(json_head)
            await send({"type": "http.response.body", "body": completion})
            return
        await send(sse_head)
        for i, event in enumerate(events):
            if i:
                await asyncio.sleep(gap)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await asyncio.sleep(gap)
        await send({"type": "http.response.body", "body": tail})

    return app


def run_fake(port: int, latency_ms: float, chunks: int, gap_ms: float) -> None:
    import uvicorn

    uvicorn.run(make_fake_app(latency_ms / 1000, chunks, gap_ms / 1000), host="127.0.0.1", port=port,
                loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="off",
                workers=1)


# ============================================================================================================
# load generator (runs in its own process: --role loadgen --spec JSON)
# ============================================================================================================

SENT = [0]  # requests sent by this load generator, warm-up included (for the target's CPU per request)


class Conn:
    __slots__ = ("reader", "writer", "alive")

    def __init__(self, reader, writer):
        self.reader, self.writer, self.alive = reader, writer, True


async def open_conn(host: str, port: int) -> Conn:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Conn(reader, writer)


async def http_request(conn: Conn, request: bytes, clock=time.perf_counter):
    """Send one request on a keep-alive connection and read the whole answer.
    Returns (status, time of the first body byte, end time, body bytes, response head)."""
    conn.writer.write(request)
    SENT[0] += 1
    reader = conn.reader
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    first = None
    body = b""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        n = int(lower[at + 17:end])
        if n:
            body = await reader.readexactly(n)
        first = clock()
    elif b"\r\ntransfer-encoding: chunked" in lower:
        parts = []
        while True:
            line = await reader.readline()
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            data = await reader.readexactly(size + 2)
            if first is None:
                first = clock()
            parts.append(data[:-2])
        body = b"".join(parts)
    else:  # read to close
        body = await reader.read()
        first = clock()
        conn.alive = False
    if b"\r\nconnection: close" in lower:
        conn.alive = False
    return status, first, clock(), body, head


def summarize(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    s = sorted(values)
    n = len(s)

    def pct(p: float) -> float:
        return s[min(n - 1, max(0, int(round(p / 100 * n + 0.5)) - 1))]

    return {"n": n, "mean": sum(s) / n * 1000, "p50": pct(50) * 1000, "p90": pct(90) * 1000,
            "p99": pct(99) * 1000, "p999": pct(99.9) * 1000, "max": s[-1] * 1000}


async def loadgen(spec: dict) -> dict:
    host, port = spec["host"], spec["port"]
    request = spec["request"].encode("latin-1")
    check = spec.get("expect")  # a byte string the body must contain
    mode = spec["mode"]
    clock = time.perf_counter
    lat: list[float] = []
    ttfb: list[float] = []
    lag: list[float] = []
    errors: dict[str, int] = {}
    heads: list[str] = []

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    def record(status, first, end, body, head, start, sent) -> None:
        if status != 200 or (check and check.encode() not in body):
            error(f"status {status}" if status != 200 else "unexpected body")
            if len(heads) < 3:
                heads.append((head + body[:300]).decode("latin-1"))
            return
        lat.append(end - start)
        ttfb.append(first - start)
        lag.append(sent - start)

    if mode == "closed":
        conns = spec["conns"]
        warmup, duration, count = spec.get("warmup", 0), spec.get("duration"), spec.get("count")
        pool = [await open_conn(host, port) for _ in range(conns)]
        state = {"left": 0}

        async def worker(i: int, deadline: float, limited: bool, recording: bool) -> None:
            while clock() < deadline:
                if limited:
                    if state["left"] <= 0:
                        return
                    state["left"] -= 1
                conn = pool[i]
                if conn.reader.at_eof():  # closed by the server while idle (keep-alive timeout)
                    conn.writer.close()
                    conn = pool[i] = await open_conn(host, port)
                start = clock()
                try:
                    status, first, end, body, head = await http_request(conn, request, clock)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    error(type(exc).__name__)
                    conn.alive = False
                    status = None
                if not conn.alive:
                    conn.writer.close()
                    pool[i] = await open_conn(host, port)
                if status is not None and recording:
                    record(status, first, end, body, head, start, start)

        if warmup:
            if count is not None:  # a number of warm-up requests
                state["left"] = int(warmup)
                await asyncio.gather(*(worker(i, 1e18, True, False) for i in range(conns)))
            else:  # seconds
                t = clock() + float(warmup)
                await asyncio.gather(*(worker(i, t, False, False) for i in range(conns)))
        errors.clear()
        state["left"] = count or 0
        t0 = clock()
        deadline = t0 + duration if duration else 1e18
        await asyncio.gather(*(worker(i, deadline, count is not None, True) for i in range(conns)))
        elapsed = clock() - t0
        done = len(lat)

    elif mode == "open":
        rate, duration, warmup = spec["rate"], spec["duration"], spec.get("warmup", 0)
        max_conns = spec.get("max_conns", 512)
        idle: list[Conn] = [await open_conn(host, port) for _ in range(spec.get("preopen", 32))]
        opened = [len(idle)]
        waiters: list[asyncio.Future] = []
        inflight: set[asyncio.Task] = set()
        last_end = [0.0]

        async def get_conn() -> Conn:
            while idle:
                conn = idle.pop()
                if not conn.reader.at_eof():  # the server closes connections idle past its keep-alive timeout
                    return conn
                conn.writer.close()
                opened[0] -= 1
            if opened[0] < max_conns:
                opened[0] += 1
                return await open_conn(host, port)
            fut = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            return await fut

        def put_conn(conn: Conn) -> None:
            if waiters:
                waiters.pop(0).set_result(conn)
            else:
                idle.append(conn)

        async def one(scheduled: float, recording: bool) -> None:
            conn = await get_conn()
            sent = clock()
            try:
                status, first, end, body, head = await http_request(conn, request, clock)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                error(type(exc).__name__)
                conn.alive = False
                status = None
            if not conn.alive:
                conn.writer.close()
                opened[0] -= 1
                conn = await open_conn(host, port)
                opened[0] += 1
            put_conn(conn)
            if status is not None and recording:
                record(status, first, end, body, head, scheduled, sent)
                last_end[0] = max(last_end[0], end)

        async def run(seconds: float, recording: bool) -> float:
            n = int(rate * seconds)
            interval = 1.0 / rate
            t0 = clock() + 0.01
            for i in range(n):
                scheduled = t0 + i * interval
                delay = scheduled - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.ensure_future(one(scheduled, recording))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            return t0

        if warmup:
            await run(warmup, False)
        t0 = await run(duration, True)
        sent_all = clock()
        if inflight:
            await asyncio.wait(set(inflight), timeout=max(30.0, duration * 2))
        unfinished = len(inflight)
        if unfinished:
            errors["unfinished"] = unfinished
            for task in list(inflight):
                task.cancel()
        elapsed = max(sent_all, last_end[0]) - t0
        done = len(lat)
        spec["conns_opened"] = opened[0]
    else:
        raise SystemExit(f"unknown mode {mode}")

    return {"mode": mode, "done": done, "elapsed": elapsed, "rps": done / elapsed if elapsed else 0.0,
            "latency": summarize(lat), "ttfb": summarize(ttfb), "send_lag": summarize(lag), "errors": errors,
            "error_samples": heads, "conns_opened": spec.get("conns_opened"), "sent_total": SENT[0]}


def run_loadgen(spec_json: str) -> None:
    import uvloop

    spec = json.loads(spec_json)
    result = uvloop.run(loadgen(spec))
    sys.stdout.write(json.dumps(result) + "\n")


# ============================================================================================================
# orchestrator
# ============================================================================================================

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int | None) -> float:
    """utime + stime of a live process (all its threads), seconds; 0 when gone."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def system_busy() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK


class CpuWatch:
    """How much CPU *other* processes used during a measurement: machine busy time minus ours (this process,
    its reaped children such as the load generator and wrk, and the live fake provider and proxy)."""

    def __init__(self, pids: list[int | None]):
        self.pids = [p for p in pids if p]
        self.start = self._snap()

    def _snap(self) -> tuple[float, float, float]:
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system + sum(proc_cpu(p) for p in self.pids)
        return system_busy(), ours, time.monotonic()

    def foreign(self) -> float:
        """Other processes' CPU use, in cores (0.1 = a tenth of one core), over the interval."""
        busy, ours, now = self._snap()
        return max(0.0, ((busy - self.start[0]) - (ours - self.start[1])) / max(1e-6, now - self.start[2]))


def machine_busy(seconds: float = 3.0) -> float:
    """Cores in use by anything over a short window."""
    a, t = system_busy(), time.monotonic()
    time.sleep(seconds)
    return (system_busy() - a) / (time.monotonic() - t)


def other_benchmarks() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "bench/"], capture_output=True, text=True).stdout
    mine = {os.getpid(), os.getppid()}
    lines = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if int(pid) in mine or "gateway_proxy.py" in cmd or "pgrep" in cmd:
            continue
        lines.append(line)
    return lines


def wait_for_idle(max_wait: float, max_busy: float = 0.15) -> None:
    """Wait (polling every 30 s) until no other `bench/` process runs and the machine is quiet."""
    deadline = time.monotonic() + max_wait
    while True:
        others = other_benchmarks()
        busy = machine_busy()
        if not others and busy <= max_busy:
            return
        if time.monotonic() > deadline:
            print(f"WARNING: machine still busy after {max_wait:.0f} s ({busy:.2f} cores; {others}); measuring anyway",
                  file=sys.stderr)
            return
        print(f"waiting: other benchmarks {others}, machine busy {busy:.2f} cores", file=sys.stderr, flush=True)
        time.sleep(30)


def raw_request(port: int, path: str, body: str, extra: dict[str, str] | None = None) -> str:
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
               "Authorization": "Bearer sk-bench-dummy", "Content-Length": str(len(body.encode()))}
    headers.update(extra or {})
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n" + body)


class Target:
    def __init__(self, name: str, port: int, path: str, proc: subprocess.Popen | None = None, pid: int | None = None):
        self.name, self.port, self.path, self.proc, self.pid = name, port, path, proc, pid

    def request(self, body: str = REQUEST_BODY, extra: dict[str, str] | None = None) -> str:
        return raw_request(self.port, self.path, body, extra)


def loadgen_cmd(spec: dict) -> list[str]:
    return ["taskset", "-c", CLIENT_CPU, sys.executable, str(HERE), "--role", "loadgen", "--spec", json.dumps(spec)]


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
        wait_for_idle(WATCH["max_wait"], max_busy=0.2)
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


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_fake(args, workdir: Path) -> Target:
    port = free_port()
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, str(HERE), "--role", "fake", "--port", str(port),
           "--latency-ms", str(args.latency_ms), "--chunks", str(args.chunks), "--chunk-gap-ms", str(args.chunk_gap_ms)]
    proc = subprocess.Popen(cmd, stdout=open(workdir / "fake.log", "w"), stderr=subprocess.STDOUT)
    wait_port(port, 30, proc)
    return Target("direct", port, "/chat/completions", proc, proc.pid)


def start_kumo(args, workdir: Path, fake: Target) -> Target:
    import httpx

    port = free_port()
    data = workdir / "kumo-data"
    env = {**os.environ, "KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake.port}"}
    kumo_bin = REPO / ".venv" / "bin" / "kumo"
    kumo = [str(kumo_bin)] if kumo_bin.exists() else [sys.executable, "-m", "kumo"]  # a worktree: PYTHONPATH's kumo
    cmd = ["taskset", "-c", PROXY_CPU, *kumo, "serve", "--port", str(port), "--data-dir", str(data),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=open(workdir / "kumo.log", "w"), stderr=subprocess.STDOUT, env=env)
    wait_port(port, 120, proc)
    r = httpx.post(f"http://127.0.0.1:{port}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways",
                   headers={"Authorization": "Bearer x"},
                   json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                         "rate_limiting_interval": None, "rate_limiting_limit": None}, timeout=30)
    if r.status_code >= 300:
        raise RuntimeError(f"could not create the gateway: {r.status_code} {r.text}")
    return Target("kumo", port, f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", proc, proc.pid)


def start_litellm(args, workdir: Path, fake: Target) -> Target | None:
    binary = args.litellm_bin
    if not binary or not Path(binary).exists():
        print(f"LiteLLM skipped: no binary at {binary!r}", file=sys.stderr)
        return None
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{fake.port}/v1\n"
        "      api_key: sk-bench-dummy\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  success_callback: []\n"
        "  failure_callback: []\n"
        "  callbacks: []\n"
        "  set_verbose: false\n"
        "  json_logs: false\n"
        "general_settings:\n"
        "  disable_spend_logs: true\n"
        "  disable_error_logs: true\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    # no master key = no auth on the proxy, like kumo's gateway without `authentication` (and cheaper for LiteLLM)
    env.update(LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true", LITELLM_LOG="ERROR", LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False",
               TELEMETRY="False", DISABLE_SCHEMA_UPDATE="True", NO_DOCS="True", NO_REDOC="True",
               PYTHONUNBUFFERED="1")
    cmd = ["taskset", "-c", PROXY_CPU, binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    proc = subprocess.Popen(cmd, stdout=open(workdir / "litellm.log", "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        wait_port(port, 240, proc)
    except RuntimeError as exc:
        print(f"LiteLLM did not start: {exc}\n{(workdir / 'litellm.log').read_text()[-3000:]}", file=sys.stderr)
        stop(proc)
        return None
    time.sleep(2)
    return Target("litellm", port, "/chat/completions", proc, proc.pid)


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
    samples = [(0, rss_kib(pid))]
    step = 10_000
    total = 0
    print(f"  kumo     RSS before: {samples[0][1] / 1024:.1f} MiB", flush=True)
    rps = []
    while total < args.rss_requests:
        n = min(step, args.rss_requests - total)
        r = run_load(kumo, f"rss block {total // step + 1}", mode="closed", conns=32, count=n, warmup=0)
        total += r["done"]
        rps.append(r["rps"])
        samples.append((total, rss_kib(pid)))
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


def measure_controls(args, workdir: Path, fake: Target) -> dict:
    """The same kumo, two gateways: `gw` bare and `gwc` with spend limits + DLP (every profile, prompts and answers)
    + OTel export. Sequential latency and CPU per request of each, alternated twice, in one run."""
    import httpx

    kumo = start_kumo(args, workdir, fake)
    sink = OtlpSink()
    try:
        r = httpx.post(f"http://127.0.0.1:{kumo.port}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways",
                       headers={"Authorization": "Bearer x"},
                       json={"id": "gwc", "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                             "rate_limiting_interval": None, "rate_limiting_limit": None, **CONTROLS,
                             "otel": [{"url": sink.url, "content_type": "protobuf"}]}, timeout=30)
        if r.status_code >= 300:
            raise RuntimeError(f"could not create the controlled gateway: {r.status_code} {r.text}")
        controlled = Target("kumo+ctl", kumo.port, f"/v1/{ACCOUNT}/gwc/openai/chat/completions", kumo.proc, kumo.pid)
        metadata = {"cf-aig-metadata": json.dumps({"user_id": "bench-user"})}
        runs: dict = {"bare": [], "controls": []}
        for _ in range(2):
            for name, target in (("bare", kumo), ("controls", controlled)):
                runs[name].append(run_load(target, f"{name} c=1", mode="closed", conns=1, count=args.seq_requests,
                                           warmup=args.seq_requests // 10 or 10,
                                           request=target.request(extra=metadata)))
        time.sleep(2)  # the batch processor's last export
        res = {name: {"p50": min(x["latency"]["p50"] for x in v), "p99": min(x["latency"]["p99"] for x in v),
                      "cpu_ms_per_req": min(x["cpu_ms_per_req"] for x in v)} for name, v in runs.items()}
        res["added_p50_ms"] = res["controls"]["p50"] - res["bare"]["p50"]
        res["cpu_ratio"] = res["controls"]["cpu_ms_per_req"] / res["bare"]["cpu_ms_per_req"]
        res["otlp_posts"] = sink.posts
        print(f"  controls: added p50 {res['added_p50_ms']:.2f} ms (target <= 1.5), CPU/request "
              f"{res['cpu_ratio']:.2f}x bare (target <= 1.5x), {sink.posts} OTLP exports received", flush=True)
        return res
    finally:
        sink.server.shutdown()
        stop(kumo.proc)


# ---- report ----------------------------------------------------------------------------------------------

def fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def throughput_at_p99(sweep: dict, budget: float) -> float | None:
    """The req/s a target sustains with p99 <= budget, interpolated linearly between measured points."""
    points = sorted(((r["latency"]["p99"], r["rps"]) for r in sweep.values() if r["done"]), key=lambda p: p[1])
    best = None
    for i, (p99, rps) in enumerate(points):
        if p99 <= budget:
            best = rps if best is None else max(best, rps)
            if i + 1 < len(points) and points[i + 1][0] > budget:
                p2, r2 = points[i + 1]
                best = max(best, rps + (r2 - rps) * (budget - p99) / (p2 - p99))
    return best


def report(results: dict, args, meta: dict) -> str:
    d, k, l = results.get("direct"), results.get("kumo"), results.get("litellm")
    lines = ["## AI Gateway", ""]
    lines.append(f"`bench/gateway_proxy.py` ({meta['date']}, kumo at {meta.get('commit')}, {meta['machine']}). Fake OpenAI provider answering after "
                 f"{args.latency_ms:g} ms (uvicorn, uvloop/httptools, 1 worker); each proxy one worker process pinned "
                 f"to CPU {PROXY_CPU}, fake provider + load generator (raw asyncio HTTP/1.1 client, separate process) "
                 f"+ wrk pinned to CPU {CLIENT_CPU}. kumo: `kumo serve`, gateway with `collect_logs: true` (every "
                 f"request logged to SQLite), cache off unless stated. LiteLLM: {meta.get('litellm', 'not run')}. "
                 "Latencies in ms; *added* = target percentile minus direct percentile at the same load; open-loop "
                 "latency counted from the scheduled send time.")
    lines.append("")
    names = [n for n in ("direct", "kumo", "litellm") if n in results]

    def lat(r, key="latency", p="p50"):
        return r[key].get(p) if r and r[key].get("n") else None

    def add(r, base, key="latency", p="p50"):
        a, b = lat(r, key, p), lat(base, key, p)
        return None if a is None or b is None else a - b

    head = "| measurement | " + " | ".join(names) + " | kumo added | LiteLLM added |"
    lines += [head, "|" + "---|" * (len(names) + 3)]

    def row(label, getter, key="latency"):
        cells = []
        for p in ("p50", "p99"):
            vals = [fmt(lat(getter(results[n]), key, p)) for n in names]
            ka = fmt(add(getter(k), getter(d), key, p)) if k and d else "n/a"
            la = fmt(add(getter(l), getter(d), key, p)) if l and d else "n/a"
            cells.append(f"| {label} {p} | " + " | ".join(vals) + f" | {ka} | {la} |")
        return cells

    lines += row("sequential (c=1)", lambda r: r["seq"])
    for rate in args.rates:
        lines += row(f"open loop {rate}/s", lambda r, rate=rate: r["open"][str(rate)])
    lines += row("stream TTFT (c=1)", lambda r: r["stream"], key="ttfb")
    lines.append("")
    # achieved rates for open loop
    lines.append("Open loop, achieved req/s and errors: " + "; ".join(
        f"{n} " + ", ".join(f"{rate}/s -> {results[n]['open'][str(rate)]['rps']:.0f}"
                            + (f" ({results[n]['open'][str(rate)]['errors']})" if results[n]['open'][str(rate)]['errors'] else "")
                            for rate in args.rates) for n in names) + ".")
    lines.append("")
    lines += ["| closed loop | " + " | ".join(f"{n} req/s | {n} p99 | {n} CPU ms/req" for n in names) + " |",
              "|---|" + "---|---|---|" * len(names)]
    for conns in args.sweep:
        cells = []
        for n in names:
            r = results[n]["sweep"][str(conns)]
            cells.append(f"{r['rps']:.0f} | {fmt(r['latency'].get('p99'), 1)}"
                         + (f" (err {sum(r['errors'].values())})" if r["errors"] else "")
                         + f" | {fmt(r.get('cpu_ms_per_req'))}")
        lines.append(f"| c={conns} | " + " | ".join(cells) + " |")
    if any(results[n].get("wrk64") for n in names):
        lines.append("| wrk c=64 | " + " | ".join(
            (f"{results[n]['wrk64']['rps']:.0f} | {results[n]['wrk64']['p99']:.1f} | " if results[n].get("wrk64") else "n/a | n/a | ")
            for n in names) + " |")
    lines.append("")
    verdicts = []
    if k and d:
        top = str(max(args.rates))
        a50, a99 = add(k["open"][top], d["open"][top], p="p50"), add(k["open"][top], d["open"][top], p="p99")
        ok = a50 is not None and a99 is not None and a50 <= 1.0 and a99 <= 5.0
        verdicts.append(f"- kumo added latency at {top} req/s: p50 {fmt(a50)} ms (target <= 1), p99 {fmt(a99)} ms "
                        f"(target <= 5): **{'met' if ok else 'NOT met'}**.")
        extra = k.get("extras", {})
        if extra:
            cs, c64 = extra["cache_seq"], extra["cache_c64"]
            verdicts.append(f"- kumo cache hits (`cf-aig-cache-ttl: 300`, header on repeat: `{extra.get('cache_header')}`): "
                            f"c=1 p50 {fmt(lat(cs))} / p99 {fmt(lat(cs, p='p99'))} ms; c=64 {c64['rps']:.0f} req/s, "
                            f"p50 {fmt(lat(c64))} / p99 {fmt(lat(c64, p='p99'))} ms.")
            samples = extra["rss_samples_kib"]
            first, second, last = samples[0][1], samples[1][1] if len(samples) > 1 else samples[0][1], samples[-1][1]
            growth = (last - second) / 1024
            flat = growth <= max(5.0, 0.05 * second / 1024)
            verdicts.append(f"- kumo RSS (VmRSS): {first / 1024:.1f} MiB before, {second / 1024:.1f} MiB after the first "
                            f"10k, {last / 1024:.1f} MiB after {samples[-1][0]:,} requests (series MiB: "
                            + ", ".join(f"{s[1] / 1024:.0f}" for s in samples)
                            + f"); growth after warm-up {growth:+.1f} MiB: **{'flat' if flat else 'NOT flat'}**.")
    if k and l:
        lit_sat = max(l["sweep"].values(), key=lambda r: r["rps"])
        kum_sat = max(k["sweep"].values(), key=lambda r: r["rps"])
        budgets = sorted({round(lit_sat["latency"]["p99"], 1)} | set(args.p99_budgets))
        parts, best_ratio_ok = [], None
        for b in budgets:
            kt, lt = throughput_at_p99(k["sweep"], b), throughput_at_p99(l["sweep"], b)
            ratio = kt / lt if kt and lt else None
            parts.append(f"p99 <= {b:g} ms: kumo {fmt(kt, 0)} vs LiteLLM {fmt(lt, 0)} req/s (x{fmt(ratio, 1)})")
            if b == round(lit_sat["latency"]["p99"], 1):
                best_ratio_ok = ratio
        sat_ratio = kum_sat["rps"] / lit_sat["rps"] if lit_sat["rps"] else None
        ok = best_ratio_ok is not None and best_ratio_ok >= 3
        verdicts.append(f"- Saturation: kumo {kum_sat['rps']:.0f} req/s (p99 {kum_sat['latency']['p99']:.1f} ms), LiteLLM "
                        f"{lit_sat['rps']:.0f} req/s (p99 {lit_sat['latency']['p99']:.1f} ms), x{fmt(sat_ratio, 1)}. At equal "
                        f"p99: " + "; ".join(parts) + f". Target >= 3x at LiteLLM's saturation p99: "
                        f"**{'met' if ok else 'NOT met'}**.")
    ctl = results.get("controls")
    if ctl:
        ok = ctl["added_p50_ms"] <= 1.5 and ctl["cpu_ratio"] <= 1.5
        verdicts.append(f"- Gateway controls (same kumo, gateway with spend limits (2 rules) + DLP (every predefined "
                        f"profile, prompts and answers) + OTel export vs a bare gateway, c=1): p50 "
                        f"{fmt(ctl['controls']['p50'])} vs {fmt(ctl['bare']['p50'])} ms, added {fmt(ctl['added_p50_ms'])} "
                        f"ms (target <= 1.5); CPU {fmt(ctl['controls']['cpu_ms_per_req'])} vs "
                        f"{fmt(ctl['bare']['cpu_ms_per_req'])} ms/request, x{fmt(ctl['cpu_ratio'])} (target <= 1.5); "
                        f"{ctl['otlp_posts']} OTLP exports received: **{'met' if ok else 'NOT met'}**.")
    lines += verdicts
    lines.append("")
    return "\n".join(lines)


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
    if os.cpu_count() and os.cpu_count() < 2:
        global PROXY_CPU, CLIENT_CPU
        PROXY_CPU = CLIENT_CPU = "0"
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    WATCH["max_wait"] = args.max_wait * 60
    if not args.no_wait:
        wait_for_idle(WATCH["max_wait"])
    os.sched_setaffinity(0, {int(CLIENT_CPU)})

    workdir = Path(tempfile.mkdtemp(prefix="kumo-gwbench-"))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
    meta = {"commit": head + ("+dirty src" if dirty else ""), "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    results: dict = {}
    fake = start_fake(args, workdir)
    procs = [fake.proc]
    WATCH["pids"] = [fake.pid]
    WATCH["max_foreign"] = args.max_foreign
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
        others = other_benchmarks()
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
