"""Google AI Studio (Gemini API): `x-goog-api-key`, model in the path (`models/{model}:generateContent`),
usage in `usageMetadata`; streaming via `:streamGenerateContent?alt=sse`. On /compat, OpenAI chat requests are
translated to generateContent and the answers (streams included) back."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, sse_payloads
from kumo.api.message_content import content_text
from kumo.gateway.providers.chat import Translation, bearer_token

_MODEL_IN_PATH = re.compile(r"models/([^/:]+)")


def model_of(path: str, body: Any) -> str | None:
    match = _MODEL_IN_PATH.search(path)
    return match.group(1) if match else None


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    meta = body.get("usageMetadata") or {}
    return Usage(
        tokens_in=int(meta.get("promptTokenCount", 0) or 0),
        tokens_out=int(meta.get("candidatesTokenCount", 0) or 0) + int(meta.get("thoughtsTokenCount", 0) or 0),
        cached_in=int(meta.get("cachedContentTokenCount", 0) or 0),
        reasoning=int(meta.get("thoughtsTokenCount", 0) or 0),
        model=body.get("modelVersion"),
    )


def usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for payload in sse_payloads(text):
        usage = usage.merge(usage_from_json(payload))
    return usage


def stream_complete(text: str, request: Any = None) -> bool:
    return '"finishReason"' in text


# ---- /compat: OpenAI chat <-> generateContent ---------------------------------------------------------
def to_chat(provider: Provider, model: str, body: dict[str, Any], headers: dict[str, str], stream: bool) -> Translation:
    """An OpenAI chat request as a generateContent request (the compat endpoint)."""
    contents, system = [], []
    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(content_text(m.get("content")))
            continue
        contents.append({"role": "model" if role == "assistant" else "user",
                         "parts": [{"text": content_text(m.get("content"))}]})
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
    key = bearer_token(headers)
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


PROVIDER = Provider(
    slug="google-ai-studio",
    base_url="https://generativelanguage.googleapis.com",
    credential_headers=("x-goog-api-key", "authorization"),
    credential_query=("key",),
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    stream_complete=stream_complete,
    model_of=model_of,
    chat_path="v1beta/models/{model}:generateContent",
    chat=to_chat,
    chat_format="google",  # no dialect reads it: a broken Gemini stream is not continued
    prices={
        "gemini-2.5-pro": Price(1.25, 10.0, 0.31),
        "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
        "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.025),
        "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
        "gemini-1.5-pro": Price(1.25, 5.0),
        "gemini-1.5-flash": Price(0.075, 0.30),
    },
)
