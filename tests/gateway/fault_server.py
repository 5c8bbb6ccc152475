"""A provider that fails the way real ones do, below HTTP's politeness: a raw asyncio server (no framework), so it
can reset a connection before any header, send a chunked body and close without its terminating chunk, or keep a
socket open and say nothing. It counts the requests each fault received (the provider's view).

The fault is chosen per request by the `x-fault` header:
  reset            read the request, then RST (no status line)
  stall            read the request, then silence with the socket open
  no-terminator    an OpenAI stream cut after three words: the chunked body closes without its 0-chunk
  no-done          an OpenAI stream with finish_reason and the usage chunk, no `data: [DONE]`, properly ended
  cut-after-finish an OpenAI stream whose usage chunk (asked for) never comes, properly ended
  policy           400, OpenAI's content_policy_violation error
  context          400, OpenAI's context_length_exceeded error
  reject-key:B     401 (invalid_api_key) when the request's key is `Bearer B`, else a chat completion
  retry-after:S:K  429 with `Retry-After: S` the first time key K is seen, then a chat completion
  outage:N:K       503 for the first N requests with key K, then the answer asked for (a stream if asked)
  first-token-never  a stream's headers and its role chunk, then only keep-alive comments
  cut-after:N      the long ANSWER streamed, cut after N tokens (the chunked body closes without its 0-chunk)
  reset-after:N    the same, cut by a TCP reset
  stall-after:N    the same, then silence with the socket open
  malformed-after:N  the same, then an event that is not JSON (and the rest of the answer)
  continue[:slow]  the rest of ANSWER after the partial answer the request carries (an assistant prefill, or
                   the assistant's message before a "continue" instruction); 400 if it is not ANSWER's beginning;
                   `slow`: a token every 50 ms
  reject-prefill   400 for a request that holds an assistant message (a provider without prefill), else ANSWER
  ok-stream        ANSWER, whole
  (anything else)  a chat completion
On `/v1/messages` streams are Anthropic Messages events. `continued` keeps each partial answer a `continue` got.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import Counter

WORDS = ["Hello", " from", " the", " fault", " server", "."]
# a long answer, one token a chunk: long enough to be cut after 40 tokens, or to stall after 20
ANSWER = ["Once"] + [f" word{i}" for i in range(1, 60)] + ["."]


def _chunk(model: str, delta: dict, finish: str | None = None) -> bytes:
    return ("data: " + json.dumps({"id": "chatcmpl-fault", "object": "chat.completion.chunk", "model": model,
                                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            + "\n\n").encode()


def _usage(model: str) -> bytes:
    return ("data: " + json.dumps({"id": "chatcmpl-fault", "object": "chat.completion.chunk", "model": model,
                                   "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6,
                                                            "total_tokens": 11}}) + "\n\n").encode()


def _error(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": code}}).encode()
    return (f"HTTP/1.1 {status} Bad Request\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


LONG_FAULTS = {"outage", "first-token-never", "cut-after", "reset-after", "stall-after", "malformed-after", "continue",
               "reject-prefill", "ok-stream"}


def _partial(messages: list) -> str | None:
    """The answer a continuation request carries: a last assistant message (a prefill), or the assistant's message
    before a closing user instruction."""
    if messages and messages[-1].get("role") == "assistant":
        return messages[-1].get("content")
    if len(messages) >= 2 and messages[-2].get("role") == "assistant" and messages[-1].get("role") == "user":
        return messages[-2].get("content")
    return None


def _openai_events(model: str, tokens: list[str], body: dict) -> list[bytes]:
    events = [_chunk(model, {"role": "assistant", "content": ""})]
    events += [_chunk(model, {"content": t}) for t in tokens] + [_chunk(model, {}, "stop")]
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(_usage(model))
    return events + [b"data: [DONE]\n\n"]


def _anthropic_events(model: str, tokens: list[str]) -> list[bytes]:
    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    events = [event("message_start", {"message": {"id": "msg_fault", "type": "message", "role": "assistant",
                                                  "model": model, "content": [],
                                                  "usage": {"input_tokens": 5, "output_tokens": 1}}})]
    events[0] += event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    events += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}}) for t in tokens]
    return events + [event("content_block_stop", {"index": 0}),
                     event("message_delta", {"delta": {"stop_reason": "end_turn"},
                                             "usage": {"output_tokens": len(tokens)}}),
                     event("message_stop", {})]


def _completion(model: str, text: str = "".join(WORDS)) -> bytes:
    body = json.dumps({"id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}}).encode()
    return (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


def _chunked(part: bytes) -> bytes:
    return f"{len(part):x}\r\n".encode() + part + b"\r\n"


class FaultServer:
    def __init__(self):
        self.seen: Counter[str] = Counter()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stalled: list[asyncio.StreamWriter] = []
        self.continued: list[str | None] = []
        self.left: Counter[str] = Counter()  # streams whose reader went away before their end

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
            messages_path = path.rstrip("/").endswith("/v1/messages")
            # `x-fault-messages`: the fault of an Anthropic step when one request reaches two providers (/compat)
            fault = headers.get("x-fault-messages", headers.get("x-fault", "ok")) if messages_path else \
                headers.get("x-fault", "ok")
            self.seen[fault] += 1
            if messages_path or fault.split(":")[0] in LONG_FAULTS:
                await self._long(fault, body, writer, anthropic=messages_path)
            else:
                await self._answer(fault, body, writer, headers.get("authorization", ""))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    # ---- the long answer, and its faults ------------------------------------------------------------------
    async def _long(self, fault: str, body: dict, writer: asyncio.StreamWriter, anthropic: bool) -> None:
        name, _, arg = fault.partition(":")
        model = str(body.get("model", "m"))
        messages = body.get("messages") or []
        if name == "outage" and self.seen[fault] <= int(arg.split(":")[0]):
            payload = b'{"error": {"message": "the service is down", "type": "server_error"}}'
            writer.write(f"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: "
                         f"{len(payload)}\r\nconnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
            writer.close()
            return
        tokens = ANSWER
        if name == "reject-prefill" and any(m.get("role") == "assistant" for m in messages):
            writer.write(_error(400, "invalid_request_error", "assistant message prefill is not supported"))
            await writer.drain()
            writer.close()
            return
        if name == "continue":
            partial = _partial(messages)
            self.continued.append(partial)
            full = "".join(ANSWER)
            if partial is None or not full.startswith(partial):
                writer.write(_error(400, "invalid_request_error", f"not a continuation of the answer: {partial!r}"))
                await writer.drain()
                writer.close()
                return
            rest = full[len(partial):]
            tokens = [rest[i:i + 7] for i in range(0, len(rest), 7)]
        if not body.get("stream"):
            writer.write(_completion(model, "".join(tokens)))
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                     b"connection: close\r\n\r\n")
        events = _anthropic_events(model, tokens) if anthropic else _openai_events(model, tokens, body)
        stop_at = int(arg) if name.endswith("-after") else None
        if name == "first-token-never":
            writer.write(_chunked(events[0]))
            while True:  # until the client gives up on it
                await asyncio.sleep(0.1)
                writer.write(_chunked(b": keep-alive\n\n"))
                await writer.drain()
        try:
            await self._events(name, events, stop_at, writer, 0.05 if arg == "slow" else 0.002)
        except ConnectionError:  # the gateway closed the stream: its client left
            self.left[fault] += 1
            raise

    async def _events(self, name: str, events: list[bytes], stop_at: int | None, writer: asyncio.StreamWriter,
                      gap: float) -> None:
        for index, event in enumerate(events):
            if stop_at is not None and index == stop_at + 1:  # the opening event, then `stop_at` tokens
                if name == "cut-after":
                    await writer.drain()
                    writer.close()
                    return
                if name == "reset-after":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if name == "stall-after":
                    await writer.drain()
                    self._stalled.append(writer)
                    await asyncio.sleep(3600)
                    return
                writer.write(_chunked(b"data: {not json\n\n"))
            writer.write(_chunked(event))
            await writer.drain()
            await asyncio.sleep(gap)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def _answer(self, fault: str, body: dict, writer: asyncio.StreamWriter, key: str) -> None:
        model = str(body.get("model", "gpt-4o-mini"))
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            writer.transport.abort()
            return
        if fault == "stall":
            self._stalled.append(writer)  # kept open (and referenced) until the client gives up
            await asyncio.sleep(3600)
            return
        if fault == "policy":
            writer.write(_error(400, "content_policy_violation",
                                "Your request was rejected as a result of our safety system."))
        elif fault == "context":
            writer.write(_error(400, "context_length_exceeded",
                                "This model's maximum context length is 8192 tokens."))
        elif fault.startswith("reject-key:") and key == "Bearer " + fault.split(":", 1)[1]:
            writer.write(_error(401, "invalid_api_key", "Incorrect API key provided."))
        elif fault.startswith("retry-after:") and self.seen[fault] == 1:
            seconds = fault.split(":")[1]
            payload = b'{"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limited"}}'
            writer.write((f"HTTP/1.1 429 Too Many Requests\r\nretry-after: {seconds}\r\ncontent-type: application/json"
                          f"\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n").encode() + payload)
        elif fault in ("no-terminator", "no-done", "cut-after-finish"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                         b"connection: close\r\n\r\n")
            events = [_chunk(model, {"role": "assistant", "content": ""})]
            events += [_chunk(model, {"content": w}) for w in WORDS] + [_chunk(model, {}, "stop")]
            if fault != "cut-after-finish":
                events.append(_usage(model))
            if fault == "no-terminator":
                events = events[:4]
            for event in events:
                writer.write(_chunked(event))
                await writer.drain()
                await asyncio.sleep(0.005)
            if fault != "no-terminator":
                writer.write(b"0\r\n\r\n")
        else:
            writer.write(_completion(model))
        await writer.drain()
        writer.close()
