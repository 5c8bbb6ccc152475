"""The outermost ASGI layer: gives each request its id (answered as `cf-ray`, like Cloudflare) and writes
one access line when the response has ended (streams included), in place of uvicorn's access log; while kumo
serves, a thread writes the lines (kumo.api.access_lines).

It sits on every request of the gateway's data plane, so it stays a plain ASGI callable: no Request object,
one pass over the headers each way, and the access record is only built when the logger would emit it.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.api.access_lines import AccessLines
from kumo.api.redaction import redact
from kumo.api.request_id import INCOMING_HEADERS, REQUEST_ID, acceptable, new_request_id
from kumo.metrics import product_of

ACCESS_LOG = logging.getLogger("kumo.access")


class RequestLog:
    def __init__(self, app: ASGIApp, lines: AccessLines | None = None):
        self.app = app
        self.lines = lines or AccessLines(ACCESS_LOG)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Already set: an in-process call made while serving a request (the gateway's workers-ai provider)
        # belongs to that request.
        request_id = REQUEST_ID.get()
        if request_id is None:
            for name, value in scope["headers"]:
                if name in INCOMING_HEADERS and (request_id := acceptable(value)):
                    break
            else:
                request_id = new_request_id()
        token = REQUEST_ID.set(request_id)
        ray = request_id.encode()
        status = 500
        sent = 0
        gateway_log_id: bytes | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, gateway_log_id
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = []
                for header in message.get("headers", ()):
                    name = header[0]
                    if name == b"cf-ray":  # a provider's own (OpenAI answers through Cloudflare): ours replaces it
                        continue
                    if name == b"cf-aig-log-id":
                        gateway_log_id = header[1]
                    headers.append(header)
                headers.append((b"cf-ray", ray))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                if self.lines.enabled():
                    self._write(scope, request_id, status, sent, time.perf_counter() - started, gateway_log_id)
            finally:
                REQUEST_ID.reset(token)

    def _write(self, scope: Scope, request_id: str, status: int, sent: int, seconds: float,
               gateway_log_id: bytes | None) -> None:
        path = scope["path"]
        query = scope.get("query_string")
        if query:
            path = redact(f"{path}?{query.decode('latin-1')}")
        client = scope.get("client")
        route = scope.get("route")  # set by the router on this same scope dict
        fields = {
            "request_id": request_id, "method": scope["method"], "path": path, "status": status,
            "duration_ms": round(seconds * 1000, 2), "bytes": sent,
            "client": f"{client[0]}:{client[1]}" if client else "-",
            "product": product_of(scope["path"]), "route": getattr(route, "path", None),
        }
        if gateway_log_id is not None:  # joins this line to the gateway's log row (cf-aig-log-id)
            fields["gateway_log_id"] = gateway_log_id.decode("latin-1")
        self.lines.write((time.time(), request_id, fields))
