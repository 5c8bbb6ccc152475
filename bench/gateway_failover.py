"""Time to recover from a stream cut mid-answer: kumo's universal endpoint with two steps, the first cut after
`--cut-after` tokens (the chunked body closed without its terminator), the second asked to continue the answer.

The client-visible gap is the time between the last token before the cut and the first token of the continuation,
as an HTTP client in this process sees them. The bound it is held to: the fallback's own first-token latency (the
same continuation request sent straight to the provider, timed the same way) + 50 ms.

Pieces, each its own process: a fake provider (raw asyncio, `--role fake`: tokens every `--token-gap-ms`, the first
after `--first-token-ms`), `kumo serve` pinned to CPU 0, and this client (with the fake) on CPU 1.

Run:  PYTHONPATH=src .venv/bin/python bench/gateway_failover.py [--trials 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ACCOUNT, GATEWAY = "bench", "gw"
ANSWER = ["Once"] + [f" word{i}" for i in range(1, 80)] + ["."]


# ---- the fake provider ---------------------------------------------------------------------------------------

def _chunk(delta: dict, finish: str | None = None) -> bytes:
    event = ("data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n")
    return f"{len(event):x}\r\n{event}\r\n".encode()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first_ms: float, gap_ms: float) -> None:
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        headers = dict(line.lower().split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
        fault = headers.get("x-fault", "")
        tokens = ANSWER
        if fault == "continue":  # the partial answer: a prefill, or the assistant message before an instruction
            messages = body["messages"]
            partial = messages[-1]["content"] if messages[-1]["role"] == "assistant" else messages[-2]["content"]
            rest = "".join(ANSWER)[len(partial):]
            tokens = [rest[i:i + 7] for i in range(0, len(rest), 7)]
        cut = int(fault.split(":")[1]) if fault.startswith("cut:") else None
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                     b"connection: close\r\n\r\n")
        writer.write(_chunk({"role": "assistant", "content": ""}))
        await writer.drain()
        await asyncio.sleep(first_ms / 1000)
        for index, token in enumerate(tokens):
            if index == cut:
                writer.close()  # no terminating chunk: the body is cut
                return
            writer.write(_chunk({"content": token}))
            await writer.drain()
            await asyncio.sleep(gap_ms / 1000)
        writer.write(_chunk({}, "stop"))
        event = "data: [DONE]\n\n"
        writer.write(f"{len(event):x}\r\n{event}\r\n0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass


def run_fake(port: int, first_ms: float, gap_ms: float) -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _serve(r, w, first_ms, gap_ms), "127.0.0.1", port)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


# ---- the client -------------------------------------------------------------------------------------------------

async def timed_stream(url: str, payload, headers: dict[str, str]) -> tuple[list[tuple[float, str]], float, bytes]:
    """(content tokens with their arrival time, when the request was sent, the raw body) over HTTP/1.1."""
    import httpx

    tokens: list[tuple[float, str]] = []
    raw = b""
    async with httpx.AsyncClient(timeout=30) as client:
        sent = time.perf_counter()
        async with client.stream("POST", url, json=payload, headers=headers) as response:
            buffer = b""
            async for data in response.aiter_raw():
                now = time.perf_counter()
                raw += data
                buffer += data
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    for line in event.split(b"\n"):
                        if line.startswith(b"data: {"):
                            choices = json.loads(line[6:]).get("choices") or [{}]
                            text = (choices[0].get("delta") or {}).get("content")
                            if text:
                                tokens.append((now, text))
    return tokens, sent, raw


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early ({proc.args})")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="bench", choices=["bench", "fake"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--cut-after", type=int, default=40)
    parser.add_argument("--first-token-ms", type=float, default=100)
    parser.add_argument("--token-gap-ms", type=float, default=5)
    args = parser.parse_args()
    if args.role == "fake":
        run_fake(args.port, args.first_token_ms, args.token_gap_ms)
        return
    import httpx

    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    fake_port, kumo_port = free_port(), free_port()
    fake = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(HERE), "--role", "fake", "--port",
                             str(fake_port), "--first-token-ms", str(args.first_token_ms), "--token-gap-ms",
                             str(args.token_gap_ms)])
    env = {**os.environ, "KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake_port}",
           "KUMO_UPSTREAM_GROQ": f"http://127.0.0.1:{fake_port}",
           "KUMO_GATEWAY_CIRCUIT_FAILURES": "0"}  # every trial cuts the first step: its circuit would open
    kumo = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "kumo", "serve", "--port", str(kumo_port),
                             "--data-dir", str(work / "data"), "--log-level", "warning"], env=env,
                            stdout=open(work / "kumo.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_port(fake_port, fake)
        wait_port(kumo_port, kumo)
        base = f"http://127.0.0.1:{kumo_port}"
        httpx.post(f"{base}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways", headers={"authorization": "Bearer x"},
                   json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                         "rate_limiting_interval": None, "rate_limiting_limit": None}, timeout=30).raise_for_status()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "tell"}], "stream": True}
        steps = [{"provider": provider, "endpoint": "chat/completions", "query": chat,
                  "headers": {"authorization": "Bearer k", "x-fault": fault}}
                 for provider, fault in (("openai", f"cut:{args.cut_after}"), ("groq", "continue"))]
        partial = "".join(ANSWER[:args.cut_after])
        direct = {**chat, "messages": [*chat["messages"], {"role": "assistant", "content": partial}]}
        gaps, ttfts = [], []
        for trial in range(args.trials + 2):  # two warm-up rounds
            tokens, _, raw = asyncio.run(timed_stream(f"{base}/v1/{ACCOUNT}/{GATEWAY}", steps, {}))
            text = "".join(t for _, t in tokens)
            if text != "".join(ANSWER) or b"event: error" in raw:
                raise RuntimeError(f"trial {trial}: the client did not get one complete answer: {raw[-300:]!r}")
            seen, gap = "", None
            for (before, token), (after, _) in zip(tokens, tokens[1:]):
                seen += token
                if seen == partial:
                    gap = after - before
            first, sent, _ = asyncio.run(timed_stream(f"http://127.0.0.1:{fake_port}/v1/chat/completions", direct,
                                                      {"x-fault": "continue"}))
            if trial >= 2:
                gaps.append(gap * 1000)
                ttfts.append((first[0][0] - sent) * 1000)
    finally:
        for proc in (kumo, fake):
            proc.terminate()
            proc.wait(30)
    gap50, ttft50 = statistics.median(gaps), statistics.median(ttfts)
    worst = max(g - t for g, t in zip(sorted(gaps), sorted(ttfts)))
    print(f"trials: {args.trials}, cut after {args.cut_after} tokens, fallback first token after "
          f"{args.first_token_ms:g} ms, tokens every {args.token_gap_ms:g} ms")
    print(f"client-visible gap at the cut: p50 {gap50:.1f} ms, p90 {sorted(gaps)[int(len(gaps) * 0.9) - 1]:.1f} ms, "
          f"max {max(gaps):.1f} ms")
    print(f"the fallback's own first-token latency (direct): p50 {ttft50:.1f} ms")
    print(f"added by kumo: p50 {gap50 - ttft50:.1f} ms (bound: 50 ms), quantile-matched worst {worst:.1f} ms; "
          f"gap / fallback first token = {gap50 / ttft50:.2f}x")
    print("PASS" if gap50 - ttft50 <= 50 else "FAIL")


if __name__ == "__main__":
    main()
