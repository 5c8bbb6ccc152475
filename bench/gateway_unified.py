"""The unified REST API's cost over the gateway's provider endpoint, in one run.

Both paths reach the same fake OpenAI provider through the same gateway (`gw`, `collect_logs: true`):

* provider path: `POST /v1/{account}/gw/openai/<endpoint>` with the provider's own model id and key;
* unified path: `POST /client/v4/accounts/{account}/ai/v1/<endpoint>` with `openai/<model>` and
  `cf-aig-gateway-id: gw` (the API token checked, the model id mapped, the provider key the stored one's place).

Modes (`--mode`, default all): `chat` (chat completions on both), `responses` (OpenAI's Responses API, native at
OpenAI on both), `messages` (an Anthropic Messages request on the unified path, translated to chat, against the
same chat request on the provider path: the translation's cost, both ways).

Pieces, each its own process: the fake provider (raw ASGI under uvicorn, a fixed answer after `--latency-ms`),
`kumo serve` pinned to CPU 0, and the load generator (this file, `--role loadgen`, CPU 1): one keep-alive
connection per path, sequential requests, the two paths alternating in blocks of `--block` so drift on a busy
machine falls on both alike. Reported per path: p50 / p90 / p99 latency as the client sees it, and kumo's
whole-process CPU per request (utime + stime from /proc, over that path's blocks). Target: unified p50 - provider
p50 <= 0.3 ms.

Run:  PYTHONPATH=src .venv/bin/python bench/gateway_unified.py [--mode chat] [--requests 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ACCOUNT, GATEWAY, MODEL = "acct", "gw", "gpt-4o-mini"
ASK = [{"role": "user", "content": "Say hello in five words."}]
MODES = {
    # mode: (provider path endpoint, provider body, unified endpoint, unified body)
    "chat": ("chat/completions", {"model": MODEL, "messages": ASK, "max_tokens": 16},
             "chat/completions", {"model": f"openai/{MODEL}", "messages": ASK, "max_tokens": 16}),
    "responses": ("responses", {"model": MODEL, "input": "Say hello in five words.", "max_output_tokens": 16},
                  "responses", {"model": f"openai/{MODEL}", "input": "Say hello in five words.",
                                "max_output_tokens": 16}),
    "messages": ("chat/completions", {"model": MODEL, "messages": ASK, "max_tokens": 16},
                 "messages", {"model": f"openai/{MODEL}", "messages": ASK, "max_tokens": 16}),
}


# ---- fake provider ---------------------------------------------------------------------------------------
def fake_app(latency: float):
    import asyncio

    chat = json.dumps({"id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": MODEL,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how are you?"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}}).encode()
    response = json.dumps({"id": "resp_b", "object": "response", "created_at": 1, "status": "completed",
                           "model": MODEL, "output": [{"type": "message", "id": "msg_b", "status": "completed",
                                                       "role": "assistant", "content": [
                                                           {"type": "output_text", "text": "Hello there, how are you?",
                                                            "annotations": []}]}],
                           "usage": {"input_tokens": 12, "output_tokens": 6, "total_tokens": 18}}).encode()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(latency)
        body = response if scope["path"].endswith("/responses") else chat
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


# ---- load generator (its own process) --------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadgen(args) -> None:
    import httpx

    endpoint, body, unified_endpoint, unified_body = MODES[args.mode]
    paths = {
        "provider": (f"/v1/{ACCOUNT}/{GATEWAY}/openai/{endpoint}",
                     {"authorization": "Bearer bench-provider-key", "content-type": "application/json"}, body),
        "unified": (f"/client/v4/accounts/{ACCOUNT}/ai/v1/{unified_endpoint}",
                    {"authorization": "Bearer bench-token", "cf-aig-gateway-id": GATEWAY,
                     "content-type": "application/json"}, unified_body),
    }
    clients = {name: httpx.Client(base_url=args.url, timeout=30) for name in paths}
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, float] = {name: 0.0 for name in paths}
    payloads = {name: json.dumps(b).encode() for name, (_, _, b) in paths.items()}
    for name, (path, headers, _) in paths.items():  # warm-up
        for _ in range(50):
            r = clients[name].post(path, content=payloads[name], headers=headers)
            assert r.status_code == 200, (name, r.status_code, r.text[:300])
    done = 0
    while done < args.requests:
        for name, (path, headers, _) in paths.items():
            client, payload, out = clients[name], payloads[name], latencies[name]
            before = cpu_seconds(args.pid)
            for _ in range(args.block):
                start = time.perf_counter()
                r = client.post(path, content=payload, headers=headers)
                out.append(time.perf_counter() - start)
                if r.status_code != 200:
                    raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
            cpu[name] += cpu_seconds(args.pid) - before
        done += args.block
    result = {}
    for name, values in latencies.items():
        values.sort()
        n = len(values)
        result[name] = {"n": n, "p50_ms": values[n // 2] * 1000, "p90_ms": values[int(n * 0.9)] * 1000,
                        "p99_ms": values[int(n * 0.99)] * 1000, "cpu_ms_per_request": cpu[name] / n * 1000}
    print(json.dumps(result))


# ---- orchestration ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["orchestrate", "fake", "loadgen"], default="orchestrate")
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    parser.add_argument("--requests", type=int, default=3000, help="per path")
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    if args.role == "fake":
        import uvicorn
        uvicorn.run(fake_app(args.latency_ms / 1000), host="127.0.0.1", port=args.port, log_level="error",
                    access_log=False)
        return
    if args.role == "loadgen":
        loadgen(args)
        return
    import httpx

    work = Path(tempfile.mkdtemp(prefix="bench-unified-"))
    procs: list[subprocess.Popen] = []
    try:
        fake_port, kumo_port = free_port(), free_port()
        fake = subprocess.Popen(pinned("1", [sys.executable, str(HERE), "--role", "fake", "--port", str(fake_port),
                                             "--latency-ms", str(args.latency_ms)]))
        procs.append(fake)
        wait_port(fake_port, 30, fake)
        env = {**os.environ, "KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake_port}"}
        kumo = subprocess.Popen(pinned("0", [sys.executable, "-m", "kumo", "serve", "--port", str(kumo_port),
                                             "--data-dir", str(work / "data"), "--log-level", "warning"]),
                                env=env, stdout=open(work / "kumo.log", "w"), stderr=subprocess.STDOUT)
        procs.append(kumo)
        wait_port(kumo_port, 120, kumo)
        url = f"http://127.0.0.1:{kumo_port}"
        r = httpx.post(f"{url}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways",
                       headers={"authorization": "Bearer bench-token"}, timeout=30,
                       json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None,
                             "collect_logs": True, "rate_limiting_interval": None, "rate_limiting_limit": None})
        r.raise_for_status()
        modes = list(MODES) if args.mode == "all" else [args.mode]
        print(f"fake provider latency {args.latency_ms} ms; {args.requests} sequential requests per path, "
              f"alternating blocks of {args.block}; kumo pinned to CPU 0 (pid {kumo.pid})")
        print(f"{'mode':10} {'path':9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
        for mode in modes:
            out = subprocess.run(pinned("1", [sys.executable, str(HERE), "--role", "loadgen", "--mode", mode,
                                              "--url", url, "--pid", str(kumo.pid), "--requests",
                                              str(args.requests), "--block", str(args.block)]),
                                 check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            for name, row in result.items():
                print(f"{mode:10} {name:9} {row['p50_ms']:8.3f} {row['p90_ms']:8.3f} {row['p99_ms']:8.3f} "
                      f"{row['cpu_ms_per_request']:11.3f}")
            added = result["unified"]["p50_ms"] - result["provider"]["p50_ms"]
            ratio = result["unified"]["cpu_ms_per_request"] / max(result["provider"]["cpu_ms_per_request"], 1e-9)
            verdict = "ok" if added <= 0.3 else "over"
            print(f"{mode:10} unified - provider p50: {added:+.3f} ms ({verdict}: target <= 0.3 ms); "
                  f"CPU ratio unified/provider {ratio:.2f}x")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
