"""The fake OpenAI-compatible provider every target sits in front of: a raw ASGI app under uvicorn answering
a fixed chat completion (or an SSE stream of chunks) after a fixed latency."""

from __future__ import annotations

import asyncio
import json

from _floor import read_body
from gateway.workload import MODEL


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
        body = await read_body(receive)
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
