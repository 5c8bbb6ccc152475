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
  retry-after:S:K  429 with `Retry-After: S` the first time key K is seen, then a chat completion
  (anything else)  a chat completion
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import Counter

WORDS = ["Hello", " from", " the", " fault", " server", "."]


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


def _completion(model: str) -> bytes:
    body = json.dumps({"id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)},
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
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
            fault = headers.get("x-fault", "ok")
            self.seen[fault] += 1
            await self._answer(fault, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    async def _answer(self, fault: str, body: dict, writer: asyncio.StreamWriter) -> None:
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
