"""Anthropic Messages API: `x-api-key` auth, usage in `usage` (and `message_start`/`message_delta` events); on
/compat, OpenAI chat requests are translated to Messages and the answers (streams included) back."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, sse_payloads
from kumo.errors import InvalidRequest
from kumo.api.message_content import content_text
from kumo.gateway.providers.chat import Translation, bearer_token, tool_arguments


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    usage = body.get("usage") or {}
    cached = int(usage.get("cache_read_input_tokens", 0) or 0)
    created = int(usage.get("cache_creation_input_tokens", 0) or 0)
    return Usage(tokens_in=int(usage.get("input_tokens", 0) or 0) + cached + created,
                 tokens_out=int(usage.get("output_tokens", 0) or 0), cached_in=cached, model=body.get("model"))


def usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for event in sse_payloads(text):
        if not isinstance(event, dict):
            continue
        if event.get("type") == "message_start":
            usage = usage.merge(usage_from_json(event.get("message") or {}))
        elif event.get("type") == "message_delta":
            out = (event.get("usage") or {}).get("output_tokens")
            if out is not None:
                usage = usage.merge(Usage(tokens_out=int(out)))
    return usage


def stream_complete(text: str, request: Any = None) -> bool:
    """`message_stop`, or a clean end after the `message_delta` that carries the stop reason and the usage."""
    if "message_stop" in text:
        return True
    return any(isinstance(p, dict) and p.get("type") == "message_delta" and (p.get("delta") or {}).get("stop_reason")
               for p in sse_payloads(text))


def continue_answer(body: dict[str, Any], text: str) -> dict[str, Any]:
    """Anthropic continues a last assistant message as its own answer (a prefill). It refuses one that ends in
    white space, so that is left off: the answer resumes with it."""
    return {**body, "messages": [*(body.get("messages") or []), {"role": "assistant", "content": text.rstrip()}]}


# ---- /compat: OpenAI chat <-> Messages ----------------------------------------------------------------
def to_chat(provider: Provider, model: str, body: dict[str, Any], headers: dict[str, str], stream: bool) -> Translation:
    """An OpenAI chat request as a Messages API request (the compat endpoint)."""
    system, messages = [], []
    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(content_text(m.get("content")))
        elif role == "tool":
            messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                                                          "content": content_text(m.get("content"))}]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": content_text(m.get("content"))})
            calls = m["tool_calls"]
            if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function") or {}, dict)
                                                      for c in calls):
                raise InvalidRequest("`tool_calls` must be an array of {id, type, function: {name, arguments}}")
            for call in calls:
                fn = call.get("function") or {}
                blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                               "input": tool_arguments(fn.get("arguments"))})
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": role, "content": content_text(m.get("content"))})
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
    key = bearer_token(headers)
    if key and "x-api-key" not in headers:
        extra["x-api-key"] = key
    state = _AnthropicStream(f"{provider.slug}/{model}")
    return Translation(provider, model, "v1/messages", out, extra, stream,
                       response=lambda r: _from_anthropic(r, f"{provider.slug}/{model}"),
                       stream_events=state.chunks)


_ANTHROPIC_FINISH: dict[str | None, str] = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


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


PROVIDER = Provider(
    slug="anthropic",
    base_url="https://api.anthropic.com",
    credential_headers=("x-api-key", "authorization"),
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    stream_complete=stream_complete,
    chat_path="v1/messages",
    chat=to_chat,
    chat_format="anthropic",
    continue_answer=continue_answer,
    answer_headers=("anthropic-version", "anthropic-beta"),
    prices={
        "claude-opus-4": Price(15.0, 75.0, 1.50),
        "claude-sonnet-4": Price(3.0, 15.0, 0.30),
        "claude-3-7-sonnet": Price(3.0, 15.0, 0.30),
        "claude-3-5-sonnet": Price(3.0, 15.0, 0.30),
        "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
        "claude-haiku-4-5": Price(1.0, 5.0, 0.10),
        "claude-3-haiku": Price(0.25, 1.25, 0.03),
        "claude-3-opus": Price(15.0, 75.0, 1.50),
    },
)
