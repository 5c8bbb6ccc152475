"""The AI binding's calls (workerd's `ai-api` and `aig-api` modules) mapped onto kumo's REST routes.

    POST /run?version=3                       {inputs, options}      -> /ai/run/{cf-consn-model-id}
    POST /ai-gateway/run?version=3            {inputs, options.gateway} -> the gateway, provider workers-ai
    GET  /ai-api/models/search?...                                   -> /ai/models/search
    GET  /ai-gateway/gateways/{id}/url/{provider}                    -> {result: {url}}
    GET|PATCH /ai-gateway/gateways/{id}/logs/{log}                   -> the gateway's log routes
    POST /ai-gateway/universal/run/{id}                              -> the universal endpoint

Answers are what the binding parses: a run's *bare* result, as JSON only with content-type exactly
`application/json` (an event stream or image passes through), errors non-2xx as `{internalCode, description,
name}`; the gateway helpers read Cloudflare's envelope, which kumo's routes already answer."""

from __future__ import annotations

import json

import orjson
import re
from typing import Any
from urllib.parse import quote, urlencode

from fastapi.responses import JSONResponse
from starlette.responses import Response

from kumo.ai.errors import BAD_INPUT
from kumo.gateway.providers import PROVIDERS
from kumo.workers.context import CallContext
from kumo.workers.inner import InnerAnswer, InnerRequest, Reshape
from kumo.workers.protocol import BindingCall

ACCOUNTS = "/client/v4/accounts/"
NOT_COVERED = 7000  # kumo's: a binding feature kumo does not serve (named in the message)
# options.gateway -> the cf-aig-* header the gateway reads (workerd's aig-api does the same for gateway().run)
GATEWAY_HEADERS = {"cacheKey": "cf-aig-cache-key", "cacheTtl": "cf-aig-cache-ttl", "skipCache": "cf-aig-skip-cache",
                   "metadata": "cf-aig-metadata", "collectLog": "cf-aig-collect-log", "eventId": "cf-aig-event-id",
                   "requestTimeoutMs": "cf-aig-request-timeout"}
RETRY_HEADERS = {"maxAttempts": "cf-aig-max-attempts", "retryDelayMs": "cf-aig-retry-delay",
                 "backoff": "cf-aig-backoff"}
# options the binding sends in the body that change nothing on the server: read by the binding itself
CLIENT_SIDE_OPTIONS = {"returnRawResponse"}
_GATEWAY_PATH = re.compile(r"^/ai-gateway/gateways/([^/]+)/(url|logs)/([^/]+)$")
_MODEL_ID = re.compile(r"^[@A-Za-z0-9][A-Za-z0-9@._:/+-]{0,255}$")
_UNIVERSAL_PATH = re.compile(r"^/ai-gateway/universal/run/([^/]+)$")


def ai_error(status: int, code: int, message: str, name: str = "AiError") -> JSONResponse:
    body = {"internalCode": code, "description": message, "name": name, "httpCode": status,
            "errors": [{"code": code, "message": message}]}
    return JSONResponse(body, status_code=status)


def _envelope_errors(answer: InnerAnswer) -> JSONResponse:
    """kumo's error answer in the binding's shape; an answer already in it (the gateway's) is kept."""
    try:
        body = json.loads(answer.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict) and "internalCode" in body:
        if not body.get("description"):
            body["description"] = body.get("message") or (body.get("errors") or [{}])[0].get("message")
        return JSONResponse(body, status_code=answer.status, headers=answer.passed_headers())
    first = (body.get("errors") or [{}])[0] if isinstance(body, dict) else {}
    if isinstance(first, dict) and first.get("message"):
        code, message = first.get("code", 10000), first["message"]
    else:
        code, message = 10000 + answer.status, answer.body.decode("utf-8", "replace")[:1000] or f"HTTP {answer.status}"
    response = ai_error(answer.status, code, message)
    response.headers.update(answer.passed_headers())
    return response


def run_answer(answer: InnerAnswer) -> Response:
    """A run's answer as the binding reads it: the bare `result` of the envelope."""
    if not 200 <= answer.status < 300:
        return _envelope_errors(answer)
    headers = answer.passed_headers()
    content_type = answer.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and "result" in body and "success" in body:
            # exactly `application/json` (no charset): the binding parses JSON only then
            return Response(orjson.dumps(body["result"]), status_code=200,
                            headers={**headers, "content-type": "application/json"})
    return Response(answer.body, status_code=answer.status, headers={**headers, "content-type": content_type})


