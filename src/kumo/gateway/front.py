"""The gateway's data plane (`/v1/...`) served straight from ASGI, in front of FastAPI's router.

It sits inside the shared middleware (trailing slash, body size limit, metrics, the error envelope for anything
unexpected), so those behave as for every other path; what it skips is FastAPI's routing over every product's
routes, dependency solving and request objects, ~40 % of a gateway request's CPU. A `/v1/` path it does not
know goes on to FastAPI, which answers the usual 404."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.api.asgi_body import read_body, replayed
from kumo.api.auth import authorize, presented_secret
from kumo.api.body import JsonRefused, loads
from kumo.api.envelope import from_error
from kumo.api.fronts import Template, last_headers
from kumo.errors import KumoError
from kumo.gateway.errors import GatewayError, gateway_error_response
from kumo.gateway.proxy_routes import GatewayRequest, compat_chat, provider_passthrough, universal
from kumo.gateway import unified
from kumo.gateway.service import DEFAULT_GATEWAY
from kumo.gateway.unified import ERROR_SHAPES, is_third_party

if TYPE_CHECKING:
    from kumo.platform import Platform

PREFIX = "/v1/"
PASSTHROUGH_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


UNIVERSAL = Template("/v1/{account_id}/{gateway_id}")
COMPAT = Template("/v1/{account_id}/{gateway_id}/compat/chat/completions")
PASSTHROUGH = Template("/v1/{account_id}/{gateway_id}/{provider}/{path:path}")
WORKERS_AI_RUN = Template("/client/v4/accounts/{account_id}/ai/run/{model:path}")
WORKERS_AI_V1 = Template("/client/v4/accounts/{account_id}/ai/v1/{path:path}")

ACCOUNTS = "/client/v4/accounts/"
GATEWAY_HEADER = b"cf-aig-gateway-id"
# (`v1/messages`: the Anthropic SDK adds `/v1/messages` to its base URL, which Cloudflare's docs set to `.../ai/v1`)
V1_APIS = {"chat/completions": "chat", "embeddings": "embeddings", "responses": "responses", "messages": "messages",
           "v1/messages": "messages"}


class GatewayFront:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            if path.startswith(ACCOUNTS) and scope["method"] == "POST":
                onward = await self._ai_rest(path, scope, receive, send)
                if onward is None:
                    return
                receive = onward
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
        response: Response
        if not allowed:
            response = gateway_error_response(GatewayError(405, 7001, f"Method {method} not allowed for this path"))
        else:
            request = GatewayRequest(parts[0], parts[1], method, scope["query_string"].decode(),
                                     last_headers(scope),
                                     await read_body(receive))
            pipeline = self.platform.pipeline()
            if template is UNIVERSAL:
                response = await universal(pipeline, request)
            elif template is COMPAT:
                response = await compat_chat(pipeline, request)
            else:
                response = await provider_passthrough(pipeline, request, parts[2], parts[3])
        await response(scope, receive, send)


    async def _ai_rest(self, path: str, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Workers AI's REST API where an AI Gateway takes part (Cloudflare's unified REST API): None when answered
        here, else the `receive` FastAPI reads the request from (the body replayed if it was read).

        - a third-party model id (`openai/gpt-4o-mini`, `anthropic/claude-...`) on `/ai/run`, `/ai/run/{model}` and
          `/ai/v1/{chat/completions,embeddings,responses,messages}`: through `cf-aig-gateway-id`'s gateway or the
          account's `default` one, to that provider (unified.py; chat is /compat itself);
        - `cf-aig-gateway-id` (what langchain-cloudflare's `ai_gateway=` sends) with a Workers AI model: the call
          goes through that gateway — logged, cached, rate limited, charged — to the `workers-ai` provider, which
          calls the same route in process without it.
        Anything else (a Workers AI model without the header, the batch API's `?queueRequest=true`) is the route's."""
        parts = path[len(ACCOUNTS):].split("/", 2)
        if len(parts) != 3 or not parts[0] or parts[1] != "ai" or scope["query_string"]:
            return receive
        account, rest = parts[0], parts[2]
        model: str | None = None
        if rest == "run":
            api = "envelope"
        elif rest.startswith("run/") and len(rest) > 4:
            api, model = "run", rest[4:]
        elif rest.startswith("v1/") and rest[3:] in V1_APIS:
            api = V1_APIS[rest[3:]]
        else:
            return receive
        named = any(k.lower() == GATEWAY_HEADER for k, _ in scope["headers"])
        if api == "run" and not (named or is_third_party(model)):
            return receive  # the common Workers AI call: its body is not read here
        body = await read_body(receive)
        parsed = _json(body)
        if model is None:
            model = parsed.get("model") if isinstance(parsed, dict) else None
        third = is_third_party(model)
        if api == "envelope" and not third:
            if named and isinstance(model, str) and model.startswith("@") and "input" in parsed:
                await self._unified_run(account, parsed, scope, receive, send)
                return None
            return replayed(body, receive)
        if not (third or named):
            if api == "messages":
                _anthropic_key_as_token(scope)
            return replayed(body, receive)
        scope["route"] = WORKERS_AI_RUN if api in ("run", "envelope") else WORKERS_AI_V1
        headers = last_headers(scope)
        try:
            # the caller proves access to the account here, as the route would: nothing is logged, cached or
            # created for a caller who may not use it; that proof also admits it to an authenticated gateway
            headers = self._caller(headers, account, api, third)
        except KumoError as exc:
            await (ERROR_SHAPES.get(api) or from_error)(exc)(scope, receive, send)
            return None
        pipeline = self.platform.pipeline()
        request = GatewayRequest(account, headers.get(GATEWAY_HEADER.decode(), "").strip() or DEFAULT_GATEWAY,
                                 "POST", "", headers, body)
        if api == "chat" and third:
            response = await compat_chat(pipeline, request)
        elif api in ("chat", "embeddings") and not third:
            response = await provider_passthrough(pipeline, request, "workers-ai", rest)
        elif api == "run" and not third:
            response = await provider_passthrough(pipeline, request, "workers-ai", rest)
        elif api in ("run", "envelope"):
            envelope = {"model": model, "input": parsed} if api == "run" else parsed
            response = await unified.answer(pipeline, request, "run", envelope)
        else:
            response = await unified.answer(pipeline, request, api, parsed)
        await response(scope, receive, send)
        return None

    def _caller(self, headers: dict[str, str], account: str, api: str, third: bool) -> dict[str, str]:
        """Check the caller's Cloudflare API token; the headers the gateway call goes on with.

        The token is `Authorization` (or the Anthropic SDK's `x-api-key`), as Cloudflare documents the unified API;
        for a third-party model it never reaches the provider, whose key is then the gateway's stored one (BYOK).
        A caller with its own provider key sends the token in `cf-aig-authorization` instead, as on the gateway's
        own endpoints, and its key in `Authorization` (or `x-api-key`): that key goes to the provider (unless the
        gateway holds a stored key, which an authenticated caller always spends) and, like every credential,
        is never logged."""
        token = headers.get("cf-aig-authorization")
        grants = self.platform.settings.api_tokens
        if third and token:
            authorize(grants, {"authorization": token}, account)
            for name in ("x-auth-key", "x-auth-email"):
                headers.pop(name, None)
            for name in ("authorization", "x-api-key"):  # the token sent twice is still no provider key
                if _secret(headers.get(name)) == _secret(token):
                    headers.pop(name)
            return headers
        proof = headers
        if "authorization" not in headers and headers.get("x-api-key"):
            proof = {**headers, "authorization": "Bearer " + headers["x-api-key"]}
        authorize(grants, proof, account)
        secret = presented_secret(proof)
        if third:
            for name in ("authorization", "x-api-key", "x-auth-key", "x-auth-email"):
                headers.pop(name, None)
        elif "authorization" not in headers and secret is not None and "x-auth-key" not in headers:
            headers["authorization"] = f"Bearer {secret}"  # the in-process Workers AI call authenticates as it
            headers.pop("x-api-key", None)
        headers.setdefault("cf-aig-authorization", f"Bearer {secret}")
        return headers

    async def _unified_run(self, account: str, envelope: dict, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /ai/run` `{"model": "@cf/...", "input": {...}}` with `cf-aig-gateway-id`: as `/ai/run/{model}`
        with the input as its body."""
        scope["route"] = WORKERS_AI_RUN
        headers = last_headers(scope)
        try:
            headers = self._caller(headers, account, "envelope", False)
        except KumoError as exc:
            await from_error(exc)(scope, receive, send)
            return None
        headers["content-type"] = "application/json"
        request = GatewayRequest(account, headers[GATEWAY_HEADER.decode()].strip() or DEFAULT_GATEWAY, "POST", "",
                                 headers, json.dumps(envelope["input"]).encode())
        model = envelope["model"]
        response = await provider_passthrough(self.platform.pipeline(), request, "workers-ai", "run/" + model)
        await response(scope, receive, send)
        return None


def _secret(value: str | None) -> str:
    value = (value or "").strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


def _json(body: bytes) -> Any:
    try:
        return loads(body)
    except JsonRefused:
        return None


def _anthropic_key_as_token(scope: Scope) -> None:
    """The Anthropic SDK sends its `api_key` (here the Cloudflare API token) as `x-api-key`: the routes read
    `Authorization`."""
    names = {k.lower() for k, _ in scope["headers"]}
    if b"authorization" not in names:
        key = next((v for k, v in scope["headers"] if k.lower() == b"x-api-key"), None)
        if key:
            scope["headers"] = [*scope["headers"], (b"authorization", b"Bearer " + key)]
