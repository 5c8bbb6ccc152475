"""Cloudflare's unified REST API where the gateway answers: third-party ids (`openai/gpt-4o-mini`,
`anthropic/claude-...`, and Cloudflare's `google/...`, `xai/...`) on `/ai/run`, `/ai/v1/embeddings`,
`/ai/v1/responses` and `/ai/v1/messages`, and `@cf/` ids on the last two when `cf-aig-gateway-id` names a gateway.

A provider that speaks the caller's format natively gets the request as it is (Anthropic for Messages, OpenAI for
Responses); any other is asked in OpenAI chat through the /compat translation, and the answer (streams included)
comes back in the caller's format (formats/). Usage and cost are read from the provider's own answer, as for every
gateway call. (`/ai/v1/chat/completions` is /compat itself: routes.compat_chat.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from kumo.errors import InvalidRequest, KumoError
from kumo.gateway.compat import split_model, translate, translate_sse
from kumo.gateway.formats import errors, messages, responses
from kumo.gateway.formats.chunks import StreamTranslator
from kumo.gateway.formats.sse import json_events, named
from kumo.gateway.options import parse_options
from kumo.gateway.pipeline import Call, Pipeline
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.providers.chat import bearer_token
from kumo.gateway.proxy_routes import GatewayRequest

# Cloudflare's model naming on the REST API -> kumo's provider slugs (the /compat prefixes work too)
ALIASES = {"google": "google-ai-studio", "xai": "grok"}
WORKERS_AI = "workers-ai"
NATIVE = {"messages": ("anthropic", "v1/messages"), "responses": ("openai", "responses")}


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest('`model` must be "{provider}/{model}" (e.g. "openai/gpt-4o-mini") or "@cf/..."')
    return model


def provider_model(model: str) -> str:
    """The model id as /compat names it: `@cf/...` is Workers AI's, Cloudflare's aliases become slugs."""
    if model.startswith("@"):
        return f"{WORKERS_AI}/{model}"
    prefix, _, rest = model.partition("/")
    return f"{ALIASES[prefix]}/{rest}" if prefix in ALIASES else model


def is_third_party(model: Any) -> bool:
    """A `model` like `openai/gpt-4o-mini`: not a Workers AI id (`@cf/...`, `@hf/...`, `@custom/...`)."""
    return isinstance(model, str) and "/" in model and not model.startswith("@")


async def answer(pipeline: Pipeline, r: GatewayRequest, api: str, body: Any) -> Response:
    """One call of `api` (messages | responses | embeddings | run) through the gateway, errors in the API's shape."""
    try:
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        gateway = await pipeline.admit(r.account, r.gateway_id, r.headers)
        options = parse_options(r.headers, gateway)
        base = {"account": r.account, "gateway_id": r.gateway_id, "gateway": gateway, "options": options}
        call = BUILDERS[api](r.headers, body, base)
        outcome = await pipeline.call(call)
        if not outcome.ok and outcome.error is not None:  # the gateway's own failure (502, 504): in the API's shape
            return ERROR_SHAPES[api](outcome.error)
        return outcome.response
    except KumoError as exc:
        return ERROR_SHAPES[api](exc)


# ---- one builder per API -------------------------------------------------------------------------------
def _messages_call(headers: dict[str, str], body: dict[str, Any], base: dict[str, Any]) -> Call:
    model = model_of(body)
    provider, name = split_model(provider_model(model))
    if provider.slug == NATIVE["messages"][0]:
        extra = {"anthropic-version": headers.get("anthropic-version", "2023-06-01")}
        key = bearer_token(headers)  # a caller's own key sent the OpenAI way goes in Anthropic's header
        if key and "x-api-key" not in headers:
            extra["x-api-key"] = key
        return _native(provider.slug, NATIVE["messages"][1], headers, {**body, "model": name}, extra, base)
    chat = messages.to_chat(body)
    writer = messages.MessagesStream(model)
    return _translated(headers, chat, base, lambda a: messages.from_chat(a, model), writer, "ai/v1/messages")


def _responses_call(headers: dict[str, str], body: dict[str, Any], base: dict[str, Any]) -> Call:
    model = model_of(body)
    provider, name = split_model(provider_model(model))
    if provider.slug == NATIVE["responses"][0]:
        return _native(provider.slug, NATIVE["responses"][1], headers, {**body, "model": name}, {}, base)
    chat = responses.to_chat(body)
    writer = responses.ResponsesStream(model, body)
    return _translated(headers, chat, base, lambda a: responses.from_chat(a, model, body), writer,
                       "ai/v1/responses")


def _embeddings_call(headers: dict[str, str], body: dict[str, Any], base: dict[str, Any]) -> Call:
    provider, name = split_model(provider_model(model_of(body)))
    return _native(provider.slug, _embeddings_path(provider.slug), headers, {**body, "model": name}, {}, base)


