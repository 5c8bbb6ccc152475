"""Cohere: `Authorization: Bearer|Token`, usage in `meta.billed_units` (v1) or `usage.billed_units` (v2); a v2 chat
stream ends with a `message-end` event that carries the usage (no `[DONE]`). `compatibility/v1/...` is OpenAI's
format."""

from __future__ import annotations

from typing import Any

from kumo.gateway.providers.base import (
    Price,
    Provider,
    Usage,
    openai_stream_complete,
    openai_usage_from_json,
    openai_usage_from_stream,
    sse_payloads,
)


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    units = (body.get("meta") or {}).get("billed_units") or (body.get("usage") or {}).get("billed_units")
    if units:
        return Usage(tokens_in=int(units.get("input_tokens", 0) or 0), tokens_out=int(units.get("output_tokens", 0) or 0))
    return openai_usage_from_json(body)


def usage_from_stream(text: str) -> Usage:
    for event in sse_payloads(text):
        if isinstance(event, dict) and event.get("type") == "message-end":
            return usage_from_json(event.get("delta") or {})
    return openai_usage_from_stream(text)


def stream_complete(text: str, request: Any = None) -> bool:
    return '"message-end"' in text or openai_stream_complete(text, request)


PROVIDER = Provider(
    slug="cohere",
    base_url="https://api.cohere.ai",
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    stream_complete=stream_complete,
    chat_path="compatibility/v1/chat/completions",
    prices={"command-r-plus": Price(2.50, 10.0), "command-r": Price(0.15, 0.60), "command-a": Price(2.50, 10.0)},
)
