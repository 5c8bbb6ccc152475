"""An httpx transport that calls an ASGI app in process *and streams its response* (httpx's own
ASGITransport buffers the whole body, which would turn a token stream into one late blob)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.types import ASGIApp, Message


class _Body(httpx.AsyncByteStream):
    def __init__(self, queue: asyncio.Queue, task: asyncio.Task):
        self._queue = queue
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                break
            if isinstance(chunk, BaseException):
                raise httpx.ReadError(str(chunk))
            yield chunk

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp):
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": request.url.scheme, "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query, "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0), "server": (request.url.host, request.url.port or 80),
        }
        sent_body = False
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue = asyncio.Queue()

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect until cancelled
            return {"type": "http.disconnect"}  # pragma: no cover

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not started.done():  # the caller may have given up waiting (a deadline)
                    started.set_result(message)
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                chunks.put_nowait(exc if not isinstance(exc, asyncio.CancelledError) else None)
                if not isinstance(exc, (asyncio.CancelledError, Exception)):
                    raise

        task = asyncio.get_running_loop().create_task(run())
        try:
            start = await started
        except asyncio.CancelledError:  # the caller left before the answer began: so does the work behind it
            task.cancel()
            raise
        return httpx.Response(start["status"], headers=start.get("headers", []), stream=_Body(chunks, task),
                              request=request)
