"""`/compat/chat/completions`: one OpenAI-format API in front of every provider. Requests are translated
to the provider's own format (OpenAI-style providers need only the model name changed; Anthropic and Google
are translated both ways, streams included) and answers come back as OpenAI chat completions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Callable

from kumo.api.body import JsonRefused, loads
from kumo.errors import InvalidRequest
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.providers.base import Provider


@dataclass
class Translation:
    provider: Provider
    model: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    response: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # provider JSON -> OpenAI JSON
    stream_events: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None  # provider event -> chunks


def split_model(model: Any) -> tuple[Provider, str]:
    if not isinstance(model, str) or "/" not in model:
        raise InvalidRequest('`model` must be "{provider}/{model}", e.g. "openai/gpt-4o-mini"')
    prefix, name = model.split("/", 1)
    for provider in PROVIDERS.values():
        if prefix in (provider.slug, provider.compat_prefix):
            if provider.chat_path is None:
                raise InvalidRequest(f"{provider.slug} is not available on /compat; use /{provider.slug}/...")
            return provider, name
    raise InvalidRequest(f"unknown provider {prefix!r} in `model`")


def translate(body: dict[str, Any], headers: dict[str, str]) -> Translation:
    provider, model = split_model(body.get("model"))
    stream = bool(body.get("stream"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                  for m in messages):
        raise InvalidRequest("`messages` must be an array of {role, content}")
    try:
        if provider.compat_format == "anthropic":
            return _to_anthropic(provider, model, body, headers, stream)
        if provider.compat_format == "google":
            return _to_google(provider, model, body, headers, stream)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"this chat request cannot be translated for {provider.slug}: {exc!r}") from None
    return Translation(provider, model, provider.chat_path or "chat/completions", {**body, "model": model},
                       stream=stream)


# ---- Anthropic ---------------------------------------------------------------------------------------
def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _to_anthropic(provider, model, body, headers, stream) -> Translation:
    system, messages = [], []
    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role == "tool":
            messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                                                          "content": _text(m.get("content"))}]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": _text(m.get("content"))}] if m.get("content") else []
            calls = m["tool_calls"]
            if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function") or {}, dict)
                                                      for c in calls):
                raise InvalidRequest("`tool_calls` must be an array of {id, type, function: {name, arguments}}")
            for call in calls:
                fn = call.get("function") or {}
                blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                               "input": _arguments(fn.get("arguments"))})
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": role, "content": _text(m.get("content"))})
    out: dict[str, Any] = {"model": model, "messages": messages,
                           "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or 1024}
    if system:
        out["system"] = "\n\n".join(system)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    if body.get("stop"):
        out["stop_sequences"] = body["stop"] if isinstance(body["stop"], list) else [body["stop"]]
    if body.get("tools"):
        out["tools"] = [{"name": t["function"]["name"], "description": t["function"].get("description", ""),
                         "input_schema": t["function"].get("parameters") or {"type": "object"}}
                        for t in body["tools"] if t.get("type") == "function"]
    if stream:
        out["stream"] = True
    extra = {"anthropic-version": headers.get("anthropic-version", "2023-06-01")}
    key = _bearer(headers)
    if key and "x-api-key" not in headers:
        extra["x-api-key"] = key
    state = _AnthropicStream(f"{provider.slug}/{model}")
    return Translation(provider, model, "v1/messages", out, extra, stream,
                       response=lambda r: _from_anthropic(r, f"{provider.slug}/{model}"),
                       stream_events=state.chunks)


_ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _from_anthropic(r: dict[str, Any], model: str) -> dict[str, Any]:
    text = "".join(b.get("text", "") for b in r.get("content") or [] if b.get("type") == "text")
    calls = [{"id": b.get("id"), "type": "function",
              "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input") or {})}}
             for b in r.get("content") or [] if b.get("type") == "tool_use"]
    usage = r.get("usage") or {}
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    tin, tout = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {"id": r.get("id") or "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _ANTHROPIC_FINISH.get(r.get("stop_reason"), "stop")}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}


class _AnthropicStream:
    def __init__(self, model: str):
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.tokens_in = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            self.tokens_in = ((event.get("message") or {}).get("usage") or {}).get("input_tokens", 0)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
        if kind == "message_delta":
            out_tokens = (event.get("usage") or {}).get("output_tokens", 0)
            finish = _ANTHROPIC_FINISH.get((event.get("delta") or {}).get("stop_reason"), "stop")
            last = self._chunk({}, finish)
            last["usage"] = {"prompt_tokens": self.tokens_in, "completion_tokens": out_tokens,
                             "total_tokens": self.tokens_in + out_tokens}
            return [last]
        return []


# ---- Google AI Studio ----------------------------------------------------------------------------------
def _to_google(provider, model, body, headers, stream) -> Translation:
    contents, system = [], []
    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
            continue
        contents.append({"role": "model" if role == "assistant" else "user", "parts": [{"text": _text(m.get("content"))}]})
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = {}
    for ours, theirs in (("max_tokens", "maxOutputTokens"), ("max_completion_tokens", "maxOutputTokens"),
                         ("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if body.get("stop"):
        config["stopSequences"] = body["stop"] if isinstance(body["stop"], list) else [body["stop"]]
    if config:
        out["generationConfig"] = config
    path = f"v1beta/models/{model}:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")
    extra = {}
    key = _bearer(headers)
    if key and "x-goog-api-key" not in headers:
        extra["x-goog-api-key"] = key
    name = f"{provider.slug}/{model}"
    state = _GoogleStream(name)
    return Translation(provider, model, path, out, extra, stream, response=lambda r: _from_google(r, name),
                       stream_events=state.chunks)


_GOOGLE_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


def _from_google(r: dict[str, Any], model: str) -> dict[str, Any]:
    candidate = (r.get("candidates") or [{}])[0]
    text = "".join(p.get("text", "") for p in (candidate.get("content") or {}).get("parts") or [])
    meta = r.get("usageMetadata") or {}
    tin, tout = meta.get("promptTokenCount", 0), meta.get("candidatesTokenCount", 0)
    return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "logprobs": None,
                                         "finish_reason": _GOOGLE_FINISH.get(candidate.get("finishReason"), "stop")}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}


class _GoogleStream:
    def __init__(self, model: str):
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.started = False

    def chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        candidate = (event.get("candidates") or [{}])[0]
        text = "".join(p.get("text", "") for p in (candidate.get("content") or {}).get("parts") or [])
        delta: dict[str, Any] = {"content": text}
        if not self.started:
            delta["role"] = "assistant"
            self.started = True
        finish = _GOOGLE_FINISH.get(candidate.get("finishReason")) if candidate.get("finishReason") else None
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        meta = event.get("usageMetadata")
        if finish and meta:
            tin, tout = meta.get("promptTokenCount", 0), meta.get("candidatesTokenCount", 0)
            chunk["usage"] = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}
        return [chunk]


async def translate_sse(upstream: AsyncIterator[bytes], to_chunks: Callable[[dict], list[dict]]) -> AsyncIterator[bytes]:
    """Provider SSE bytes -> OpenAI chunk SSE bytes, ending with `data: [DONE]`."""
    buffer = b""
    async for data in upstream:
        buffer = (buffer + data).replace(b"\r\n", b"\n")  # Google separates events with CRLF
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            for line in raw.decode("utf-8", "replace").splitlines():
                if line.startswith("data:"):
                    payload = line[5:].strip()
                    if not payload or payload == "[DONE]":
                        continue
                    try:
                        event = json.loads(payload)
                    except json.JSONDecodeError:
                        continue
                    for chunk in to_chunks(event):
                        yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def _arguments(arguments: Any) -> Any:
    """A tool call's `arguments`: JSON text (OpenAI's form) or already an object."""
    if not isinstance(arguments, str):
        return arguments or {}
    try:
        return loads(arguments or "{}")
    except JsonRefused as exc:
        raise InvalidRequest(f"a tool call's `arguments` must be JSON: {exc.reason}") from None