def _run_call(headers: dict[str, str], body: dict[str, Any], base: dict[str, Any]) -> Call:
    """`/ai/run` with a third-party model: chat input (`messages` or `prompt`) or embeddings input (`text`), the
    answer in Cloudflare's envelope (a chat completion; embeddings as Workers AI's `{shape, data}`)."""
    inputs = body.get("input")
    if not isinstance(inputs, dict):
        raise InvalidRequest("`input` must be an object: {messages: [...]} or {prompt}, or {text} for embeddings")
    model = model_of(body)
    if "text" in inputs and not ({"messages", "prompt"} & set(inputs)):
        provider, name = split_model(provider_model(model))
        text = inputs["text"]
        if set(inputs) - {"text"}:
            raise InvalidRequest(f"`{sorted(set(inputs) - {'text'})[0]}` is not an embeddings input for {model}")
        call = _native(provider.slug, _embeddings_path(provider.slug), headers,
                       {"model": name, "input": text}, {}, base)
        call.response_json = _embeddings_envelope
        return call
    chat = {k: v for k, v in inputs.items() if k != "prompt"}
    if "prompt" in inputs:
        if "messages" in inputs or not isinstance(inputs["prompt"], str):
            raise InvalidRequest("send either `messages` or a `prompt` string")
        chat["messages"] = [{"role": "user", "content": inputs["prompt"]}]
    chat["model"] = provider_model(model)
    t = translate(chat, headers)
    call = _call_for(t, headers, base, "ai/run")
    to_chat = t.response
    call.response_json = lambda a: _envelope(to_chat(a) if to_chat else a)
    if t.stream and t.stream_events is not None:
        events = t.stream_events
        call.response_stream = lambda chunks: translate_sse(chunks, events)
    return call


BUILDERS: dict[str, Callable[[dict[str, str], dict[str, Any], dict[str, Any]], Call]] = {
    "messages": _messages_call, "responses": _responses_call, "embeddings": _embeddings_call, "run": _run_call}


# ---- calls -------------------------------------------------------------------------------------------
def _native(slug: str, path: str, headers: dict[str, str], body: dict[str, Any], extra: dict[str, str],
            base: dict[str, Any]) -> Call:
    """The caller's request as the provider takes it: only the model id changes."""
    return Call(base["account"], base["gateway_id"], base["gateway"], PROVIDERS[slug], path, "", "POST", headers,
                orjson.dumps(body), base["options"], extra_headers=extra, wait_for_first_byte=True)


def _call_for(t, headers: dict[str, str], base: dict[str, Any], log_path: str) -> Call:
    path, _, query = t.path.partition("?")
    return Call(base["account"], base["gateway_id"], base["gateway"], t.provider, path, query, "POST", headers,
                orjson.dumps(t.body), base["options"], log_path=log_path, extra_headers=t.headers,
                wait_for_first_byte=True)


def _translated(headers: dict[str, str], chat: dict[str, Any], base: dict[str, Any],
                from_chat: Callable[[dict[str, Any]], dict[str, Any]], writer: StreamTranslator, log_path: str) -> Call:
    """A chat request through /compat's translation for the provider, the answer turned into the caller's API."""
    chat["model"] = provider_model(model_of(chat))
    t = translate(chat, headers)
    call = _call_for(t, headers, base, log_path)
    to_chat = t.response
    call.response_json = lambda a: from_chat(to_chat(a) if to_chat else a)
    if t.stream:
        call.response_stream = lambda chunks: _reframed(chunks, t.stream_events, writer)
    return call


async def _reframed(upstream: AsyncIterator[bytes], to_chunks: Callable[[dict], list[dict]] | None,
                    writer: StreamTranslator) -> AsyncIterator[bytes]:
    """Provider SSE -> OpenAI chat chunks (the provider's /compat translation, if it has one) -> the caller's
    stream events."""
    async for event in json_events(upstream):
        for chunk in (to_chunks(event) if to_chunks is not None else [event]):
            for kind, payload in writer.feed(chunk):
                yield named(kind, payload)
    for kind, payload in writer.close():
        yield named(kind, payload)


def _embeddings_path(slug: str) -> str:
    provider = PROVIDERS[slug]
    if provider.chat is not None or not provider.chat_path or "chat/completions" not in provider.chat_path:
        raise InvalidRequest(f"{slug} embeddings are not in OpenAI's format; call them through the gateway's "
                             f"provider endpoint (/v1/{{account}}/{{gateway}}/{slug}/...)")
    return provider.chat_path.replace("chat/completions", "embeddings")


def _envelope(result: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": []}


def _embeddings_envelope(answer: dict[str, Any]) -> dict[str, Any]:
    vectors = [item["embedding"] for item in sorted(answer["data"], key=lambda d: d.get("index", 0))]
    return _envelope({"shape": [len(vectors), len(vectors[0]) if vectors else 0], "data": vectors})


# ---- errors in each API's own shape ------------------------------------------------------------------------
def anthropic_error(exc: KumoError) -> JSONResponse:
    return JSONResponse(errors.anthropic_error(exc.status, exc.message), status_code=exc.status)


def openai_error(exc: KumoError) -> JSONResponse:
    return JSONResponse(errors.openai_error(exc.status, exc.message, exc.code), status_code=exc.status)


def envelope_error(exc: KumoError) -> JSONResponse:
    item = {"code": exc.code, "message": exc.message}
    return JSONResponse({"success": False, "result": None, "errors": [item], "messages": []}, status_code=exc.status)


ERROR_SHAPES: dict[str, Callable[[KumoError], JSONResponse]] = {
    "messages": anthropic_error, "responses": openai_error, "embeddings": openai_error, "run": envelope_error}
