"""Server-sent events as Cloudflare and OpenAI send them: `data: <json>\n\n`, ending with `data: [DONE]`; a
`NamedEvent` adds the `event: <name>` line (AI Search sends its retrieved chunks as `event: chunks`)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kumo.errors import KumoError

log = logging.getLogger("kumo.sse")
T = TypeVar("T")


@dataclass(frozen=True)
class NamedEvent:
    name: str
    data: Any


def event(data: Any) -> bytes:
    if isinstance(data, NamedEvent):
        return f"event: {data.name}\n".encode() + event(data.data)
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


@asynccontextmanager
async def closed_after(events: AsyncIterable[T]) -> AsyncIterator[AsyncIterable[T]]:
    """`events`, closed on leaving the block when it can be (an async generator's `aclose`): its `finally` blocks
    run at once, so the work behind it (a model generating, an upstream stream) stops with the reader. Unlike
    contextlib's `aclosing`, it takes any async iterable."""
    try:
        yield events
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that stops its body as soon as the client disconnects and always closes it.

    Starlette leaves the body iterator suspended when the client goes away (and, on a server speaking ASGI 2.4,
    only notices at the next send), so whatever works behind the stream (a model generating, an upstream
    connection) would run on until garbage collection. Here a disconnect cancels the sending, and the iterator
    is closed explicitly, which runs its `finally` blocks at once."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failed: list[Exception] = []
        try:
            async with anyio.create_task_group() as group:
                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:  # the server says the client is gone
                        pass
                    except Exception as exc:  # raised below as itself, not inside an exception group
                        failed.append(exc)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
        if failed:
            raise failed[0]
        if self.background is not None:
            await self.background()


def sse_response(events: AsyncIterator[Any], headers: dict[str, str] | None = None,
                 transform: Callable[[Any], list[Any]] | None = None, done: bool = True) -> StreamingResponse:
    """`done`: end with `data: [DONE]` (OpenAI chat, Workers AI); Anthropic's and the Responses API's streams end
    with their own last event."""
    def failure(message: str, code: int) -> bytes:
        if done:
            return event({"error": message, "code": code})
        # Anthropic's and the Responses API's SDKs raise on a named `error` event
        return event(NamedEvent("error", {"type": "error", "error": {"type": "api_error", "message": message,
                                                                     "code": code}}))

    async def body() -> AsyncIterator[bytes]:
        async with closed_after(events):  # closing the body closes the events, and the work behind them
            try:
                async for item in events:
                    for out in (transform(item) if transform else [item]):
                        yield event(out)
            except KumoError as exc:  # mid-stream: the client sees an error event, never a clean end
                yield failure(exc.message, exc.code)
                return
            except Exception:
                log.exception("stream failed")
                yield failure("the stream failed inside kumo; see the server log", 10002)
                return
            if done:
                yield DONE

    return ClosingStreamingResponse(body(), media_type="text/event-stream",
                                    headers={"cache-control": "no-cache", **(headers or {})})
