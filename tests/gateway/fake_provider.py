"""A fake LLM provider on 127.0.0.1 speaking OpenAI, Anthropic and Google wire formats, able to fail in the
ways real providers do. The header `x-fake` picks a behaviour:

    ok | fail-once:<key> | fail-always | 429-once:<key> | reset | hang | slow:<seconds> | 400 | 401
    stream modes (with "stream": true): ok | cut | stall | stall-start | malformed | no-done

It records every request it receives (headers included) so tests can check what reached the provider.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

WORDS = ["Hello", " from", " the", " fake", " provider", "."]


def _words(request: Request) -> list[str]:
    """`x-fake-say: <text>`: answer with that text, streamed 4 characters a chunk (so a phrase spans chunks)."""
    say = request.headers.get("x-fake-say")
    return [say[i:i + 4] for i in range(0, len(say), 4)] if say else WORDS


class FakeProvider:
    def __init__(self):
        self.requests: list[dict] = []
        self.counters: dict[str, int] = {}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[
            Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/v1/embeddings", self.openai_embeddings, methods=["POST"]),
            Route("/embeddings", self.openai_embeddings, methods=["POST"]),
            Route("/responses", self.openai_responses, methods=["POST"]),
            Route("/v1/messages", self.anthropic, methods=["POST"]),
            Route("/v1beta/models/{rest:path}", self.google, methods=["POST"]),
            Route("/{rest:path}", self.echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> FakeProvider:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    # ---- behaviour ----------------------------------------------------------------------------------
    async def _record(self, request: Request) -> tuple[str, dict]:
        body = await request.body()
        try:
            parsed = json.loads(body) if body else {}
        except json.JSONDecodeError:
            parsed = {}
        self.requests.append({"path": request.url.path, "raw_path": request.scope["raw_path"].decode("latin-1"),
                              "query": request.url.query,
                              "headers": dict(request.headers), "body": parsed})
        return request.headers.get("x-fake", "ok"), parsed

    def _count(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    async def _failure(self, mode: str) -> Response | None:
        if mode.startswith("fail-once:") and self._count(mode) == 1:
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, 500)
        if mode == "fail-always":
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, 500)
        if mode.startswith("429-once:") and self._count(mode) == 1:
            return JSONResponse({"error": {"message": "slow down"}}, 429, headers={"retry-after": "1"})
        if mode == "400":
            return JSONResponse({"error": {"message": "bad request from provider"}}, 400)
        if mode == "401":  # what a provider answers a wrong or revoked key
            return JSONResponse({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, 401)
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode.split(":")[1]))
        if mode == "reset":
            raise ConnectionResetError("fake reset")
        return None

    async def openai_chat(self, request: Request) -> Response:
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        model = body.get("model", "gpt-4o-mini")
        words = _words(request)
        if body.get("stream"):
            return StreamingResponse(self._openai_stream(mode, model, body, words), media_type="text/event-stream")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 7
        return JSONResponse({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                      "total_tokens": prompt_tokens + len(words),
                      "prompt_tokens_details": {"cached_tokens": 4},
                      "completion_tokens_details": {"reasoning_tokens": 2}},
        })

    async def _openai_stream(self, mode: str, model: str, body: dict, words: list[str] = WORDS):
        def chunk(delta, finish=None):
            return ("data: " + json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                    + "\n\n").encode()

        if mode == "stall-start":  # headers are out, the first chunk never comes
            await asyncio.sleep(3600)
        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            if mode == "cut" and i == 3:
                raise ConnectionResetError("cut mid-stream")
            if mode == "stall" and i == 3:
                await asyncio.sleep(3600)
            if mode == "malformed" and i == 2:
                yield b"data: {not json\n\n"
            yield chunk({"content": word})
            await asyncio.sleep(0.01)
        yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield ("data: " + json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                                          "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 6,
                                                                   "total_tokens": 17}}) + "\n\n").encode()
        if mode != "no-done":
            yield b"data: [DONE]\n\n"

    async def openai_responses(self, request: Request) -> Response:
        """OpenAI's Responses API: a Response object, or its stream of typed events ending in response.completed."""
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        model, words = body.get("model", "gpt-4o-mini"), _words(request)
        item = {"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "".join(words), "annotations": []}]}
        usage = {"input_tokens": 9, "output_tokens": len(words), "total_tokens": 9 + len(words),
                 "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        response = {"id": "resp_fake", "object": "response", "created_at": int(time.time()), "status": "completed",
                    "model": model, "output": [item], "usage": usage, "parallel_tool_calls": True, "tools": [],
                    "tool_choice": "auto"}
        if not body.get("stream"):
            return JSONResponse(response)

        async def stream():
            def event(payload):
                return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()

            yield event({"type": "response.created", "sequence_number": 0,
                         "response": {**response, "status": "in_progress", "output": [], "usage": None}})
            for i, word in enumerate(words):
                if mode == "cut" and i == 3:
                    raise ConnectionResetError("cut mid-stream")
                yield event({"type": "response.output_text.delta", "sequence_number": i + 1, "item_id": "msg_fake",
                             "output_index": 0, "content_index": 0, "delta": word})
            yield event({"type": "response.completed", "sequence_number": len(words) + 1, "response": response})

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def openai_embeddings(self, request: Request) -> Response:
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        inputs = body.get("input") if isinstance(body.get("input"), list) else [body.get("input")]
        return JSONResponse({"object": "list", "model": body.get("model"),
                             "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                                      for i, _ in enumerate(inputs)],
                             "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})

    async def anthropic(self, request: Request) -> Response:
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        model = body.get("model", "claude-3-5-haiku-latest")
        if body.get("stream"):
            return StreamingResponse(self._anthropic_stream(mode, model), media_type="text/event-stream")
        return JSONResponse({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "".join(WORDS)}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 6, "cache_read_input_tokens": 0},
        })

    async def _anthropic_stream(self, mode: str, model: str):
        def event(name, data):
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        yield event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "usage": {"input_tokens": 12, "output_tokens": 1}}})
        yield event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        for i, word in enumerate(WORDS):
            if mode == "cut" and i == 3:
                raise ConnectionResetError("cut")
            yield event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": word}})
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                      "usage": {"output_tokens": 6}})
        if mode != "no-done":
            yield event("message_stop", {"type": "message_stop"})

    async def google(self, request: Request) -> Response:
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        rest = request.path_params["rest"]
        model = rest.split(":")[0]

        def payload(text, finish=None, usage=True):
            candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            out = {"candidates": [candidate], "modelVersion": model}
            if usage:
                out["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15}
            return out

        if rest.endswith(":streamGenerateContent"):
            async def stream():
                for i, word in enumerate(WORDS):
                    last = i == len(WORDS) - 1
                    yield ("data: " + json.dumps(payload(word, "STOP" if last else None, last)) + "\r\n\r\n").encode()

            return StreamingResponse(stream(), media_type="text/event-stream")
        return JSONResponse(payload("".join(WORDS), "STOP"))

    async def echo(self, request: Request) -> Response:
        mode, body = await self._record(request)
        failure = await self._failure(mode)
        if failure is not None:
            return failure
        return JSONResponse({"path": request.url.path, "query": request.url.query, "echo": body,
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
