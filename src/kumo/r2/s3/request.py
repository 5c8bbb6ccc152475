"""One S3 request as the handlers see it, and the ways to answer it over ASGI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from email.utils import format_datetime

from starlette.types import Receive, Scope, Send

from kumo.r2 import errors
from kumo.r2.s3 import xml
from kumo.r2.service import R2Service
from kumo.timestamps import parse_iso



class ClientGone(Exception):
    """The client closed the connection; whatever was being written is dropped."""


@dataclass
class S3Request:
    scope: Scope
    receive: Receive
    send: Send
    service: R2Service
    account: str
    bucket: str
    key: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())
    body_read: bool = False

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def q(self) -> dict[str, str]:
        return dict(self.query)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    async def body_chunks(self) -> AsyncGenerator[bytes, None]:
        """The raw request body as it arrives; ClientGone if the client leaves before its end."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                self.body_read = True
                return

    @property
    def body_left_unread(self) -> bool:
        """A body was announced and not read to its end: the connection cannot carry another request."""
        if self.body_read:
            return False
        length = self.headers.get("content-length", "0")
        return length != "0" or "transfer-encoding" in self.headers


def http_date(iso: str) -> str:
    return format_datetime(parse_iso(iso), usegmt=True)


def _headers(headers: dict[str, str] | list[tuple[str, str]], request_id: str) -> list[tuple[bytes, bytes]]:
    items = headers.items() if isinstance(headers, dict) else headers
    out = [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in items if v is not None]
    out.append((b"x-amz-request-id", request_id.encode()))
    return out


async def respond(request: S3Request, status: int, body: bytes = b"", headers: dict | None = None,
                  content_type: str | None = "application/xml") -> None:
    all_headers = dict(headers or {})
    if content_type and body:
        all_headers.setdefault("content-type", content_type)
    all_headers.setdefault("content-length", str(len(body)))
    if request.body_left_unread:
        all_headers["connection"] = "close"
    await request.send({"type": "http.response.start", "status": status,
                        "headers": _headers(all_headers, request.request_id)})
    await request.send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else body})


async def respond_xml(request: S3Request, root: str, body: str, status: int = 200,
                      headers: dict | None = None) -> None:
    await respond(request, status, xml.document(root, body), headers)


async def respond_error(request: S3Request, error: errors.R2Error) -> None:
    status = error.status
    headers = {"x-amz-error-code": error.s3_code} if request.method == "HEAD" else {}
    if status == 304:
        await respond(request, 304, b"", headers)
        return
    resource = "/" + "/".join(p for p in (request.bucket, request.key) if p)
    await respond(request, status, xml.error_document(error, resource, request.request_id), headers)


async def stream(request: S3Request, status: int, headers: dict, chunks: AsyncGenerator[bytes, None]) -> None:
    """Send the body as it is read; stop reading as soon as the client leaves."""
    gone = asyncio.Event()

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.create_task(watch())
    try:
        await request.send({"type": "http.response.start", "status": status,
                            "headers": _headers(headers, request.request_id)})
        async for chunk in chunks:
            if gone.is_set():
                break
            await request.send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            await request.send({"type": "http.response.body", "body": b""})
    except OSError:
        pass  # the connection went away under the send: nothing left to tell anyone
    finally:
        watcher.cancel()
        await chunks.aclose()
