"""The binding endpoint, served straight from ASGI in front of the app: miniflare's wrapped binding requests
are decoded (protocol.py), mapped onto kumo's REST routes (ai_calls.py, vectorize_calls.py) and answered in
the binding's own shapes, in process (inner.py).

Two ways in, one session (sessions.py) each:
- `POST|GET /workers/bindings?token=<session>`: miniflare's `remoteProxyConnectionString`, plain HTTP (what
  `kumo workers dev` sets up; the access log redacts `token=`);
- any path, with `cf-workers-preview-token: <session>`: `wrangler dev`'s remote proxy, which sends binding
  traffic to `https://<worker>.kumo.workers.dev` with the preview token the preview API gave it."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.platform import Platform
from kumo.workers.ai_calls import map_ai_call
from kumo.workers.context import CallContext
from kumo.workers.inner import serve_inner
from kumo.workers.protocol import decode, is_binding_request, protocol_error
from kumo.workers.sessions import SessionSigner
from kumo.workers.vectorize_calls import map_vectorize_call

ENDPOINT = "/workers/bindings"
PREVIEW_TOKEN = b"cf-workers-preview-token"
DEV_CREDENTIAL = "kumo-binding"  # dev mode accepts any credential; with tokens, a real one is used
UNAUTHORIZED = 10000
BAD_WRAPPING = 10001
TOO_LARGE = 10013
JS_RPC_REFUSAL = ("JS-RPC bindings (e.g. env.AI.aiSearch(), env.AI.gateway(id, {beta: true})) are not served by "
                  "kumo: only the fetch-based AI and Vectorize binding protocol is")


class BindingFront:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform
        self.signer = SessionSigner(platform.settings.api_tokens)
        self.workers_ai_in_process = "workers-ai" not in platform.settings.upstream_overrides(["workers-ai"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == ENDPOINT and scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": JS_RPC_REFUSAL[:120]})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = None
        if path == ENDPOINT:
            token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        elif path == "/":  # wrangler's remote proxy keeps the path of the connection string: `/`
            token = next((v.decode("latin-1") for k, v in scope["headers"] if k == PREVIEW_TOKEN), None)
            if token is None:
                await self.app(scope, receive, send)
                return
        else:
            await self.app(scope, receive, send)
            return
        await self._serve(scope, receive, send, token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, token: str | None) -> None:
        body = await self._body(receive)
        if body is None:
            await protocol_error(413, TOO_LARGE, "the binding request is larger than kumo's body limit")(scope, receive, send)
            return
        session = self.signer.open(token)
        if session is None:
            await protocol_error(401, UNAUTHORIZED, "no valid binding session: start the Worker with `kumo workers dev`,"
                                 " or `wrangler dev` with CLOUDFLARE_API_BASE_URL pointing at this kumo")(
                scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        call = decode(scope["method"], headers, body) if is_binding_request(headers) else None
        if call is None:
            await protocol_error(400, BAD_WRAPPING, "not a binding request: MF-URL and MF-Binding are required")(
                scope, receive, send)
            return
        credential = self._credential(session.account)
        if credential is None:
            await protocol_error(403, UNAUTHORIZED, "no API token of this kumo may act on the session's account")(
                scope, receive, send)
            return
        ctx = CallContext(session, credential, self._public_base(headers), self.workers_ai_in_process)
        if call.host == "workers-binding.ai":
            mapped = map_ai_call(call, ctx)
        elif call.host == "vector-search":
            mapped = map_vectorize_call(call, ctx)
        else:
            mapped = protocol_error(400, BAD_WRAPPING, f"binding {call.binding!r} ({call.host}) is not an AI or "
                                                       "Vectorize binding: kumo serves only those")
        if isinstance(mapped, tuple):
            await serve_inner(self.app, scope, receive, send, *mapped)
        else:
            await mapped(scope, receive, send)

    async def _body(self, receive: Receive) -> bytes | None:
        limit = self.platform.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _credential(self, account: str) -> str | None:
        grants = self.platform.settings.api_tokens
        if not grants:
            return DEV_CREDENTIAL
        return next((g.token for g in grants if g.allows(account)), None)

    def _public_base(self, headers: dict[str, str]) -> str:
        host = headers.get("host", "")
        if host and not host.split(":")[0].endswith(".workers.dev"):
            return f"http://{host}"
        settings = self.platform.settings
        return f"http://{settings.host}:{settings.port}"
