"""The gateway's data plane (`/v1/...`) served straight from ASGI, in front of FastAPI's router.

It sits inside the shared middleware (trailing slash, body size limit, metrics, the error envelope for anything
unexpected), so those behave as for every other path; what it skips is FastAPI's routing over every product's
routes, dependency solving and request objects, ~40 % of a gateway request's CPU. A `/v1/` path it does not
know goes on to FastAPI, which answers the usual 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.gateway.errors import GatewayError, gateway_error_response
from kumo.gateway.routes import GatewayRequest, compat_chat, provider_passthrough, universal

if TYPE_CHECKING:
    from kumo.platform import Platform

PREFIX = "/v1/"
PASSTHROUGH_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class Template(NamedTuple):
    """What the metrics label a request by (FastAPI's route objects have the same `path`)."""

    path: str


UNIVERSAL = Template("/v1/{account_id}/{gateway_id}")
COMPAT = Template("/v1/{account_id}/{gateway_id}/compat/chat/completions")
PASSTHROUGH = Template("/v1/{account_id}/{gateway_id}/{provider}/{path:path}")


class GatewayFront:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        # /v1/{account}/{gateway}[/{provider}/{path...}]; every named part non-empty, as FastAPI's `{name}` is
        parts = path[len(PREFIX):].split("/", 3)
        method = scope["method"]
        if len(parts) == 2 and all(parts):
            template, allowed = UNIVERSAL, method == "POST"
        elif len(parts) == 4 and all(parts[:3]):
            compat = parts[2] == "compat" and parts[3] == "chat/completions"
            if compat and method == "POST":
                template, allowed = COMPAT, True
            else:
                allowed = method in PASSTHROUGH_METHODS
                template = COMPAT if compat and not allowed else PASSTHROUGH
        else:
            await self.app(scope, receive, send)
            return
        scope["route"] = template
        if not allowed:
            response = gateway_error_response(GatewayError(405, 7001, f"Method {method} not allowed for this path"))
        else:
            request = GatewayRequest(parts[0], parts[1], method, scope["query_string"].decode(),
                                     {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                                     await _body(receive))
            pipeline = self.platform.gateway_pipeline
            if template is UNIVERSAL:
                response = await universal(pipeline, request)
            elif template is COMPAT:
                response = await compat_chat(pipeline, request)
            else:
                response = await provider_passthrough(pipeline, request, parts[2], parts[3])
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