def passthrough(answer: InnerAnswer) -> Response:
    return Response(answer.body, status_code=answer.status,
                    headers={**answer.passed_headers(), "content-type": answer.headers.get("content-type", "")})


def _gateway_headers(gateway: Any) -> dict[str, str] | Response:
    if not isinstance(gateway, dict) or not isinstance(gateway.get("id"), str) or not gateway["id"]:
        return ai_error(400, BAD_INPUT, "options.gateway must be an object with a gateway `id`")
    headers: dict[str, str] = {}
    for key, value in gateway.items():
        if key == "id" or value is None:
            continue
        if key == "retries":
            if not isinstance(value, dict):
                return ai_error(400, BAD_INPUT, "options.gateway.retries must be an object")
            for retry_key, retry_value in value.items():
                if retry_key not in RETRY_HEADERS:
                    return ai_error(400, BAD_INPUT, f"unknown option gateway.retries.{retry_key}; kumo knows "
                                                    f"{', '.join(RETRY_HEADERS)}")
                headers[RETRY_HEADERS[retry_key]] = str(retry_value)
            continue
        header = GATEWAY_HEADERS.get(key)
        if header is None:
            return ai_error(400, BAD_INPUT, f"unknown option gateway.{key}; kumo knows id, retries, "
                                            f"{', '.join(GATEWAY_HEADERS)}")
        if isinstance(value, bool):
            headers[header] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            headers[header] = json.dumps(value)
        else:
            headers[header] = str(value)
    return headers


