"""Google AI Studio (Gemini API): `x-goog-api-key`, model in the path (`models/{model}:generateContent`),
usage in `usageMetadata`; streaming via `:streamGenerateContent?alt=sse`."""

from __future__ import annotations

import re
from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, sse_payloads

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


def stream_complete(text: str) -> bool:
    return '"finishReason"' in text


PROVIDER = Provider(
    slug="google-ai-studio",
    base_url="https://generativelanguage.googleapis.com",
    credential_headers=("x-goog-api-key", "authorization"),
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    stream_complete=stream_complete,
    model_of=model_of,
    chat_path="v1beta/models/{model}:generateContent",
    compat_format="google",
    prices={
        "gemini-2.5-pro": Price(1.25, 10.0, 0.31),
        "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
        "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.025),
        "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
        "gemini-1.5-pro": Price(1.25, 5.0),
        "gemini-1.5-flash": Price(0.075, 0.30),
    },
)
