"""Workers AI over HTTP: `/ai/run/{model}` (JSON envelope, SSE or raw PNG), the model catalog, the
OpenAI-compatible `/ai/v1/*` (plain OpenAI JSON, no envelope) and the batch API (`?queueRequest=true`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from kumo.ai import answers, openai_compat
from kumo.ai.service import AiService
from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.pagination import page_params
from kumo.api.routing import account_router
from kumo.api.sse import NamedEvent, sse_response
from kumo.custom_models import CALLER_KEY_HEADER
from kumo.errors import InvalidRequest, KumoError
from kumo.gateway.formats import messages, responses
from kumo.gateway.formats.chunks import StreamTranslator
from kumo.gateway.formats.errors import anthropic_error, openai_error
from kumo.platform import platform_of

router = account_router("/ai")
GATEWAY_HEADER = "cf-aig-gateway-id"


def _ai(request: Request) -> AiService:
    return platform_of(request).ai


async def _input(request: Request) -> Any:
    """A JSON body, or the raw bytes of a binary input (audio, image) sent as the body."""
    return answers.decode_input(await request.body(), request.headers.get("content-type", ""))


@router.post("/run/{model:path}")
async def run_model(request: Request, account_id: str, model: str) -> Response:
    """Also served by ai/front.py, before FastAPI, for the JSON envelope's cases: this route keeps the batch API,
    streams and raw bodies (and anything the front passes on)."""
    body = await _input(request)
    if request.query_params.get("queueRequest", "").lower() == "true":
        if GATEWAY_HEADER in request.headers:
            raise InvalidRequest("`cf-aig-gateway-id` cannot be used with the batch API (`queueRequest=true`): a "
                                 "queued request runs later, outside any gateway call; send the requests one by one "
                                 "to go through the gateway", code=5006)
        batch = platform_of(request).batches
        if isinstance(body, dict) and "request_id" in body:
            return ok(batch.poll(account_id, body["request_id"]))
        return ok(batch.submit(account_id, model, body))
    return await _answer(model, body, request, account_id)


async def _answer(model: str, inputs: Any, request: Request, account: str) -> Response:
    platform = platform_of(request)
    caller = request.headers.get(CALLER_KEY_HEADER)
    answer = await answers.answer(platform.ai, platform.custom_models, account, model, inputs, caller)
    if answer.events is not None:
        return sse_response(answer.events, headers=answer.headers)
    if answer.body is not None:
        return Response(answer.body, media_type=answer.content_type, headers=answer.headers)
    response = ok(answer.result)
    response.headers.update(answer.headers)
    return response


@router.post("/run")
async def run_any_model(request: Request, account_id: str) -> Response:
    """The unified endpoint: `{"model": "@cf/...", "input": {...}}`."""
    body = await _input(request)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or "input" not in body:
        raise InvalidRequest('send {"model": "@cf/...", "input": {...model input...}}', code=5006)
    return await _answer(body["model"], body["input"], request, account_id)


@router.get("/models/search")
async def search_models(request: Request, account_id: str) -> JSONResponse:
    q = request.query_params
    page, per_page = page_params(q, per_page_default=50, per_page_max=1000)
    ai = _ai(request)
    entries = ai.catalog.search(task=q.get("task"), search=q.get("search"), author=q.get("author"))
    chunk = entries[(page - 1) * per_page : page * per_page]
    return ok([e.as_json() for e in chunk],
              result_info={"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(entries)})


@router.get("/models/schema")
async def model_schema(request: Request, account_id: str) -> JSONResponse:
    name = request.query_params.get("model")
    if not name:
        raise InvalidRequest("`model` is required, e.g. ?model=@cf/baai/bge-small-en-v1.5")
    entry = _ai(request).entry(name)
    return ok({"input": entry.task.input_schema, "output": entry.task.output_schema})


# ---- OpenAI-compatible ------------------------------------------------------------------------------
def openai_error_response(exc: KumoError) -> JSONResponse:
    """OpenAI's error object: what `/ai/v1` answers for every error, as OpenAI's SDKs read it."""
    return JSONResponse(openai_error(exc.status, exc.message, exc.code), status_code=exc.status)


def anthropic_error_response(exc: KumoError) -> JSONResponse:
    """Anthropic's error object: what `/ai/v1/messages` answers, as Anthropic's SDKs read it."""
    return JSONResponse(anthropic_error(exc.status, exc.message), status_code=exc.status)


async def _openai_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidRequest("the body must be a JSON object with a `model`, e.g. @cf/meta/llama-3.1-8b-instruct")
    return body


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, account_id: str) -> Response:
    try:
        body = await _openai_body(request)
        served, answer = await _chat(_ai(request), body)
        if isinstance(answer, _ChatStream):
            return sse_response(answer.events, headers=answers.model_headers(served), transform=answer.chunks.chunks)
        return JSONResponse(answer, headers=answers.model_headers(served))
    except KumoError as exc:
        return openai_error_response(exc)


class _ChatStream(NamedTuple):
    events: AsyncIterator[dict[str, Any]]
    chunks: openai_compat.ChunkWriter  # turns the events into chat.completion.chunk objects


async def _chat(ai: AiService, body: dict[str, Any]) -> tuple[str, dict[str, Any] | _ChatStream]:
    """An OpenAI chat request run here: (the model that served it, the chat completion or the stream)."""
    inputs = openai_compat.chat_request_to_input(body)
    max_tokens = inputs.get("max_tokens", 256)
    usage = openai_compat.include_usage(body)  # checked on every request: a wrong type is a 400 either way
    if openai_compat.stream_flag(body):
        served, events = await ai.stream(body["model"], inputs)
        return served, _ChatStream(events, openai_compat.ChunkWriter(body["model"], usage, max_tokens))
    inputs.pop("stream", None)
    result = await ai.run(body["model"], inputs)
    return result.model, openai_compat.chat_completion(body["model"], result.output.result, max_tokens)


async def _as_chat(ai: AiService, chat: dict[str, Any], from_chat: Callable[[dict[str, Any]], dict[str, Any]],
                   writer: StreamTranslator) -> Response:
    """Another API's request (Messages, Responses) translated to chat, run here, the answer translated back."""
    unknown = sorted(set(chat) - openai_compat.CHAT_KEYS)
    if unknown:
        raise InvalidRequest(f"`{unknown[0]}` has no Workers AI equivalent for {chat.get('model')}")
    served, answer = await _chat(ai, chat)
    if not isinstance(answer, _ChatStream):
        return JSONResponse(from_chat(answer), headers=answers.model_headers(served))
    events, chunks = answer

    def transform(event: Any) -> list[NamedEvent]:
        return [NamedEvent(kind, data) for chunk in chunks.chunks(event) for kind, data in writer.feed(chunk)]
    return sse_response(events, headers=answers.model_headers(served), transform=transform, done=False)


