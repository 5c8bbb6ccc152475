"""ASGI middleware shared by every product."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.api.error_shapes import ErrorShapes
from kumo.errors import PayloadTooLarge


class BodySizeLimit:
    """Answer 413 before reading past `limit` bytes, whether or not Content-Length was sent."""

    def __init__(self, app: ASGIApp, limit: int, shapes: ErrorShapes | None = None):
        self.app = app
        self.limit = limit
        self.shapes = shapes or ErrorShapes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._reject(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"The request body is larger than the limit of {self.limit} bytes.")
        await self.shapes.render(scope["path"], error)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class StripTrailingSlash:
    """`/indexes/` and `/indexes` are the same resource; answer both rather than redirecting a POST."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
