"""The gateway's data plane (`/v1/...`) served straight from ASGI, in front of FastAPI's router.

It sits inside the shared middleware (trailing slash, body size limit, metrics, the error envelope for anything
unexpected), so those behave as for every other path; what it skips is FastAPI's routing over every product's
routes, dependency solving and request objects, ~40 % of a gateway request's CPU. A `/v1/` path it does not
know goes on to FastAPI, which answers the usual 404."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.api.asgi_body import read_body, replayed
from kumo.api.auth import authorize
from kumo.api.body import JsonRefused, loads
from kumo.api.envelope import from_error
from kumo.errors import KumoError
from kumo.gateway.errors import GatewayError, gateway_error_response
from kumo.gateway.proxy_routes import GatewayRequest, compat_chat, provider_passthrough, universal
from kumo.gateway.service import DEFAULT_GATEWAY

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
WORKERS_AI_RUN = Template("/client/v4/accounts/{account_id}/ai/run/{model:path}")
WORKERS_AI_V1 = Template("/client/v4/accounts/{account_id}/ai/v1/{path:path}")

ACCOUNTS = "/client/v4/accounts/"
GATEWAY_HEADER = b"cf-aig-gateway-id"


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
                                     {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
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

        - `cf-aig-gateway-id` (what langchain-cloudflare's `ai_gateway=` sends) on `/ai/run/{model}` and
          `/ai/v1/{chat/completions,embeddings}`: the call goes through that gateway — logged, cached, rate
          limited, charged — to the `workers-ai` provider, which calls the same route in process without it;
        - a third-party model id (`openai/gpt-4o-mini`, `anthropic/claude-...`) on `/ai/v1/chat/completions`: the
          gateway's /compat pipeline, through `cf-aig-gateway-id` or the account's `default` gateway."""
        named = any(k.lower() == GATEWAY_HEADER for k, _ in scope["headers"])
        parts = path[len(ACCOUNTS):].split("/", 3)
        if named and len(parts) == 3 and parts[0] and parts[1:] == ["ai", "run"] and not scope["query_string"]:
            return await self._unified_run(parts[0], scope, receive, send)
        if len(parts) != 4 or not parts[0] or parts[1] != "ai" or not parts[3] or scope["query_string"]:
            return receive  # (`?queueRequest=true`, the batch API, is not a gateway call)
        chat = parts[2] == "v1" and parts[3] == "chat/completions"
        if parts[2] == "run" and named:
            template, provider_path = WORKERS_AI_RUN, "run/" + parts[3]
        elif parts[2] == "v1" and parts[3] in ("chat/completions", "embeddings") and (named or chat):
            template, provider_path = WORKERS_AI_V1, "v1/" + parts[3]
        else:
            return receive
        body = await read_body(receive)
        third_party = chat and _third_party(body)
        if not (named or third_party):
            return replayed(body, receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scope["route"] = template
        account = parts[0]
        gateway_id = headers.get(GATEWAY_HEADER.decode(), "").strip() or DEFAULT_GATEWAY
        try:
            # the caller proves access to the account here, as the route would: nothing is logged, cached or
            # created for a caller who may not use it; that proof also admits it to an authenticated gateway
            authorize(self.platform.settings.api_tokens, headers, account)
        except KumoError as exc:
            await from_error(exc)(scope, receive, send)
            return None
        headers.setdefault("cf-aig-authorization", headers.get("authorization", ""))
        pipeline = self.platform.pipeline()
        if third_party:
            # the API token is kumo's, never a provider's: the provider key is the gateway's stored one (BYOK)
            for name in ("authorization", "x-auth-key", "x-auth-email"):
                headers.pop(name, None)
            response = await compat_chat(pipeline, GatewayRequest(account, gateway_id, "POST", "", headers, body))
        else:
            request = GatewayRequest(account, gateway_id, "POST", "", headers, body)
            response = await provider_passthrough(pipeline, request, "workers-ai", provider_path)
        await response(scope, receive, send)
        return None


    async def _unified_run(self, account: str, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """`POST /ai/run` `{"model": "@cf/...", "input": {...}}` with `cf-aig-gateway-id`: as `/ai/run/{model}`
        with the input as its body. Any other body goes on to the route, which says what is wrong with it."""
        body = await read_body(receive)
        try:
            envelope = loads(body)
        except JsonRefused:
            envelope = None
        model = envelope.get("model") if isinstance(envelope, dict) else None
        if not (isinstance(model, str) and model.startswith("@") and "input" in envelope):
            return replayed(body, receive)
        scope["route"] = WORKERS_AI_RUN
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            authorize(self.platform.settings.api_tokens, headers, account)
        except KumoError as exc:
            await from_error(exc)(scope, receive, send)
            return None
        headers.setdefault("cf-aig-authorization", headers.get("authorization", ""))
        headers["content-type"] = "application/json"
        request = GatewayRequest(account, headers[GATEWAY_HEADER.decode()].strip() or DEFAULT_GATEWAY, "POST", "",
                                 headers, json.dumps(envelope["input"]).encode())
        response = await provider_passthrough(self.platform.pipeline(), request, "workers-ai", "run/" + model)
        await response(scope, receive, send)
        return None


def _third_party(body: bytes) -> bool:
    """A `model` like `openai/gpt-4o-mini`: not a Workers AI id (`@cf/...`, `@hf/...`)."""
    try:
        model = loads(body).get("model")
    except (JsonRefused, AttributeError):
        return False
    return isinstance(model, str) and "/" in model and not model.startswith("@")