@router.post("/v1/responses")
async def responses_api(request: Request, account_id: str) -> Response:
    """OpenAI's Responses API for Workers AI models (third-party ids and `cf-aig-gateway-id` are the gateway's)."""
    try:
        body = await _openai_body(request)
        model = body["model"]
        return await _as_chat(_ai(request), responses.to_chat(body), lambda a: responses.from_chat(a, model, body),
                              responses.ResponsesStream(model, body))
    except KumoError as exc:
        return openai_error_response(exc)


@router.post("/v1/messages")
@router.post("/v1/v1/messages")  # the Anthropic SDK's path under the base URL Cloudflare's docs give it
async def messages_api(request: Request, account_id: str) -> Response:
    """Anthropic's Messages API for Workers AI models (third-party ids and `cf-aig-gateway-id` are the gateway's)."""
    try:
        body = await _openai_body(request)
        model = body["model"]
        return await _as_chat(_ai(request), messages.to_chat(body), lambda a: messages.from_chat(a, model),
                              messages.MessagesStream(model))
    except KumoError as exc:
        return anthropic_error_response(exc)


@router.post("/v1/embeddings")
async def embeddings(request: Request, account_id: str) -> Response:
    try:
        body = await _openai_body(request)
        inputs, encoding = openai_compat.embeddings_request_to_input(body)
        result = await _ai(request).run(body["model"], inputs)
        payload = openai_compat.embeddings_response(body["model"], result.output.result, result.output.usage, encoding)
        return JSONResponse(payload, headers=answers.model_headers(result.model))
    except KumoError as exc:
        return openai_error_response(exc)