def _run(call: BindingCall, ctx: CallContext, through_gateway: bool) -> tuple[InnerRequest, Reshape] | Response:
    model = call.headers.get("cf-consn-model-id", "")
    if not _MODEL_ID.match(model) or ".." in model:
        return ai_error(400, BAD_INPUT, f"{model!r} is not a model name (cf-consn-model-id), e.g. @cf/baai/bge-small-en-v1.5")
    query = dict(call.query)
    if query.get("version") != "3":
        return ai_error(400, BAD_INPUT, f"kumo speaks version 3 of the AI binding protocol, not {query.get('version')!r}")
    content_type = call.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        return _stream_input_run(call, ctx, model, query, content_type)
    body = call.json_body()
    if not isinstance(body, dict) or "inputs" not in body:
        return ai_error(400, BAD_INPUT, "the binding's body must be {inputs, options}")
    options = body.get("options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        return ai_error(400, BAD_INPUT, "options must be an object")
    unknown = set(options) - {"gateway", "queueRequest", "websocket"} - CLIENT_SIDE_OPTIONS
    if unknown:
        return ai_error(400, BAD_INPUT, f"unknown option(s) {', '.join(sorted(unknown))}; kumo's AI binding applies "
                                        "gateway and queueRequest")
    inputs = json.dumps(body["inputs"]).encode()
    extra = {k: v for k, v in call.headers.items() if k.startswith("cf-aig-")}  # from the Worker's extraHeaders
    if through_gateway:
        if options.get("queueRequest"):
            return ai_error(400, BAD_INPUT, "queueRequest through a gateway is not served by kumo: drop one of them")
        headers = _gateway_headers(options.get("gateway"))
        if isinstance(headers, Response):
            return headers
        gateway_id = options["gateway"]["id"]
        sent = {"content-type": "application/json", **extra, **headers}
        if ctx.workers_ai_in_process:  # the gateway calls this kumo's AI: tell it the caller may
            sent.update(ctx.auth())
            sent.setdefault("cf-aig-authorization", f"Bearer {ctx.credential}")
        elif "authorization" in call.headers:  # another upstream: only what the Worker itself passed
            sent["authorization"] = call.headers["authorization"]
        path = f"/v1/{quote(ctx.account, safe='')}/{quote(gateway_id, safe='')}/workers-ai/{model}"
        return InnerRequest("POST", path, sent, inputs, stream_through=True), run_answer
    if options.get("gateway"):
        return ai_error(400, BAD_INPUT, "options.gateway arrived on /run: the binding sends it to /ai-gateway/run")
    path = f"{ACCOUNTS}{quote(ctx.account, safe='')}/ai/run/{model}"
    q = "queueRequest=true" if options.get("queueRequest") else ""
    return InnerRequest("POST", path, {"content-type": "application/json", **ctx.auth()}, inputs, q,
                        stream_through=True), run_answer


def _stream_input_run(call: BindingCall, ctx: CallContext, model: str, query: dict[str, str],
                      content_type: str) -> tuple[InnerRequest, Reshape] | Response:
    """A ReadableStream input (audio, image): the bytes are the body, other inputs a JSON query parameter."""
    try:
        others = json.loads(query.get("userInputs") or "{}")
    except json.JSONDecodeError:
        others = None
    if others:
        return ai_error(400, BAD_INPUT, "kumo takes a ReadableStream input only on its own: pass the other inputs "
                                        "without a stream (e.g. the bytes as an array)")
    options = set(query) - {"version", "userInputs"}
    if options:
        return ai_error(400, BAD_INPUT, f"option(s) {', '.join(sorted(options))} with a ReadableStream input are not "
                                        "served by kumo")
    path = f"{ACCOUNTS}{quote(ctx.account, safe='')}/ai/run/{model}"
    return InnerRequest("POST", path, {"content-type": content_type or "application/octet-stream", **ctx.auth()},
                        call.body), run_answer


def _gateway_url(ctx: CallContext, gateway_id: str, provider: str) -> tuple[InnerRequest, Reshape] | Response:
    if provider not in PROVIDERS and provider not in ("universal", "compat"):
        return JSONResponse({"success": False, "errors": [{"code": 400, "message": f"unknown provider {provider!r}"}]},
                            status_code=400)
    base = f"{ctx.public_base}/v1/{quote(ctx.account, safe='')}/{quote(gateway_id, safe='')}"
    url = base if provider == "universal" else f"{base}/{provider}"

    def with_url(answer: InnerAnswer) -> Response:  # the gateway must exist: its GET answers the 404
        if answer.status != 200:
            return passthrough(answer)
        return JSONResponse({"success": True, "errors": [], "messages": [], "result": {"url": url}})

    path = f"{ACCOUNTS}{quote(ctx.account, safe='')}/ai-gateway/gateways/{quote(gateway_id, safe='')}"
    return InnerRequest("GET", path, ctx.auth()), with_url


def map_ai_call(call: BindingCall, ctx: CallContext) -> tuple[InnerRequest, Reshape] | Response:
    method, path = call.method, call.path
    if call.headers.get("upgrade", "").lower() == "websocket" or any(k == "websocket" for k, _ in call.query):
        return ai_error(400, NOT_COVERED, "AI websocket sessions (options.websocket) are not served by kumo")
    if method == "POST" and path == "/run":
        return _run(call, ctx, through_gateway=False)
    if method == "POST" and path == "/ai-gateway/run":
        return _run(call, ctx, through_gateway=True)
    if method == "GET" and path == "/ai-api/models/search":
        query = urlencode(call.query)
        return InnerRequest("GET", f"{ACCOUNTS}{quote(ctx.account, safe='')}/ai/models/search", ctx.auth(),
                            query=query), passthrough
    match = _GATEWAY_PATH.match(path)
    if match:
        gateway_id, kind, item = match.groups()
        if kind == "url" and method == "GET":
            return _gateway_url(ctx, gateway_id, item)
        if kind == "logs" and method in ("GET", "PATCH"):
            logs = (f"{ACCOUNTS}{quote(ctx.account, safe='')}/ai-gateway/gateways/{quote(gateway_id, safe='')}"
                    f"/logs/{quote(item, safe='')}")
            headers = {"content-type": "application/json", **ctx.auth()}
            return InnerRequest(method, logs, headers, call.body if method == "PATCH" else b""), passthrough
    match = _UNIVERSAL_PATH.match(path)
    if match and method == "POST":
        # the Worker's own headers only: each step may go to another provider, so kumo's credential stays home
        headers = {k: v for k, v in call.headers.items() if k not in ("host", "content-length")}
        path = f"/v1/{quote(ctx.account, safe='')}/{quote(match.group(1), safe='')}"
        return InnerRequest("POST", path, headers, call.body, stream_through=True), passthrough
    if path.startswith("/autorag/"):
        return ai_error(400, NOT_COVERED, "env.AI.autorag() is not served by kumo's binding bridge yet: call kumo's "
                                          "AI Search REST API (/client/v4/accounts/{account}/autorag/rags/...)")
    return ai_error(404, NOT_COVERED, f"kumo does not serve the AI binding call {method} {path}")
